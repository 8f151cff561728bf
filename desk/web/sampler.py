"""The dashboard's sampler thread: every ``refresh`` seconds a status document, recorded and published.

Each sample goes into the history (balances, prices, hedge, fills, transfers from the journal),
updates the metrics, raises or resolves the alarms read in the status (`StatusWatch`), runs the retention job when due, and wakes the server-sent-event streams.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from loguru import logger

from actors.stores.journal import INTENT_STATUSES, Journal
from desk.history import HistoryStore, RetentionSchedule
from desk.metrics import DeskMetrics
from desk.watch import StatusWatch
from desk.web.snapshot import Snapshots
from messages.alerts import ALERTS_ACTOR

__all__ = ["Sampler"]

log = logger.bind(actor="web")

_SETTLED = ("done", "failed")  # a transfer intent in one of these never changes again


class _Thinning:
    """Which samples of a series to keep: a change at most every ``every`` seconds, else one each ``unchanged_every``."""

    def __init__(self, every: float, unchanged_every: float) -> None:
        self.every = every
        self.unchanged_every = unchanged_every
        self._last: dict[tuple[Any, ...], tuple[Any, float]] = {}

    def due(self, key: tuple[Any, ...], value: Any, now: float) -> bool:
        last = self._last.get(key)
        if last is not None:
            wait = self.every if value != last[0] else self.unchanged_every
            if now - last[1] < wait:
                return False
        self._last[key] = (value, now)
        return True


class Sampler:
    """Samples a running system; `latest` is the last document, `wait_newer` blocks for the next one."""

    def __init__(
        self,
        snapshots: Snapshots,
        history: HistoryStore,
        metrics: DeskMetrics,
        journal: Journal,
        now: Callable[[], float],
        refresh: float = 1.0,
        timezone: str = "UTC",
        watch: StatusWatch | None = None,
    ) -> None:
        self.snapshots = snapshots
        self.history = history
        self.metrics = metrics
        self.journal = journal
        self.now = now
        self.refresh = refresh
        self.retention = RetentionSchedule(history.config.prune_cron, timezone, now())
        self._thinning = _Thinning(history.config.every, history.config.unchanged_every)
        self.latest: dict[str, Any] | None = None
        self.version = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-sampler", daemon=True)
        self._transfers: dict[str, tuple[str, float]] = {}  # client id -> (last status seen, its time)
        self._transfers_since = 0.0
        self._chains: dict[str, tuple[int, str, float]] = {}  # chain id -> (hop, status, since)
        self._hedge: dict[str, Any] | None = None
        self._hedges_seen: dict[str, None] = {}  # trade ids whose hedge latency was observed (oldest first)
        self.watch = watch

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
        thin = self._thinning
        balances = [
            r for r in status["balances"] if thin.due(("balance", r["account"], r["currency"]), r["slots"], now)
        ]
        if balances:
            self.history.record_balances(now, balances)
        prices = {c: p for c, p in status["prices"].items() if thin.due(("price", c), p, now)}
        if prices:
            self.history.record_prices(now, prices)
        self._record_transfers()
        self._record_chains(now, status["chains"])
        hedge = status.get("hedge")
        if hedge:
            self._record_hedge(now, hedge)

    def _record_transfers(self) -> None:
        """Transfers whose journal record changed since the last sample (the windows overlap by a second)."""
        since, self._transfers_since = self._transfers_since, self.now() - 1.0
        for wanted in INTENT_STATUSES:
            for intent in self.journal.intents.with_status(wanted, since=since):
                if self._transfers.get(intent.client_id, ("", 0.0))[0] == intent.status:
                    continue
                self._transfers[intent.client_id] = (intent.status, intent.updated_at)
                self.history.record_transfer(intent)
                if intent.status == "done":
                    self.metrics.transfer_latency.observe(max(0.0, intent.updated_at - intent.created_at))
        # A settled transfer older than the overlap cannot come back: forget it.
        for client_id in [c for c, (status, at) in self._transfers.items() if status in _SETTLED and at < since - 5]:
            del self._transfers[client_id]

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
                previous["hedges_done"] + previous["hedges_failed"]
            )
            if finished > 0 and previous["waiting_since"] is not None and not hedge.get("latencies"):
                latency = max(0.0, now - previous["waiting_since"])  # an A that does not report them: sampled
                self.metrics.hedge_latency.observe(latency)
            for leg in ("a", "b"):
                delta = hedge[leg]["position"] - previous[leg]["position"]
                if abs(delta) > 1e-12:
                    self.history.record_fill(now, hedge[leg]["name"], hedge[leg]["account"], delta, hedge["mark_price"])
        for entry in hedge.get("latencies", []):  # each finished hedge, exactly, once
            if entry["trade_id"] not in self._hedges_seen:
                self._hedges_seen[entry["trade_id"]] = None
                if previous is not None:  # the first sample only learns what was done before it
                    latency = entry["seconds"]
                    self.metrics.hedge_latency.observe(latency)
        while len(self._hedges_seen) > 1000:
            self._hedges_seen.pop(next(iter(self._hedges_seen)))
        shape = (
            hedge["a"]["position"],
            hedge["b"]["position"],
            hedge["hedges_done"],
            hedge["hedges_failed"],
            hedge["paused"],
            hedge["realised_pnl"],
            latency,
        )
        if latency is not None or self._thinning.due(("hedge",), shape, now):
            self.history.record_hedge(now, hedge, latency)
        self._hedge = hedge

    # ---- alarms read in the status ----------------------------------------------------------

    def _watch(self, status: dict[str, Any]) -> None:
        """Tell the alerts actor what `StatusWatch` finds (once per incident, then its resolution)."""
        source = self.snapshots.source
        if self.watch is None or ALERTS_ACTOR not in source.names:
            return
        for alert in self.watch.check(status, self.now()):
            try:
                source.tell(ALERTS_ACTOR, alert)
            except Exception as error:  # the alerts actor unreachable: raise it again at the next sample
                if not alert.resolved:
                    self.watch.open.pop(alert.key, None)
                log.warning("could not tell the alerts actor {}: {}", alert.key, error)
