"""The dashboard's sampler and the terminal view, on a scripted system (no runtime): what they record and say."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import msgspec

from actors.stores.journal import Journal
from desk.config import parse_config
from desk.history import HistoryStore
from desk.metrics import DeskMetrics
from desk.terminal import StatusView
from desk.watch import StatusWatch
from desk.web.sampler import Sampler
from desk.web.snapshot import Snapshots
from messages.alerts import Alert
from messages.balances import Balances, BalanceView, GetBalances
from messages.base import Message
from messages.common import Currencies, Exchanges
from messages.hedge import HedgeLatency, HedgeReport, HedgeStatus, LegReport
from messages.system import ActorStatus, DeadLetter

DEPLOYMENT = parse_config({"accounts": [{"exchange": "kraken", "account": "trade"}], "gateway": {"strategies": {}}})


def leg(name: str, position: float) -> LegReport:
    return LegReport(
        name=name,
        account=f"kraken.{name}",
        position=position,
        average_price=None,
        realised_pnl=0.0,
        unrealised_pnl=0.0,
        fees=0.0,
    )


def report(a: float, b: float, done: int, waiting_since: float | None) -> HedgeReport:
    return HedgeReport(
        market="btc/usd",
        a=leg("hedge_a", a),
        b=leg("hedge_b", b),
        net_exposure=a + b,
        paused=False,
        pause_reason="",
        unanswered=["T1"] if waiting_since else [],
        waiting_since=waiting_since,
        failed=[],
        open_order=None,
        hedges_done=done,
        hedges_failed=0,
        timeouts=0,
        realised_pnl=0.0,
        unrealised_pnl=0.0,
        mark_price=100.0,
    )


class Scripted:
    """A `Source` whose answers the test sets: ``hedge``, ``states``; tells are kept in ``told``."""

    def __init__(self) -> None:
        self.names = ["gateway", "alerts", "hedge_a"]
        self.hedge = report(0.0, 0.0, 0, None)
        self.states = {"gateway": "running", "alerts": "running", "hedge_a": "running"}
        self.told: list[tuple[str, Message]] = []
        self.slots = (100.0, 60.0, 40.0)

    def ask(self, name: str, message: Message, timeout: float = 2.0) -> Any:
        if isinstance(message, GetBalances):
            return Balances([BalanceView(Exchanges.KRAKEN, "trade", Currencies.USD, self.slots)])
        if isinstance(message, HedgeStatus):
            return self.hedge
        raise LookupError(f"{name} does not answer {type(message).__name__} here")

    def tell(self, name: str, message: Message) -> None:
        self.told.append((name, message))

    def actors(self) -> list[ActorStatus]:
        return [
            ActorStatus(name=n, state=s, restarts=2 if s != "running" else 0, mailbox=0, last_error=None)
            for n, s in self.states.items()
        ]

    def dead_letters(self) -> list[DeadLetter]:
        return [DeadLetter(recipient="tasks", reason="no handler", message_type="Ping")]

    def dead_letter_count(self) -> int:
        return 1

    def venue_errors(self) -> dict[str, int]:
        return {"VenueTimeout": 2}


def make_sampler(tmp_path: Path, source: Scripted, clock: list[float]) -> Sampler:
    path = tmp_path / "journal.sqlite"
    return Sampler(
        Snapshots(source, DEPLOYMENT),
        HistoryStore(path),
        DeskMetrics(),
        Journal(path),
        now=lambda: clock[0],
        refresh=60.0,
        watch=StatusWatch(),
    )


def test_a_finished_hedge_records_its_latency_and_the_fills_of_both_legs(tmp_path: Path) -> None:
    source, clock = Scripted(), [1000.0]
    sampler = make_sampler(tmp_path, source, clock)
    source.hedge = report(0.01, 0.0, 0, waiting_since=999.0)
    sampler.sample()
    clock[0] = 1003.0
    source.hedge = report(0.01, -0.01, 1, waiting_since=None)
    sampler.sample()
    hedges = sampler.history.hedges()
    assert [h["latency"] for h in hedges] == [None, 4.0]
    assert [(f["leg"], f["quantity"]) for f in sampler.history.fills()] == [("hedge_b", -0.01)]
    samples = {s.name: s.value for s in next(iter(sampler.metrics.hedge_latency.collect())).samples}
    assert samples["treasury_hedge_latency_seconds_sum"] == 4.0
    assert samples["treasury_hedge_latency_seconds_count"] == 1
    status = sampler.latest
    assert status is not None and status["slots"][0]["slots"][1] == {"index": 1, "name": "pool", "amount": 60.0}
    assert status["dead_letter_list"][0]["recipient"] == "tasks"


def test_hedges_a_reports_are_each_observed_once_with_their_exact_latency(tmp_path: Path) -> None:
    source, clock = Scripted(), [1000.0]
    sampler = make_sampler(tmp_path, source, clock)
    done_before = HedgeLatency("T0", 990.0, 9.0)  # finished before the dashboard started: not observed
    source.hedge = msgspec.structs.replace(report(0.0, 0.0, 1, None), latencies=(done_before,))
    sampler.sample()
    clock[0] = 1060.0  # two hedges finished between two samples: both counted, each exactly
    quick, slow = HedgeLatency("T1", 1001.0, 0.002), HedgeLatency("T2", 1030.0, 0.5)
    source.hedge = msgspec.structs.replace(report(0.0, 0.0, 3, None), latencies=(done_before, quick, slow))
    sampler.sample()
    sampler.sample()  # the same report again: nothing new
    samples = {s.name: s.value for s in next(iter(sampler.metrics.hedge_latency.collect())).samples}
    assert samples["treasury_hedge_latency_seconds_count"] == 2
    assert samples["treasury_hedge_latency_seconds_sum"] == 0.502


def test_an_actor_stopped_for_good_is_alerted_once_and_resolved_when_it_runs_again(tmp_path: Path) -> None:
    source, clock = Scripted(), [1000.0]
    sampler = make_sampler(tmp_path, source, clock)
    source.states["hedge_a"] = "stopped"
    sampler.sample()
    sampler.sample()
    source.states["hedge_a"] = "running"
    sampler.sample()
    alerts = [m for name, m in source.told if name == "alerts"]
    assert all(isinstance(m, Alert) for m in alerts)
    assert [(m.key, m.resolved) for m in alerts] == [("supervisor:hedge_a", False), ("supervisor:hedge_a", True)]  # type: ignore[attr-defined]


def test_a_restart_in_progress_is_not_an_incident_but_an_actor_down_across_two_samples_is(tmp_path: Path) -> None:
    source, clock = Scripted(), [1000.0]
    sampler = make_sampler(tmp_path, source, clock)
    source.states["gateway"] = "down"
    sampler.sample()
    assert source.told == []
    sampler.sample()
    assert [m.key for _, m in source.told] == ["supervisor:gateway"]  # type: ignore[attr-defined]


def test_the_terminal_view_is_plain_lines_off_a_terminal_and_tables_on_one(tmp_path: Path) -> None:
    source, clock = Scripted(), [1000.0]
    status = make_sampler(tmp_path, source, clock).sample()
    plain = io.StringIO()
    StatusView(plain).show(status, 3.0)
    assert plain.getvalue().startswith("[   3.0s] actors 3/3 running")
    screen = io.StringIO()
    view = StatusView(screen, live=True)
    view.show(status, 3.0)
    view.close()
    text = screen.getvalue()
    assert "kraken.trade" in text and "net exposure" in text and "│" in text
    assert msgspec.json.encode(status)  # the document the page and the API get is plain JSON


def test_history_keeps_a_change_at_most_every_few_seconds_and_a_steady_value_rarely(tmp_path: Path) -> None:
    source, clock = Scripted(), [1000.0]
    sampler = make_sampler(tmp_path, source, clock)  # history every 5 s, unchanged every 300 s
    for t, slots in (
        (1000, (100.0, 60.0, 40.0)),
        (1001, (100.0, 60.0, 40.0)),
        (1003, (100.0, 50.0, 50.0)),
        (1006, (100.0, 50.0, 50.0)),
        (1200, (100.0, 50.0, 50.0)),
        (1306, (100.0, 50.0, 50.0)),
    ):
        clock[0], source.slots = float(t), slots
        sampler.sample()
    assert [at for at, _ in sampler.history.balances()["kraken.trade usd"]] == [1000.0, 1006.0, 1306.0]
