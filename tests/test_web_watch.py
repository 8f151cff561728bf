"""Alarms the dashboard reads in the status document: each raised once per incident, then resolved once."""

from __future__ import annotations

from typing import Any

from desk.config import AlertsConfig
from desk.watch import StatusWatch


def hedge(paused: bool = False, net: float = 0.0, unanswered: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "market": "btc/usd",
        "paused": paused,
        "pause_reason": "hedge of T3 failed" if paused else "",
        "failed": ["T3"] if paused else [],
        "net_exposure": net,
        "unanswered": list(unanswered),
    }


def status(**parts: Any) -> dict[str, Any]:
    return {"actors": [], "chains": [], "tasks": [], "transfers": {}, **parts}


def keys(alerts: list[Any]) -> list[tuple[str, bool]]:
    return [(a.key, a.resolved) for a in alerts]


def test_a_paused_hedge_pair_is_one_incident_until_it_resumes() -> None:
    watch = StatusWatch()
    first = watch.check(status(hedge=hedge(paused=True)), 0.0)
    assert keys(first) == [("hedge:paused", False)] and "hedge of T3 failed" in first[0].text
    assert watch.check(status(hedge=hedge(paused=True)), 1.0) == []
    assert keys(watch.check(status(hedge=hedge()), 2.0)) == [("hedge:paused", True)]


def test_exposure_is_alerted_only_when_it_lasts_past_the_limit() -> None:
    watch = StatusWatch(AlertsConfig(exposure_after=30.0))
    assert watch.check(status(hedge=hedge(net=0.01, unanswered=("T1",))), 0.0) == []
    assert watch.check(status(hedge=hedge(net=0.01, unanswered=("T1",))), 29.0) == []
    raised = watch.check(status(hedge=hedge(net=0.01, unanswered=("T1",))), 31.0)
    assert keys(raised) == [("hedge:unhedged", False)] and "+0.010000" in raised[0].text
    assert keys(watch.check(status(hedge=hedge()), 32.0)) == [("hedge:unhedged", True)]
    assert watch.check(status(hedge=hedge(net=0.01)), 40.0) == []  # a new exposure starts its own clock


def test_a_chain_stuck_on_a_hop_past_the_limit_and_transfers_in_doubt_are_alerted() -> None:
    watch = StatusWatch(AlertsConfig(stuck_after=60.0))
    chain = {
        "chain_id": "c1",
        "status": "in_flight",
        "hop": 1,
        "hop_elapsed": 61.0,
        "usual_delay": 2.0,
        "where": "on its way kraken.main -> mexc.main",
    }
    alerts = watch.check(status(chains=[chain], transfers={"in_doubt": 1}), 0.0)
    assert keys(alerts) == [("chain:c1:stuck", False), ("transfers:in_doubt", False)]
    done = {**chain, "status": "completed"}
    assert keys(watch.check(status(chains=[done]), 1.0)) == [("chain:c1:stuck", True), ("transfers:in_doubt", True)]


def test_an_escalation_and_an_actor_not_answering_health_checks_are_critical() -> None:
    watch = StatusWatch()
    actors = [{"name": "chains", "state": "stopped", "restarts": 5, "last_error": "venue down"}]
    health = {"actors": [{"name": "prices", "alive": False, "missed": 2}]}
    alerts = watch.check(status(actors=actors, health=health), 0.0)
    assert keys(alerts) == [("supervisor:chains", False), ("health:prices", False)]
    assert all(a.severity == "critical" for a in alerts) and "venue down" in alerts[0].text
