"""Injected time: the manual clock fires timers in order; the system clock fires them for real."""

from __future__ import annotations

import threading

import pytest

from supervisor import ManualClock, SystemClock


def test_manual_clock_fires_due_timers_in_order_seeing_their_due_time() -> None:
    clock = ManualClock(start=100.0)
    fired: list[tuple[str, float]] = []
    clock.call_later(5, lambda: fired.append(("b", clock.now())))
    clock.call_later(1, lambda: fired.append(("a", clock.now())))
    clock.call_later(50, lambda: fired.append(("late", clock.now())))
    clock.advance(10)
    assert fired == [("a", 101.0), ("b", 105.0)]
    assert clock.now() == 110.0


def test_timers_scheduled_by_timers_fire_within_the_same_advance() -> None:
    clock = ManualClock(start=0.0)
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(clock.now())
        if len(ticks) < 5:
            clock.call_later(2, tick)

    clock.call_later(2, tick)
    clock.advance(7)
    assert ticks == [2.0, 4.0, 6.0]
    clock.advance(100)
    assert ticks == [2.0, 4.0, 6.0, 8.0, 10.0]


def test_cancelled_timers_do_not_fire() -> None:
    clock = ManualClock()
    fired: list[int] = []
    timer = clock.call_later(1, lambda: fired.append(1))
    timer.cancel()
    clock.advance(2)
    assert fired == []


def test_time_does_not_go_backwards() -> None:
    with pytest.raises(ValueError):
        ManualClock().advance(-1)


def test_system_clock_fires_a_timer_for_real() -> None:
    clock = SystemClock()
    done = threading.Event()
    clock.call_later(0.01, done.set)
    assert done.wait(5)


def test_call_every_fires_each_interval_within_one_long_advance() -> None:
    from supervisor.clock import call_every

    clock = ManualClock(start=0.0)
    seen: list[float] = []
    repeating = call_every(clock, 1.5, seen.append)
    clock.advance(5.0)
    assert seen == [1.5, 3.0, 4.5]
    repeating.cancel()
    clock.advance(10.0)
    assert seen == [1.5, 3.0, 4.5]
