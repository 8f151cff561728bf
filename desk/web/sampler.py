"""The dashboard's sampler thread: every ``refresh`` seconds a status document, recorded and published.

Each sample goes into the history (balances, prices, hedge, fills, transfers from the journal),
updates the metrics, raises or resolves the supervision alerts no actor can raise itself (an actor
not running), runs the retention job when due, and wakes the server-sent-event streams.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from loguru import logger

from desk.history import HistoryStore, RetentionSchedule
from desk.metrics import DeskMetrics
from desk.web.snapshot import Snapshots
from messages.alerts import ALERTS_ACTOR, Alert, AlertSeverity
from supervisor.journal import INTENT_STATUSES, Journal

__all__ = ["Sampler"]

log = logger.bind(actor="web")


class Sampler:
    """Samples a running system; `latest` is the last document, `wait_newer` blocks for the next one."""

    def __init__(self, snapshots: Snapshots, history: HistoryStore, metrics: DeskMetrics, journal: Journal,
                 now: Callable[[], float], refresh: float = 1.0, timezone: str = "UTC") -> None:
        self.snapshots = snapshots
        self.history = history
        self.metrics = metrics
        self.journal = journal
        self.now = now
        self.refresh = refresh
        self.retention = RetentionSchedule(history.config.prune_cron, timezone, now())
        self.latest: dict[str, Any] | None = None
        self.version = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-sampler", daemon=True)
        self._transfers: dict[str, str] = {}  # client id -> last status seen
        self._transfers_since = 0.0
        self._chains: dict[str, tuple[int, str, float]] = {}  # chain id -> (hop, status, since)
        self._hedge: dict[str, Any] | None = None
        self._down: set[str] = set()
        self._down_samples: dict[str, int] = {}

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(10.0)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait_newer(self, version: int, timeout: float) -> int:
        """The version after ``version`` once there is one (or the current one after ``timeout``)."""
        with self._changed:
            self._changed.wait_for(lambda: self.version > version or self._stop.is_set(), timeout)
            return self.version

    def _run(self) -> None:
        while not self._stop.wait(self.refresh):
            try:
                self.sample()
            except Exception as error:  # one bad sample must not end the dashboard
                log.opt(exception=error).warning("dashboard sample failed: {}", error)

    def sample(self) -> dict[str, Any]:
        """Take, record and publish one sample now."""
        now = self.now()
        status = self.snapshots.take(now)
        self._record(now, status)
        self._watch(status)
        if self.retention.due(now):
            deleted = self.history.prune(now)
            log.info("history retention: deleted {}", deleted)
        self.metrics.update(status)
        with self._changed:
            self.latest = status
            self.version += 1
            self._changed.notify_all()
        return status

    # ---- history and latencies ----------------------------------------------------------------

    def _record(self, now: float, status: dict[str, Any]) -> None:
        if status["balances"]:
            self.history.record_balances(now, status["balances"])
        if status["prices"]:
            self.history.record_prices(now, status["prices"])
        self._record_transfers()
        self._record_chains(now, status["chains"])
        hedge = status.get("hedge")
        if hedge:
            self._record_hedge(now, hedge)

    def _record_transfers(self) -> None:
        since, self._transfers_since = self._transfers_since, self.now() - 1.0
        for wanted in INTENT_STATUSES:
            for intent in self.journal.intents.with_status(wanted, since=since):
                if self._transfers.get(intent.client_id) == intent.status:
                    continue
                self._transfers[intent.client_id] = intent.status
                self.history.record_transfer(intent)
                if intent.status == "done":
                    self.metrics.transfer_latency.observe(max(0.0, intent.updated_at - intent.created_at))

    def _record_chains(self, now: float, chains: list[dict[str, Any]]) -> None:
        for chain in chains:
            seen = self._chains.get(chain["chain_id"])
            here = (chain["hop"], chain["status"])
            if seen is None:
                self._chains[chain["chain_id"]] = (*here, now)
            elif (seen[0], seen[1]) != here:
                if seen[1] != "completed" and (chain["hop"] != seen[0] or chain["status"] == "completed"):
                    self.metrics.chain_hop_latency.observe(now - seen[2])
                self._chains[chain["chain_id"]] = (*here, now)

    def _record_hedge(self, now: float, hedge: dict[str, Any]) -> None:
        latency = None
        previous = self._hedge
        if previous is not None:
            finished = (hedge["hedges_done"] + hedge["hedges_failed"]) - (
                previous["hedges_done"] + previous["hedges_failed"])
            if finished > 0 and previous["waiting_since"] is not None:
                latency = max(0.0, now - previous["waiting_since"])
                self.metrics.hedge_latency.observe(latency)
            for leg in ("a", "b"):
                delta = hedge[leg]["position"] - previous[leg]["position"]
                if abs(delta) > 1e-12:
                    self.history.record_fill(now, hedge[leg]["name"], hedge[leg]["account"], delta,
                                             hedge["mark_price"])
        self.history.record_hedge(now, hedge, latency)
        self._hedge = hedge

    # ---- supervision alerts -----------------------------------------------------------------

    def _watch(self, status: dict[str, Any]) -> None:
        """Alert when an actor stays down (stopped for good: its supervisor gave up or escalated, or
        down across two samples); resolve when it runs again."""
        source = self.snapshots.source
        if ALERTS_ACTOR not in source.names:
            return
        for actor in status["actors"]:
            name, state = actor["name"], actor["state"]
            key = f"supervisor:{name}"
            self._down_samples[name] = self._down_samples.get(name, 0) + 1 if state == "down" else 0
            try:
                if state == "running" or state.startswith("external, connected"):
                    if name in self._down:
                        self._down.discard(name)
                        source.tell(ALERTS_ACTOR, Alert(key=key, text=f"{name} is {state} again", source="supervisor",
                                                        resolved=True, at=self.now()))
                elif (state == "stopped" or self._down_samples[name] >= 2) and name not in self._down:
                    self._down.add(name)
                    why = f" (last error: {actor['last_error']})" if actor["last_error"] else ""
                    source.tell(ALERTS_ACTOR, Alert(key=key, text=f"{name} is {state} after {actor['restarts']} "
                                                    f"restarts{why}", source="supervisor",
                                                    severity=AlertSeverity.CRITICAL, at=self.now()))
            except Exception as error:  # the alerts actor itself down: logged, tried again next sample
                self._down.discard(name)
                log.warning("could not tell the alerts actor about {}: {}", name, error)
