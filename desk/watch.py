"""Alarms read from the status document, for what no single actor can see (bookkeeping only, no I/O).

`StatusWatch.check(status, now)` returns the `Alert`s to raise or resolve since the last check:
an actor stopped for good or down across two checks (a supervisor escalation), an actor not
answering health checks (a venue or actor down), the hedge pair paused, fills unhedged or
unconfirmed for too long, a chain stuck on a hop, transfers in doubt.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from desk.config import AlertsConfig
from messages.alerts import Alert, AlertSeverity

__all__ = ["StatusWatch"]

WARNING, CRITICAL = AlertSeverity.WARNING, AlertSeverity.CRITICAL


class StatusWatch:
    """Remembers which incidents are open, so each is raised once and resolved once."""

    def __init__(self, config: AlertsConfig | None = None, source: str = "watch") -> None:
        self.config = config or AlertsConfig()
        self.source = source
        self.open: dict[str, str] = {}  # incident key -> the text it was raised with
        self._down_checks: dict[str, int] = {}
        self._exposed_since: float | None = None

    def check(self, status: dict[str, Any], now: float) -> list[Alert]:
        """The alerts this status causes: new incidents, and resolutions of those that ended."""
        wanted: dict[str, tuple[str, AlertSeverity]] = {}
        self._actors(status, wanted)
        self._hedge(status.get("hedge"), now, wanted)
        for chain in status.get("chains", []):
            limit = max(self.config.stuck_after, 3 * (chain.get("usual_delay") or 0.0))
            if chain["status"] in ("submitted", "in_flight") and chain.get("hop_elapsed", 0.0) > limit:
                text = (
                    f"chain {chain['chain_id']} has been on hop {chain['hop']} ({chain.get('where', '')}) for "
                    f"{chain['hop_elapsed']:.0f}s, past {limit:.0f}s"
                )
                wanted[f"chain:{chain['chain_id']}:stuck"] = (text, CRITICAL)
        for task in status.get("tasks", []):
            if task.get("age", 0.0) > self.config.stuck_after:
                text = (
                    f"transfer task {task['amount']} {task['currency']} {task['from']} -> {task['to']} pending "
                    f"for {task['age']:.0f}s"
                )
                wanted[f"task:{task['from']}->{task['to']}:{task['currency']}:stuck"] = (text, WARNING)
        in_doubt = (status.get("transfers") or {}).get("in_doubt", 0)
        if in_doubt:
            wanted["transfers:in_doubt"] = (
                f"{in_doubt} transfer(s) in doubt: the outcome is being asked at the venue",
                WARNING,
            )
        return self._diff(wanted, now)

    def _actors(self, status: dict[str, Any], wanted: dict[str, tuple[str, AlertSeverity]]) -> None:
        for actor in status.get("actors", []):
            name, state = actor["name"], actor["state"]
            self._down_checks[name] = self._down_checks.get(name, 0) + 1 if state == "down" else 0
            if state == "stopped" or self._down_checks[name] >= 2:
                why = f" (last error: {actor['last_error']})" if actor.get("last_error") else ""
                wanted[f"supervisor:{name}"] = (f"{name} is {state} after {actor['restarts']} restarts{why}", CRITICAL)
        health = status.get("health") or {}
        for actor in health.get("actors", []):
            if not actor["alive"] and actor.get("missed", 0) >= 2:
                wanted[f"health:{actor['name']}"] = (
                    f"{actor['name']} did not answer {actor['missed']} health checks in a row",
                    CRITICAL,
                )

    def _hedge(self, hedge: dict[str, Any] | None, now: float, wanted: dict[str, tuple[str, AlertSeverity]]) -> None:
        if not hedge:
            return
        if hedge["paused"]:
            text = (
                f"hedge pair {hedge['market']} paused: {hedge['pause_reason']}; failed fills "
                f"{hedge['failed'] or 'none'}; net exposure {hedge['net_exposure']:+.6f}"
            )
            wanted["hedge:paused"] = (text, CRITICAL)
        exposed = abs(hedge["net_exposure"]) > 1e-12 or bool(hedge["unanswered"])
        if not exposed:
            self._exposed_since = None
            return
        self._exposed_since = self._exposed_since if self._exposed_since is not None else now
        waited = now - self._exposed_since
        if waited > self.config.exposure_after:
            text = (
                f"hedge pair {hedge['market']}: net exposure {hedge['net_exposure']:+.6f}, "
                f"{len(hedge['unanswered'])} fill(s) unconfirmed by B, for {waited:.0f}s"
            )
            wanted["hedge:unhedged"] = (text, CRITICAL)

    def _diff(self, wanted: dict[str, tuple[str, AlertSeverity]], now: float) -> list[Alert]:
        alerts = [
            Alert(key=key, text=text, source=self.source, severity=severity, at=now)
            for key, (text, severity) in wanted.items()
            if key not in self.open
        ]
        ended: Iterable[str] = [key for key in self.open if key not in wanted]
        alerts += [
            Alert(key=key, text=f"back to normal (was: {self.open[key]})", source=self.source, resolved=True, at=now)
            for key in ended
        ]
        for key in ended:
            del self.open[key]
        self.open.update({key: text for key, (text, _) in wanted.items() if key not in self.open})
        return alerts
