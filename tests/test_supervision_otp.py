"""Supervision pinned after Erlang/OTP's supervisor_SUITE: restart types, strategies, intensity,
start failures, shutdown, nested trees and child management (the OTP case is named per group)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from actors.base import Actor
from messages import Message, Ping, Pong
from messages.supervision import Children, ChildType, CountChildren, RestartChild, WhichChildren
from supervisor import (
    ActorStoppedError,
    ChildCount,
    ChildInfo,
    ChildSpec,
    ExitReason,
    ManualClock,
    Runtime,
    StartError,
    SupervisionError,
    Supervisor,
    UnknownActorError,
)
from tests.probe import Block, Crash, Note, Probe, recorder

NO_BACKOFF = (0.0, 0.0)


class Leave(Message, frozen=True):
    """Stop yourself normally."""


class Leaver(Actor):
    """Records its lifecycle; stops itself on `Leave`, crashes on `Crash`."""

    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def on_start(self) -> None:
        self.probe.record("start", self.name)

    def on_stop(self) -> None:
        self.probe.record("stop", self.name)

    def on_leave(self, message: Leave) -> None:
        self.stop()

    def on_crash(self, message: Crash) -> None:
        raise RuntimeError(message.why)


def leaver(probe: Probe) -> Callable[[], Leaver]:
    return lambda: Leaver(probe)


def fails_after_first_start(probe: Probe) -> Callable[[], Actor]:
    starts = [0]

    def fail() -> bool:
        starts[0] += 1
        return starts[0] > 1

    return recorder(probe, fail_on_start=fail)


def starts(probe: Probe, name: str) -> int:
    return len(probe.of("start", name))


# ---- restart types (permanent_normal, transient_normal, temporary_abnormal, temporary_bystander) ----


def test_temporary_bystander_is_stopped_and_not_restarted_under_one_for_all(
    make_runtime: Callable[..., Runtime],
) -> None:
    probe = Probe()
    rt = make_runtime(
        Supervisor(
            [ChildSpec("a", recorder(probe)), ChildSpec("tmp", recorder(probe), restart="temporary")],
            strategy="one_for_all",
            backoff=NO_BACKOFF,
        )
    )
    rt.tell("a", Crash())
    assert rt.wait_until(lambda: rt.status_of("a").restarts == 1 and rt.status_of("a").state == "running")
    assert rt.status_of("tmp").state == "stopped"
    assert starts(probe, "tmp") == 1
    assert probe.of("stop", "tmp")  # stopped gracefully: its on_stop ran
    with pytest.raises(ActorStoppedError):
        rt.ask("tmp", Ping())


def test_temporary_bystander_is_stopped_and_not_restarted_under_rest_for_one(
    make_runtime: Callable[..., Runtime],
) -> None:
    probe = Probe()
    rt = make_runtime(
        Supervisor(
            [
                ChildSpec("a", recorder(probe)),
                ChildSpec("tmp", recorder(probe), restart="temporary"),
                ChildSpec("c", recorder(probe)),
            ],
            strategy="rest_for_one",
            backoff=NO_BACKOFF,
        )
    )
    rt.tell("a", Crash())
    assert rt.wait_until(lambda: rt.status_of("c").restarts == 1 and rt.status_of("c").state == "running")
    assert rt.status_of("tmp").state == "stopped"
    assert (starts(probe, "a"), starts(probe, "tmp"), starts(probe, "c")) == (2, 1, 2)


@pytest.mark.parametrize("restart", ["temporary", "transient"])
def test_a_child_stopped_for_good_does_not_come_back_as_a_zombie_from_a_later_group_restart(
    make_runtime: Callable[..., Runtime],
    restart: str,
) -> None:
    probe = Probe()
    rt = make_runtime(
        Supervisor(
            [
                ChildSpec("a", recorder(probe)),
                ChildSpec("gone", leaver(probe), restart=restart, shutdown_timeout=60.0),
            ],  # type: ignore[arg-type]
            strategy="one_for_all",
            backoff=NO_BACKOFF,
        )
    )
    rt.tell("gone", Leave())  # a normal exit: stopped for good for both restart types
    assert rt.wait_until(lambda: rt.status_of("gone").state == "stopped")
    rt.tell("a", Crash())
    assert rt.wait_until(lambda: rt.status_of("a").restarts == 1 and rt.status_of("a").state == "running")
    assert rt.status_of("gone").state == "stopped"
    assert starts(probe, "gone") == 1
    rt.tell("gone", Note("mail"))
    assert rt.dead_letters[-1].message == Note("mail")
    assert rt.stop(timeout=30.0) is True  # not held up by a zombie's 60 s shutdown timeout


def test_permanent_normal_exit_is_restarted_and_says_normal(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("p", leaver(probe))], backoff=NO_BACKOFF))
    rt.tell("p", Leave())
    assert rt.wait_until(lambda: starts(probe, "p") == 2 and rt.status_of("p").state == "running")
    assert rt.status_of("p").exit_reason is ExitReason.NORMAL


def test_transient_abnormal_exit_is_restarted_and_says_crash(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("t", leaver(probe), restart="transient")], backoff=NO_BACKOFF))
    rt.tell("t", Crash())
    assert rt.wait_until(lambda: starts(probe, "t") == 2 and rt.status_of("t").state == "running")
    assert rt.status_of("t").exit_reason is ExitReason.CRASH


def test_a_hung_child_says_hang(make_runtime: Callable[..., Runtime], clock: ManualClock) -> None:
    probe = Probe()
    rt = make_runtime(
        Supervisor([ChildSpec("h", recorder(probe))], backoff=NO_BACKOFF),
        watchdog_clock=clock,
        heartbeat_interval=1.0,
        hang_timeout=2.0,
    )
    rt.tell("h", Block("never"))
    assert probe.wait_for(lambda: bool(probe.of("blocked", "h")))
    clock.advance(1.0)
    assert rt.wait_until(lambda: rt.status_of("h").state == "running")
    clock.advance(2.0)
    assert rt.wait_until(lambda: rt.status_of("h").restarts == 1)
    assert rt.status_of("h").exit_reason is ExitReason.HANG
    probe.gate("never").set()


# ---- intensity (one_for_one_escalation) without backoff ------------------------------------------------


def test_failing_restarts_without_backoff_end_with_the_intensity_reason_not_a_recursion_error(
    clock: ManualClock,
) -> None:
    probe = Probe()
    # 1500 restarts: past Python's recursion limit when each failed restart called the next one
    rt = Runtime(
        Supervisor([ChildSpec("f", fails_after_first_start(probe))], intensity=1500, period=1e9, backoff=NO_BACKOFF),
        clock=clock,
    )
    rt.start()
    try:
        rt.tell("f", Crash())
        assert rt.wait(120)
        assert rt.stop_reason is not None
        assert "more than 1500 restarts" in rt.stop_reason
        assert "Recursion" not in rt.stop_reason
    finally:
        rt.stop()


def test_stop_is_not_blocked_by_a_loop_of_failing_restarts_without_backoff(clock: ManualClock) -> None:
    probe = Probe()
    rt = Runtime(
        Supervisor([ChildSpec("f", fails_after_first_start(probe))], intensity=10**9, period=1e9, backoff=NO_BACKOFF),
        clock=clock,
    )
    rt.start()
    rt.tell("f", Crash())
    assert probe.wait_for(lambda: starts(probe, "f") >= 3)  # the loop is running
    assert rt.stop(timeout=60.0) is True
    assert rt.stop_reason == "stopped by request"


# ---- start failures (sup_start_fail, sup_start_child_returns_error) -----------------------------------


def test_start_child_that_fails_to_start_raises_and_is_not_added(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("a", recorder(probe))], backoff=NO_BACKOFF))
    with pytest.raises(StartError, match="b failed in on_start"):
        rt.start_child(ChildSpec("b", recorder(probe, fail_on_start=lambda: True)))
    assert [c.name for c in rt.which_children()] == ["a"]
    with pytest.raises(UnknownActorError):
        rt.tell("b", Note("x"))


def test_restart_child_that_fails_to_start_raises_and_stays_terminated(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("a", fails_after_first_start(probe))], backoff=NO_BACKOFF))
    rt.terminate_child("a")
    with pytest.raises(StartError, match="a failed in on_start"):
        rt.restart_child("a")
    assert rt.status_of("a").state == "terminated"


# ---- shutdown (sup_stop_timeout, sup_stop_brutal_kill) ------------------------------------------------


def test_stop_says_it_timed_out_when_a_child_takes_longer_than_the_timeout(clock: ManualClock) -> None:
    probe = Probe()
    rt = Runtime(Supervisor([ChildSpec("slow", recorder(probe), shutdown_timeout=60.0)]), clock=clock)
    rt.start()
    rt.tell("slow", Block("g"))
    assert probe.wait_for(lambda: bool(probe.of("blocked", "slow")))
    assert rt.stop(timeout=0.2) is False
    probe.gate("g").set()
    assert rt.stop(timeout=60.0) is True


def test_shutdown_timeout_zero_is_a_brutal_kill_without_on_stop(clock: ManualClock) -> None:
    probe = Probe()
    rt = Runtime(Supervisor([ChildSpec("k", recorder(probe), shutdown_timeout=0)]), clock=clock)
    rt.start()
    rt.tell("k", Block("g"))
    assert probe.wait_for(lambda: bool(probe.of("blocked", "k")))
    assert rt.stop(timeout=60.0) is True  # not waiting for the blocked handler
    assert rt.status_of("k").exit_reason is ExitReason.SHUTDOWN
    probe.gate("g").set()
    assert not probe.of("stop", "k")


# ---- child management (child_adm, count_children, tree) --------------------------------------------


def test_start_child_adds_a_running_child_that_gets_mail(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("a", recorder(probe))], backoff=NO_BACKOFF))
    info = rt.start_child(ChildSpec("b", recorder(probe)))
    assert (info.name, info.kind, info.state) == ("b", ChildType.WORKER, "running")
    assert rt.ask("b", Note("hi")) == "hi"
    with pytest.raises(SupervisionError, match="used twice"):
        rt.start_child(ChildSpec("b", recorder(probe)))


def test_terminate_child_stops_it_for_good_until_restart_child(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("a", recorder(probe))], backoff=NO_BACKOFF))
    info = rt.terminate_child("a")
    assert (info.state, info.exit_reason) == ("terminated", ExitReason.SHUTDOWN)
    assert probe.of("stop", "a")
    rt.tell("a", Note("while terminated"))
    assert rt.dead_letters[-1].message == Note("while terminated")
    assert rt.restart_child("a").state == "running"
    assert rt.ask("a", Note("back")) == "back"
    assert starts(probe, "a") == 2


def test_restart_child_restarts_a_running_child(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("a", recorder(probe))], backoff=NO_BACKOFF))
    info = rt.restart_child("a")
    assert (info.state, info.restarts, info.exit_reason) == ("running", 1, ExitReason.SHUTDOWN)
    assert starts(probe, "a") == 2 and probe.of("stop", "a")


def test_delete_child_refuses_a_running_child_and_forgets_a_terminated_one(
    make_runtime: Callable[..., Runtime],
) -> None:
    probe = Probe()
    rt = make_runtime(
        Supervisor([ChildSpec("a", recorder(probe)), ChildSpec("b", recorder(probe))], backoff=NO_BACKOFF)
    )
    with pytest.raises(SupervisionError, match="terminate it before deleting"):
        rt.delete_child("a")
    rt.terminate_child("a")
    rt.delete_child("a")
    assert [c.name for c in rt.which_children()] == ["b"]
    with pytest.raises(UnknownActorError):
        rt.tell("a", Note("x"))


def test_which_and_count_children_list_nested_supervisors_as_such(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    inner = Supervisor([ChildSpec("x", recorder(probe)), ChildSpec("y", recorder(probe))])
    rt = make_runtime(Supervisor([ChildSpec("a", recorder(probe)), ChildSpec("inner", inner)]))
    assert [(c.name, c.kind) for c in rt.which_children()] == [("a", ChildType.WORKER), ("inner", ChildType.SUPERVISOR)]
    assert [c.name for c in rt.which_children("inner")] == ["x", "y"]
    assert rt.count_children() == ChildCount(specs=2, active=2, supervisors=1, workers=1)
    rt.terminate_child("inner")
    assert rt.count_children() == ChildCount(specs=2, active=1, supervisors=1, workers=1)
    assert rt.status_of("x").state == "terminated"
    rt.restart_child("inner")
    assert rt.ask("y", Note("back")) == "back"
    with pytest.raises(SupervisionError, match="no supervisor named 'nope'"):
        rt.which_children("nope")


def test_children_and_restarts_are_asked_of_the_runtime_by_message(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("a", recorder(probe))], backoff=NO_BACKOFF))
    answer = rt.ask("runtime", WhichChildren())
    assert isinstance(answer, Children) and [c.name for c in answer.children] == ["a"]
    assert rt.ask("runtime", CountChildren()) == ChildCount(specs=1, active=1, supervisors=0, workers=1)
    assert rt.ask("runtime", RestartChild(name="a")).restarts == 1
    assert rt.ask("a", Ping()) == Pong(actor="a")
    assert "no child named 'zz'" in rt.ask("runtime", RestartChild(name="zz")).reason


def test_a_temporary_child_in_a_restarted_nested_supervisor_starts_afresh(
    make_runtime: Callable[..., Runtime],
) -> None:
    probe = Probe()
    inner = Supervisor([ChildSpec("t", leaver(probe), restart="temporary")], backoff=NO_BACKOFF)
    rt = make_runtime(Supervisor([ChildSpec("inner", inner)], backoff=NO_BACKOFF))
    rt.tell("t", Leave())
    assert rt.wait_until(lambda: rt.status_of("t").state == "stopped")
    rt.restart_child("inner")  # like OTP's init: a restarted supervisor starts its children again
    assert rt.ask("t", Ping()) == Pong(actor="t")
    assert starts(probe, "t") == 2


class Operator(Actor):
    """Restarts a sibling by telling the runtime, and records the answer."""

    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def on_note(self, message: Note) -> None:
        self.tell("runtime", RestartChild(name=message.text))

    def on_child_info(self, message: ChildInfo) -> None:
        self.probe.record("answer", self.name, f"{message.name} {message.state} {message.restarts}")


def test_an_actor_restarts_a_sibling_by_telling_the_runtime(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("a", recorder(probe)), ChildSpec("op", lambda: Operator(probe))]))
    rt.tell("op", Note("a"))
    assert probe.wait_for(lambda: bool(probe.of("answer", "op")))
    assert probe.of("answer", "op") == [("answer", "op", "a running 1")]
    assert starts(probe, "a") == 2
