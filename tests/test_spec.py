"""The restart policy as a plain class: intensity window, backoff, strategy groups, validation."""

from __future__ import annotations

import random

import pytest

from supervisor import ChildSpec, ExitReason, Supervisor


def specs(*names: str) -> list[ChildSpec]:
    return [ChildSpec(n, lambda: None) for n in names]  # type: ignore[arg-type, return-value]


def test_intensity_allows_that_many_restarts_within_the_period_then_refuses() -> None:
    policy = Supervisor(specs("a"), intensity=3, period=5.0)
    assert [policy.allow_restart(t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert policy.allow_restart(3.0) is False


def test_old_restarts_slide_out_of_the_window() -> None:
    policy = Supervisor(specs("a"), intensity=2, period=5.0)
    assert policy.allow_restart(0.0) and policy.allow_restart(1.0)
    assert policy.allow_restart(5.5)  # the restart at 0.0 is older than the period
    assert not policy.allow_restart(5.9)


def test_zero_intensity_gives_up_at_the_first_failure() -> None:
    assert Supervisor(specs("a"), intensity=0).allow_restart(0.0) is False


def test_backoff_doubles_per_restart_in_the_window_with_bounded_jitter() -> None:
    policy = Supervisor(specs("a"), intensity=10, period=100.0, backoff=(1.0, 5.0), rng=random.Random(7))
    delays = []
    for t in range(5):
        policy.allow_restart(float(t))
        delays.append(policy.backoff_delay())
    bases = [1.0, 2.0, 4.0, 5.0, 5.0]
    for delay, base in zip(delays, bases, strict=True):
        assert max(1.0, base / 2) <= delay <= base


def test_no_backoff_means_restart_at_once() -> None:
    policy = Supervisor(specs("a"), backoff=(0.0, 0.0))
    policy.allow_restart(0.0)
    assert policy.backoff_delay() == 0.0


@pytest.mark.parametrize(
    ("strategy", "failed", "group"),
    [
        ("one_for_one", 1, [1]),
        ("one_for_all", 1, [0, 1, 2, 3]),
        ("rest_for_one", 1, [1, 2, 3]),
        ("rest_for_one", 3, [3]),
    ],
)
def test_restart_group_follows_the_strategy(strategy: str, failed: int, group: list[int]) -> None:
    assert Supervisor(specs("a", "b", "c", "d"), strategy=strategy).restart_group(failed) == group  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Supervisor(specs("a"), strategy="all_for_none"), "strategy must be one of"),  # type: ignore[arg-type]
        (lambda: Supervisor(specs("a"), intensity=-1), "intensity must be"),
        (lambda: Supervisor(specs("a"), period=0), "period must be"),
        (lambda: Supervisor(specs("a"), backoff=(5.0, 1.0)), "backoff must be"),
        (lambda: Supervisor(specs("a", "a")), "repeated: \\['a'\\]"),
        (lambda: ChildSpec("", lambda: None), "non-empty name"),  # type: ignore[arg-type, return-value]
        (lambda: ChildSpec("x", lambda: None, restart="sometimes"), "restart must be"),  # type: ignore[arg-type]
        (lambda: ChildSpec("x", lambda: None, shutdown_timeout=-1), "shutdown_timeout"),  # type: ignore[arg-type]
    ],
)
def test_bad_specs_are_refused_with_a_message_naming_the_setting(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_on_child_down_terminates_temporary_and_normally_ended_transient_children() -> None:
    policy = Supervisor(
        [
            ChildSpec("t", lambda: None, restart="temporary"),  # type: ignore[arg-type, return-value]
            ChildSpec("r", lambda: None, restart="transient"),
        ]
    )  # type: ignore[arg-type, return-value]
    assert policy.on_child_down(0, ExitReason.CRASH, 0.0).action == "terminate"
    assert policy.on_child_down(1, ExitReason.NORMAL, 0.0).action == "terminate"
    assert policy.on_child_down(1, ExitReason.CRASH, 0.0).action == "restart"


def test_on_child_down_restarts_the_strategy_group_then_escalates_past_the_intensity() -> None:
    policy = Supervisor(specs("a", "b", "c"), strategy="rest_for_one", intensity=1, backoff=(0.0, 0.0))
    first = policy.on_child_down(1, ExitReason.CRASH, 0.0)
    assert (first.action, first.group, first.delay) == ("restart", (1, 2), 0.0)
    second = policy.on_child_down(1, ExitReason.CRASH, 1.0)
    assert second.action == "escalate" and "more than 1 restarts within 5.0s" in second.reason


def test_on_child_down_drops_temporary_siblings_from_a_group_restart() -> None:
    policy = Supervisor(
        [
            ChildSpec("a", lambda: None),  # type: ignore[arg-type, return-value]
            ChildSpec("tmp", lambda: None, restart="temporary"),  # type: ignore[arg-type, return-value]
            ChildSpec("c", lambda: None),  # type: ignore[arg-type, return-value]
        ],
        strategy="one_for_all",
        backoff=(0.0, 0.0),
    )
    decision = policy.on_child_down(0, ExitReason.CRASH, 0.0)
    assert (decision.action, decision.group, decision.drop) == ("restart", (0, 2), (1,))


def test_on_child_down_leaves_children_stopped_for_good_out_of_the_group() -> None:
    policy = Supervisor(specs("a", "b", "c"), strategy="rest_for_one", backoff=(0.0, 0.0))
    decision = policy.on_child_down(0, ExitReason.HANG, 0.0, gone={1})
    assert (decision.group, decision.drop) == ((0, 2), ())


def test_on_child_down_decides_over_the_children_it_is_given() -> None:
    policy = Supervisor(specs("a"), strategy="one_for_all", backoff=(0.0, 0.0))
    decision = policy.on_child_down(1, ExitReason.CRASH, 0.0, children=specs("a", "added"))
    assert decision.group == (0, 1)


def test_only_crash_and_hang_are_abnormal_exits() -> None:
    assert [reason.abnormal for reason in ExitReason] == [False, False, True, True]
