"""The trouble a simulated venue is told to make (`Faults`), consumed in call order so a run repeats."""

from __future__ import annotations

import math
import threading
import time

from loguru import logger

from actors.venues.base import VenueRejected, VenueTimeout, VenueUnavailable
from supervisor.clock import Clock

__all__ = ["FAULTABLE", "Faults", "SimulatedCrash"]

# The calls a fault can hit: the `Venue` interface and the trading calls.
FAULTABLE = frozenset(
    {
        "fetch_balance",
        "transfer",
        "fetch_transfer",
        "fetch_deposits",
        "fetch_ticker",
        "create_order",
        "cancel_order",
        "fetch_order",
        "fetch_open_orders",
        "fetch_order_by_client_id",
        "fetch_fills",
        "subscribe_fills",
    }
)
_TIMES_OUT_AFTER_MOVING = frozenset({"transfer", "create_order", "cancel_order"})


class SimulatedCrash(RuntimeError):
    """Raised by a venue call that `Faults.crash_next` aimed at: not a `VenueError`, so the calling
    actor crashes (and is restarted) as if its process had died at that point of the call."""


class _Rejection:
    __slots__ = ("method", "remaining")

    def __init__(self, method: str | None, remaining: int) -> None:
        self.method = method
        self.remaining = remaining


class Faults:
    """The trouble a `SimulatedVenue` is told to make: rejections, timeouts (before or after the work),
    crashes of the caller mid-call, outages, latency, replayed or lost fill pushes, fills racing
    cancels and events racing balance snapshots.

    Reach it as ``venue.faults``; each fault is consumed by the calls it hits, in call order,
    so a run is repeatable. An outage is checked first (it consumes nothing), then rejections.
    Operator helpers (``deposit``, ``settle``, ``audit``...) and the market's own ticks are
    never faulted: prices move and resting orders fill during an outage.
    """

    def __init__(self, clock: Clock, lock: threading.Lock) -> None:
        self._clock = clock
        self._lock = lock
        self._rejections: list[_Rejection] = []
        self._timeouts: dict[str, int] = {}
        self._outage_until: float | None = None
        self._latency = 0.0
        self._duplicate_fills = 0
        self._dropped_pushes = 0
        self._silent_timeouts: dict[str, int] = {}
        self._crashes: dict[tuple[str, bool], int] = {}
        self._racing_cancels = 0
        self._racing_snapshots = 0
        self.fired: dict[str, int] = {}
        """How many times each kind of fault has hit a call (``reject``, ``timeout_after_move``, ...)."""

    def reject_next(self, n: int = 1, method: str | None = None) -> None:
        """The next ``n`` calls (of ``method`` only, when named) raise `VenueRejected` and do nothing."""
        if method is not None and method not in FAULTABLE:
            raise ValueError(f"cannot fault {method!r}: choose one of {sorted(FAULTABLE)}")
        _check_count(n)
        with self._lock:
            self._rejections.append(_Rejection(method, n))
        logger.info("simulated venue: rejecting the next {} {} call(s)", n, method or "venue")

    def timeout_after_move_next(self, n: int = 1, method: str = "transfer") -> None:
        """The next ``n`` ``transfer`` (or ``create_order``, ``cancel_order``) calls do their work and record it under
        the caller's id, then raise `VenueTimeout` instead of answering."""
        if method not in _TIMES_OUT_AFTER_MOVING:
            raise ValueError(
                f"cannot time out {method!r} after moving: choose one of {sorted(_TIMES_OUT_AFTER_MOVING)}"
            )
        _check_count(n)
        with self._lock:
            self._timeouts[method] = self._timeouts.get(method, 0) + n
        logger.info("simulated venue: the next {} {} call(s) time out after moving money", n, method)

    def timeout_next(self, n: int = 1, method: str = "transfer") -> None:
        """The next ``n`` calls of ``method`` raise `VenueTimeout` without doing anything (the request was lost)."""
        _check_method(method)
        _check_count(n)
        with self._lock:
            self._silent_timeouts[method] = self._silent_timeouts.get(method, 0) + n

    def crash_next(self, n: int = 1, method: str = "transfer", *, after: bool = False) -> None:
        """The next ``n`` calls of ``method`` raise `SimulatedCrash` in the caller: before doing anything,
        or (``after``) once the work is done and recorded, as a process killed mid-call."""
        _check_method(method)
        _check_count(n)
        with self._lock:
            self._crashes[(method, after)] = self._crashes.get((method, after), 0) + n

    def fill_next_cancel(self, n: int = 1) -> None:
        """The next ``n`` cancels of an open order lose a race with a fill: the order fills (up to the
        market's depth, at its price) just before the cancel takes effect."""
        _check_count(n)
        with self._lock:
            self._racing_cancels += n

    def race_next_snapshot(self, n: int = 1) -> None:
        """The next ``n`` `fetch_balance` calls race events: while the snapshot is taken, the account's
        oldest pending incoming transfer arrives and its oldest resting order fills (up to the depth).
        The snapshot includes both; their events (deposit, pushed fill) come out after it."""
        _check_count(n)
        with self._lock:
            self._racing_snapshots += n

    def outage(self, seconds: float) -> None:
        """Every call raises `VenueUnavailable` until the clock passes now + ``seconds``."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"an outage lasts >= 0 seconds, got {seconds!r}")
        with self._lock:
            self._outage_until = self._clock.now() + seconds
        logger.info("simulated venue: outage for {} s", seconds)

    def latency(self, seconds: float) -> None:
        """Each call blocks ``seconds`` of real time before it runs (a slow network); 0 disables."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"latency must be >= 0 seconds, got {seconds!r}")
        with self._lock:
            self._latency = seconds

    def duplicate_next_fill(self, n: int = 1) -> None:
        """The next ``n`` pushed fills are pushed twice, with the same ``trade_id`` (a websocket replay)."""
        _check_count(n)
        with self._lock:
            self._duplicate_fills += n

    def drop_next_fill_push(self, n: int = 1) -> None:
        """The next ``n`` pushed fills are lost on the way (the trade happens; `fetch_order` shows it)."""
        _check_count(n)
        with self._lock:
            self._dropped_pushes += n

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._rejections.clear()
            self._timeouts.clear()
            self._outage_until = None
            self._latency = 0.0
            self._duplicate_fills = 0
            self._dropped_pushes = 0
            self._silent_timeouts.clear()
            self._crashes.clear()
            self._racing_cancels = 0
            self._racing_snapshots = 0

    # The venue calls these while holding its lock.

    def _hit(self, kind: str) -> None:
        self.fired[kind] = self.fired.get(kind, 0) + 1

    def _wait_latency(self) -> None:
        if self._latency > 0:
            self._hit("latency")
            time.sleep(self._latency)

    def _raise_if_failing(self, method: str) -> None:
        if self._outage_until is not None:
            if self._clock.now() < self._outage_until:
                self._hit("outage")
                raise VenueUnavailable(f"simulated outage: {method} unavailable until {self._outage_until:.3f}")
            self._outage_until = None
        for rejection in self._rejections:
            if rejection.method in (None, method):
                rejection.remaining -= 1
                if rejection.remaining == 0:
                    self._rejections.remove(rejection)
                self._hit("reject")
                raise VenueRejected(f"simulated rejection of {method}")
        if self._silent_timeouts.get(method):
            self._silent_timeouts[method] -= 1
            self._hit("timeout")
            raise VenueTimeout(f"simulated timeout of {method} (the request was lost; nothing happened)")
        self._crash_if_aimed(method, after=False)

    def _crash_if_aimed(self, method: str, *, after: bool) -> None:
        if self._crashes.get((method, after)):
            self._crashes[(method, after)] -= 1
            self._hit("crash_after" if after else "crash_before")
            raise SimulatedCrash(f"simulated crash {'after' if after else 'before'} {method}")

    def _take_timeout(self, method: str) -> bool:
        if not self._timeouts.get(method):
            return False
        self._timeouts[method] -= 1
        self._hit("timeout_after_move")
        return True

    def _take_racing_cancel(self) -> bool:
        if not self._racing_cancels:
            return False
        self._racing_cancels -= 1
        self._hit("fill_races_cancel")
        return True

    def _take_racing_snapshot(self) -> bool:
        if not self._racing_snapshots:
            return False
        self._racing_snapshots -= 1
        self._hit("snapshot_races_events")
        return True

    def _copies_of_next_push(self) -> int:
        """How many times the next fill is pushed: 0 (lost), 1, or 2 (replayed)."""
        if self._dropped_pushes:
            self._dropped_pushes -= 1
            self._hit("dropped_push")
            return 0
        if self._duplicate_fills:
            self._duplicate_fills -= 1
            self._hit("duplicated_push")
            return 2
        return 1


def _check_method(method: str) -> None:
    if method not in FAULTABLE:
        raise ValueError(f"cannot fault {method!r}: choose one of {sorted(FAULTABLE)}")


def _check_count(n: int) -> None:
    if n < 1:
        raise ValueError(f"a fault count must be >= 1, got {n!r}")
