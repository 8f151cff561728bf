"""Supervision with real pykka actors: restarts per strategy, escalation, delivery across restarts."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from actors.base import Actor
from messages import Message, Ping, Pong, Rejected
from supervisor import (
    ActorCrashedError,
    ActorHungError,
    ActorStoppedError,
    BlockingAskError,
    ChildSpec,
    ManualClock,
    Runtime,
    StartError,
    Supervisor,
    UnknownActorError,
)
from tests.probe import Block, Count, Crash, Note, Probe, recorder

NO_BACKOFF = (0.0, 0.0)


def tree(probe: Probe, names: list[str], **options: object) -> Supervisor:
    options.setdefault("backoff", NO_BACKOFF)
    return Supervisor([ChildSpec(n, recorder(probe)) for n in names], **options)  # type: ignore[arg-type]


# ---- restart and delivery ------------------------------------------------------------------


def test_crashed_actor_is_restarted_under_the_same_name(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"]))
    rt.tell("a", Crash())
    assert rt.ask("a", Note("after")) == "after"
    assert len(probe.of("start", "a")) == 2
    assert rt.status_of("a").restarts == 1


def test_a_harness_reads_the_current_incarnation_of_an_actor(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"]))
    first = rt.incarnation("a")
    assert first is not None and first.name == "a"
    rt.tell("a", Crash())
    assert rt.ask("a", Note("after")) == "after"
    second = rt.incarnation("a")
    assert second is not None and second is not first  # the restarted one, not the dead one
    assert rt.incarnation("nobody") is None


def test_tells_queued_behind_a_crash_reach_the_restarted_actor_in_order(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"]))
    rt.tell("a", Block("hold"))
    assert probe.wait_for(lambda: bool(probe.of("blocked", "a")))
    rt.tell("a", Crash())
    for i in range(50):  # queued behind the crash while the actor is still busy
        rt.tell("a", Note(f"n{i}"))
    probe.gate("hold").set()
    assert rt.ask("a", Count()) == 50  # the new incarnation saw all fifty
    assert probe.notes("a") == [f"n{i}" for i in range(50)]


def test_tells_sent_during_a_restart_wait_and_arrive_in_order(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"], backoff=(2.0, 2.0)))
    rt.tell("a", Crash())
    assert rt.wait_until(lambda: rt.status_of("a").state == "restarting")
    for i in range(10):
        rt.tell("a", Note(f"during{i}"))
    assert probe.notes("a") == []  # nobody is consuming during the backoff
    clock.advance(2.0)
    assert rt.ask("a", Count()) == 10
    assert probe.notes("a") == [f"during{i}" for i in range(10)]


def test_the_message_that_crashed_the_actor_is_dead_lettered_not_redelivered(
    make_runtime: Callable[..., Runtime],
) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"]))
    rt.tell("a", Crash("bad input"), sender="tester")
    rt.ask("a", Note("sync"))
    assert len(probe.of("crash", "a")) == 1  # not handled again by the new incarnation
    [letter] = [d for d in rt.dead_letters if d.message_type == "Crash"]
    assert letter.recipient == "a" and letter.sender == "tester"
    assert "RuntimeError: bad input" in letter.reason


def test_an_ask_for_the_crashing_message_fails_with_the_reason(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"]))
    with pytest.raises(ActorCrashedError, match=r"a crashed while handling Crash: RuntimeError: kaput"):
        rt.ask("a", Crash("kaput"))
    assert rt.ask("a", Note("still here")) == "still here"


def test_one_for_one_restarts_only_the_failed_child(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a", "b", "c"], strategy="one_for_one"))
    rt.tell("b", Crash())
    rt.ask("b", Note("x"))
    assert [len(probe.of("start", n)) for n in "abc"] == [1, 2, 1]
    assert probe.of("stop") == []


def test_one_for_all_restarts_every_child(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a", "b", "c"], strategy="one_for_all"))
    rt.tell("b", Crash())
    assert rt.wait_until(lambda: all(rt.status_of(n).restarts == 1 for n in "abc"))
    assert [len(probe.of("start", n)) for n in "abc"] == [2, 2, 2]
    assert [e[1] for e in probe.of("stop")] == ["c", "a"]  # the others stop in reverse order
    assert [e[1] for e in probe.of("start")][3:] == ["a", "b", "c"]  # and all start again in order


def test_rest_for_one_restarts_the_failed_child_and_those_started_after_it(
    make_runtime: Callable[..., Runtime],
) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a", "b", "c", "d"], strategy="rest_for_one"))
    rt.tell("b", Crash())
    assert rt.wait_until(lambda: rt.status_of("d").restarts == 1)
    assert [len(probe.of("start", n)) for n in "abcd"] == [1, 2, 2, 2]
    assert [e[1] for e in probe.of("stop")] == ["d", "c"]


def test_children_start_in_order_and_stop_in_reverse(clock: ManualClock) -> None:
    probe = Probe()
    with Runtime(tree(probe, ["a", "b", "c"]), clock=clock):
        assert [e[1] for e in probe.of("start")] == ["a", "b", "c"]
    assert [e[1] for e in probe.of("stop")] == ["c", "b", "a"]


def test_mail_sent_to_a_sibling_during_one_for_all_is_kept(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a", "b"], strategy="one_for_all"))
    rt.tell("b", Crash())
    for i in range(20):
        rt.tell("a", Note(f"a{i}"))
    assert rt.wait_until(lambda: rt.status_of("a").restarts == 1)
    rt.ask("a", Ping())
    assert probe.notes("a") == [f"a{i}" for i in range(20)]


# ---- intensity and escalation -----------------------------------------------------------------


def test_more_restarts_than_the_intensity_stop_the_runtime_and_say_why(clock: ManualClock) -> None:
    probe = Probe()
    rt = Runtime(tree(probe, ["a"], intensity=2, period=10.0), clock=clock)
    rt.start()
    for _ in range(3):
        rt.tell("a", Crash())
    assert rt.wait(5), "the runtime should stop by itself"
    assert rt.stop_reason is not None
    assert "supervisor 'root' gave up: more than 2 restarts within 10.0s" in rt.stop_reason
    assert "a crashed while handling Crash" in rt.stop_reason
    assert len(probe.of("start", "a")) == 3
    with pytest.raises(ActorStoppedError):
        rt.ask("a", Note("too late"))


def test_restarts_spread_over_more_than_the_period_do_not_escalate(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"], intensity=1, period=5.0))
    for _ in range(4):
        rt.tell("a", Crash())
        rt.ask("a", Ping())
        clock.advance(6.0)
    assert not rt.stopped
    assert rt.status_of("a").restarts == 4


def test_a_nested_supervisor_that_gives_up_fails_to_its_parent(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    inner = Supervisor(
        [ChildSpec("x", recorder(probe)), ChildSpec("y", recorder(probe))], intensity=1, backoff=NO_BACKOFF
    )
    root = Supervisor([ChildSpec("a", recorder(probe)), ChildSpec("inner", inner)], backoff=NO_BACKOFF)
    rt = make_runtime(root)
    rt.tell("x", Crash())
    rt.ask("x", Ping())
    rt.tell("x", Crash())  # second restart within the period: inner gives up, root restarts it
    assert rt.wait_until(lambda: len(probe.of("start", "y")) == 2 and len(probe.of("start", "x")) == 3)
    assert rt.ask("x", Note("back")) == "back"
    assert [e[1] for e in probe.of("stop")] == ["y"]  # inner stopped its surviving child
    assert len(probe.of("start", "a")) == 1  # root's one_for_one left the sibling alone
    assert not rt.stopped


def test_escalation_all_the_way_up_stops_the_runtime(clock: ManualClock) -> None:
    probe = Probe()
    inner = Supervisor([ChildSpec("x", recorder(probe))], intensity=0, backoff=NO_BACKOFF)
    root = Supervisor([ChildSpec("inner", inner)], intensity=0, backoff=NO_BACKOFF)
    rt = Runtime(root, clock=clock)
    rt.start()
    rt.tell("x", Crash())
    assert rt.wait(5)
    assert rt.stop_reason is not None and "supervisor 'root' gave up" in rt.stop_reason
    assert "supervisor 'inner' gave up" in rt.stop_reason


# ---- restart types ------------------------------------------------------------------------------


class Quit(Message, frozen=True):
    """Ask the actor to stop itself normally."""


class Quitter(Actor):
    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def on_start(self) -> None:
        self.probe.record("start", self.name)

    def on_quit(self, message: Quit) -> None:
        self.stop()

    def on_crash(self, message: Crash) -> None:
        raise RuntimeError(message.why)


def test_transient_child_is_restarted_after_a_crash_but_not_after_a_normal_stop(
    make_runtime: Callable[..., Runtime],
) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("t", lambda: Quitter(probe), restart="transient")], backoff=NO_BACKOFF))
    rt.tell("t", Crash())
    assert rt.ask("t", Ping()) == Pong(actor="t")
    assert len(probe.of("start", "t")) == 2
    rt.tell("t", Quit())
    assert rt.wait_until(lambda: rt.status_of("t").state == "stopped")
    with pytest.raises(ActorStoppedError, match="transient"):
        rt.ask("t", Ping())
    assert len(probe.of("start", "t")) == 2


def test_permanent_child_is_restarted_even_after_a_normal_stop(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("p", lambda: Quitter(probe))], backoff=NO_BACKOFF))
    rt.tell("p", Quit())
    assert rt.wait_until(lambda: len(probe.of("start", "p")) == 2)
    assert rt.ask("p", Ping()) == Pong(actor="p")


def test_temporary_child_is_never_restarted_and_its_mail_becomes_dead_letters(
    make_runtime: Callable[..., Runtime],
) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("tmp", recorder(probe), restart="temporary")], backoff=NO_BACKOFF))
    rt.tell("tmp", Block("g"))
    assert probe.wait_for(lambda: bool(probe.of("blocked", "tmp")))
    rt.tell("tmp", Crash())
    rt.tell("tmp", Note("left behind"))
    probe.gate("g").set()
    assert rt.wait_until(lambda: rt.status_of("tmp").state == "stopped")
    assert len(probe.of("start", "tmp")) == 1
    assert any(d.message_type == "Note" and "temporary" in d.reason for d in rt.dead_letters)
    rt.tell("tmp", Note("after"))  # a tell to a stopped actor is a dead letter, not an error
    assert rt.dead_letters[-1].message == Note("after")


# ---- hangs, backoff, start failures ------------------------------------------------------------------


def test_a_hung_actor_is_restarted_like_a_crashed_one(make_runtime: Callable[..., Runtime], clock: ManualClock) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["h"]), watchdog_clock=clock, heartbeat_interval=1.0, hang_timeout=5.0)
    rt.tell("h", Block("never"))
    assert probe.wait_for(lambda: bool(probe.of("blocked", "h")))
    rt.tell("h", Note("queued behind the hang"))
    clock.advance(1.0)  # heartbeat sent; the actor cannot answer
    assert rt.wait_until(lambda: rt.status_of("h").state == "running")
    clock.advance(5.0)  # no answer for the hang timeout: restart
    assert rt.wait_until(lambda: rt.status_of("h").restarts == 1)
    assert rt.ask("h", Count()) == 1  # the new incarnation got the queued note
    assert probe.notes("h") == ["queued behind the hang"]
    [letter] = [d for d in rt.dead_letters if d.message_type == "Block"]
    assert "did not answer a heartbeat for 5.0s while handling Block" in letter.reason
    probe.gate("never").set()  # the abandoned thread finishes and takes nothing more
    assert rt.ask("h", Note("later")) == "later"
    assert probe.notes("h") == ["queued behind the hang", "later"]


def test_an_ask_stuck_in_a_hung_actor_fails_with_hung_error(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["h"]), watchdog_clock=clock, heartbeat_interval=1.0, hang_timeout=2.0)
    outcome: list[BaseException] = []

    def ask_blocking() -> None:
        try:
            rt.ask("h", Block("stuck"), timeout=10)
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            outcome.append(error)

    asker = threading.Thread(target=ask_blocking)
    asker.start()
    assert probe.wait_for(lambda: bool(probe.of("blocked", "h")))
    clock.advance(1.0)
    clock.advance(2.0)
    asker.join(10)
    probe.gate("stuck").set()
    assert len(outcome) == 1 and isinstance(outcome[0], ActorHungError)


def test_business_time_jumps_do_not_make_busy_actors_look_hung(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["busy"]), heartbeat_interval=1.0, hang_timeout=2.0)  # real-time watchdog
    rt.tell("busy", Block("work"))
    assert probe.wait_for(lambda: bool(probe.of("blocked", "busy")))
    clock.advance(24 * 3600.0)  # a simulated day passes in an instant
    probe.gate("work").set()
    assert rt.ask("busy", Note("done")) == "done"
    assert rt.status_of("busy").restarts == 0


def test_an_idle_actor_is_not_mistaken_for_a_hung_one(make_runtime: Callable[..., Runtime], clock: ManualClock) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["idle"]), watchdog_clock=clock, heartbeat_interval=1.0, hang_timeout=2.0)
    for _ in range(10):
        clock.advance(1.0)
    rt.ask("idle", Ping())
    assert rt.status_of("idle").restarts == 0


def test_backoff_delays_the_restart_until_the_clock_moves(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"], backoff=(1.0, 8.0), intensity=10, period=100.0))
    delays = []
    for _ in range(3):
        rt.tell("a", Crash())
        assert rt.wait_until(lambda: rt.status_of("a").state == "restarting")
        before = len(probe.of("start", "a"))
        waited = 0.0
        while len(probe.of("start", "a")) == before:
            clock.advance(0.25)
            waited += 0.25
            probe.wait_for(lambda before=before: len(probe.of("start", "a")) > before, timeout=0.05)
        delays.append(waited)
    assert 0.5 <= delays[0] <= 1.25  # 1 s with up to 50% jitter
    assert 1.0 <= delays[1] <= 2.25  # then 2 s
    assert 2.0 <= delays[2] <= 4.25  # then 4 s


def test_a_child_that_fails_to_start_fails_the_runtime_start(clock: ManualClock) -> None:
    probe = Probe()
    root = Supervisor(
        [ChildSpec("ok", recorder(probe)), ChildSpec("bad", recorder(probe, fail_on_start=lambda: True))],
        backoff=NO_BACKOFF,
    )
    rt = Runtime(root, clock=clock)
    with pytest.raises(StartError, match="bad failed in on_start: RuntimeError: cannot start"):
        rt.start()
    assert [e[1] for e in probe.of("stop")] == ["ok"]  # what had started was stopped again
    assert rt.stopped


def test_a_restart_that_fails_in_on_start_counts_towards_the_intensity(clock: ManualClock) -> None:
    probe = Probe()
    attempts = iter([False, True, True, True, True])
    rt = Runtime(
        Supervisor(
            [ChildSpec("a", recorder(probe, fail_on_start=lambda: next(attempts)))], intensity=2, backoff=NO_BACKOFF
        ),
        clock=clock,
    )
    rt.start()
    rt.tell("a", Crash())
    assert rt.wait(5)
    assert rt.stop_reason is not None and "a failed in on_start" in rt.stop_reason


# ---- addressing and rejections ---------------------------------------------------------------------


def test_an_unknown_name_gets_a_dead_letter_and_a_clear_error(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"]))
    with pytest.raises(UnknownActorError, match=r"no actor named 'nobody' \(known actors: a\)"):
        rt.tell("nobody", Note("hi"))
    with pytest.raises(UnknownActorError):
        rt.ask("nobody", Ping(), timeout=30)  # fails at once, does not wait 30 s
    assert [d.recipient for d in rt.dead_letters] == ["nobody", "nobody"]
    assert rt.dead_letters[0].reason == "no actor has this name"


class Unrelated(Message, frozen=True):
    pass


def test_an_unknown_message_type_gets_a_typed_rejection_not_a_crash(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"]))
    answer = rt.ask("a", Unrelated())
    assert answer == Rejected(reason="a does not handle Unrelated", message_type="Unrelated")
    rt.tell("a", Unrelated())
    rt.ask("a", Ping())
    assert rt.status_of("a").restarts == 0
    assert rt.dead_letters[-1].message_type == "Unrelated"


def test_only_message_structs_can_be_sent(make_runtime: Callable[..., Runtime]) -> None:
    probe = Probe()
    rt = make_runtime(tree(probe, ["a"]))
    with pytest.raises(TypeError, match="Message structs"):
        rt.tell("a", {"type": "Note"})


class AskInside(Message, frozen=True):
    target: str


class Asker(Actor):
    def __init__(self, runtime_box: list[Runtime]) -> None:
        super().__init__()
        self.runtime_box = runtime_box

    def on_ask_inside(self, message: AskInside) -> str:
        try:
            self.runtime_box[0].ask(message.target, Ping())
        except BlockingAskError as error:
            return str(error)
        return "asked"


def test_a_blocking_ask_inside_a_handler_is_refused(make_runtime: Callable[..., Runtime]) -> None:
    box: list[Runtime] = []
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("asker", lambda: Asker(box)), ChildSpec("b", recorder(probe))]))
    box.append(rt)
    assert "use tell with a reply message" in rt.ask("asker", AskInside("b"))


def test_an_actor_built_outside_the_runtime_refuses_to_exist() -> None:
    probe = Probe()
    with pytest.raises(RuntimeError, match="must be created by the runtime"):
        recorder(probe)()


class Later(Message, frozen=True):
    delay: float


class Scheduler(Actor):
    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def on_later(self, message: Later) -> None:
        self.send_later(message.delay, "rec", Note(f"at {self.clock.now() + message.delay:.0f}"))


def test_send_later_waits_for_the_injected_clock(make_runtime: Callable[..., Runtime], clock: ManualClock) -> None:
    probe = Probe()
    rt = make_runtime(Supervisor([ChildSpec("s", lambda: Scheduler(probe)), ChildSpec("rec", recorder(probe))]))
    rt.ask("s", Later(60.0))
    clock.advance(59.0)
    rt.ask("rec", Ping())
    assert probe.notes("rec") == []
    clock.advance(1.0)
    rt.ask("rec", Ping())
    assert probe.notes("rec") == [f"at {clock.now():.0f}"]


def test_stopping_turns_queued_mail_into_dead_letters(clock: ManualClock) -> None:
    probe = Probe()
    rt = Runtime(tree(probe, ["a"]), clock=clock)
    rt.start()
    rt.tell("a", Block("slow"))
    assert probe.wait_for(lambda: bool(probe.of("blocked", "a")))
    rt.tell("a", Note("one"))
    stopper = threading.Thread(target=rt.stop)
    stopper.start()
    assert rt.wait_until(lambda: rt.status_of("a").state == "stopping")
    rt.tell("a", Note("two"))  # behind the stop request: never handled by this incarnation
    probe.gate("slow").set()
    stopper.join(10)
    assert probe.notes("a") == ["one"]
    assert [d.message for d in rt.dead_letters if d.message_type == "Note"] == [Note("two")]
    assert rt.stop_reason == "stopped by request"


def test_the_runtime_answers_its_own_status_under_the_reserved_name(make_runtime: Callable[..., Runtime]) -> None:
    from messages.reports import GetRuntimeStatus, RuntimeStatus

    probe = Probe()
    rt = make_runtime(tree(probe, ["a"]))
    rt.tell("a", Crash())
    rt.ask("a", Ping())
    status = rt.ask("runtime", GetRuntimeStatus())
    assert isinstance(status, RuntimeStatus)
    assert [(s.name, s.restarts) for s in status.actors] == [("a", 1)] and status.dead_letters == 1
    with pytest.raises(ValueError, match="used twice"):
        Runtime(Supervisor([ChildSpec("runtime", recorder(probe))]))
