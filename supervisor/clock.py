"""Injected time: `Clock.now()` and `Clock.call_later()`, real (`SystemClock`) or manual (`ManualClock`).

Every actor and the runtime read time only through a clock, so a test can make
"60 s later" happen instantly with ``ManualClock.advance(60)``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol

from loguru import logger

__all__ = ["Clock", "ManualClock", "Repeating", "SystemClock", "Timer", "call_every"]


class Timer:
    """A scheduled callback; `cancel` it to stop it firing."""

    __slots__ = ("callback", "cancelled", "due")

    def __init__(self, due: float, callback: Callable[[], None]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock(Protocol):
    """What actors and the runtime know about time."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` (quickly; it should only send a message) after ``delay`` seconds."""
        ...


def _run(timer: Timer) -> None:
    if timer.cancelled:
        return
    try:
        timer.callback()
    except Exception:
        logger.exception("timer callback failed")


class SystemClock:
    """Wall-clock time, with one daemon thread firing timers (on the monotonic clock)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def now(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        due = time.monotonic() + max(0.0, delay)
        timer = Timer(due, callback)
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), timer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._fire_timers, name="clock-timers", daemon=True)
                self._thread.start()
            self._cond.notify()
        return timer

    def _fire_timers(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                _, _, timer = heapq.heappop(self._heap)
            _run(timer)


class ManualClock:
    """A clock that moves only when told to: ``advance(seconds)`` fires the timers that fall due.

    Timers run in the thread that calls `advance`, in due order, each seeing `now()` equal
    to its due time. Starts at a fixed instant so tests are repeatable.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        with self._lock:
            timer = Timer(self._now + max(0.0, delay), callback)
            heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer due up to the new time (including new ones)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            target = self._now + seconds
            while self._heap and self._heap[0][0] <= target:
                due, _, timer = heapq.heappop(self._heap)
                self._now = max(self._now, due)
                _run(timer)
            self._now = target

    def pending(self) -> int:
        """How many timers are waiting (cancelled ones included until they fall due)."""
        with self._lock:
            return sum(1 for _, _, t in self._heap if not t.cancelled)


class Repeating:
    """A callback run every ``interval`` seconds of a clock until `cancel`; see `call_every`."""

    def __init__(self, clock: Clock, interval: float, callback: Callable[[float], None]) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0, got {interval!r}")
        self._clock = clock
        self._interval = interval
        self._callback = callback
        self._cancelled = False
        self._timer = clock.call_later(interval, self._fire)

    def _fire(self) -> None:
        if self._cancelled:
            return
        # Reschedule first, from inside the timer, so a ManualClock.advance that spans several
        # intervals fires every one of them.
        self._timer = self._clock.call_later(self._interval, self._fire)
        self._callback(self._clock.now())

    def cancel(self) -> None:
        self._cancelled = True
        self._timer.cancel()


def call_every(clock: Clock, interval: float, callback: Callable[[float], None]) -> Repeating:
    """Run ``callback(now)`` every ``interval`` seconds; ``now`` is the tick's own time."""
    return Repeating(clock, interval, callback)
