"""The runtime that hosts a supervision tree in one process and addresses actors by name.

`Runtime.tell` / `Runtime.ask` resolve a name at send time to the actor's `Mailbox`, which
outlives restarts, so a restarted actor keeps its mail. One control thread carries out every
supervision decision (restarts, backoff, escalation, heartbeats) so the tree's state has a
single writer; actor threads only report to it. The parts, one mechanism per module:
`supervisor.tree` (the nodes), `addressing` (names, mail, dead letters), `decisions` (start,
stop, restart, escalate), `watchdog` (heartbeats), `children` (OTP's child management).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from messages.base import Message
from messages.reports import GetRuntimeStatus, RuntimeStatus
from messages.system import DeadLetter, Ping, Pong, Rejected
from supervisor.addressing import Remote
from supervisor.child_commands import CHILD_COMMANDS, answer_child_command
from supervisor.children import ChildManagement, OnControlThread
from supervisor.clock import Clock, Repeating, SystemClock, call_every
from supervisor.control import ControlThread
from supervisor.errors import StartError
from supervisor.hosted import HostedActor, current_actor
from supervisor.mailbox import Mailbox, Reply
from supervisor.spec import ChildSpec, Supervisor
from supervisor.tree import SYSTEM_NAME, describe, log

__all__ = ["SYSTEM_NAME", "Remote", "Runtime"]


class Runtime(ChildManagement):
    """Hosts a supervision tree of actors in this process and routes messages to them by name.

    ``root`` is a `Supervisor` or a list of `ChildSpec` (supervised one_for_one with the
    defaults). Use as a context manager, or call `start` and `stop`. If the root supervisor
    gives up (restart intensity exceeded) the runtime stops by itself; `wait` returns then
    and `stop_reason` says why.

    ``heartbeat_interval``: how often each running actor is sent a heartbeat.
    ``hang_timeout``: an actor that has not answered a heartbeat for this long is restarted.
    ``clock`` is business time (backoff, restart intensity, actors' timers). Heartbeats run on
    ``watchdog_clock``, real time unless given, even when ``clock`` is a `ManualClock`: they
    measure whether a thread is responsive, and a test that jumps business time by a day
    must not make every busy actor look hung.

    Children are managed at run time like OTP's: `start_child`, `terminate_child`,
    `restart_child`, `delete_child`, `which_children`, `count_children` (each names the
    supervisor, "root" for the top). A child's ``shutdown_timeout`` of 0 is OTP's brutal kill:
    the runtime sends no stop request and waits for nothing; the incarnation's generation is
    revoked, so it takes no more mail, and ``on_stop`` never runs. A Python thread cannot be
    killed: a handler in progress runs to its end on the abandoned (daemon) thread.
    """

    def __init__(
        self,
        root: Supervisor | Sequence[ChildSpec],
        *,
        clock: Clock | None = None,
        watchdog_clock: Clock | None = None,
        heartbeat_interval: float = 1.0,
        hang_timeout: float = 30.0,
        start_timeout: float = 30.0,
        dead_letter_limit: int = 10_000,
        remote: Remote | None = None,
    ) -> None:
        if not (heartbeat_interval > 0 and hang_timeout > 0 and start_timeout > 0):
            raise ValueError("heartbeat_interval, hang_timeout and start_timeout must be > 0")
        policy = root if isinstance(root, Supervisor) else Supervisor(list(root))
        self.clock: Clock = clock or SystemClock()
        self.watchdog_clock: Clock = watchdog_clock or (
            self.clock if isinstance(self.clock, SystemClock) else SystemClock()
        )
        self.heartbeat_interval = heartbeat_interval
        self.hang_timeout = hang_timeout
        self.start_timeout = start_timeout
        super().__init__(policy)
        self._control = ControlThread("supervisor", self._control_failed)
        self._stopped = threading.Event()
        self._stop_reason: str | None = None
        self._watchdog: Repeating | None = None
        self._dead_letters: deque[DeadLetter] = deque(maxlen=dead_letter_limit)
        self._dead_letter_count = 0
        self.remote = remote

    # ---- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> Runtime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start every child in order; raise `StartError` (with nothing left running) if one fails."""
        if self._control.started:
            raise RuntimeError("this runtime was already started")
        self._control.start()
        result: Reply = Reply()
        self._post(self._start_tree, result)
        error = result.wait(None)
        if error is not None:
            self.stop(f"start failed: {error}")
            raise StartError(error)

    def stop(self, reason: str = "stopped by request", timeout: float | None = 60.0) -> bool:
        """Stop every child in reverse order; queued mail becomes dead letters. Idempotent.

        True once the runtime has stopped; False if it was still stopping after ``timeout``
        seconds (or when called from inside a handler, which must not wait: it stops soon after).
        """
        control = self._control
        if not control.started:
            return True
        if not self._stopped.is_set():
            self._post(self._shutdown, reason)
        if current_actor() is None:
            control.join(timeout)
        return self._stopped.is_set()

    def incarnation(self, name: str) -> HostedActor | None:
        """The object of actor ``name``'s current incarnation (None while it restarts, or if there is no
        such actor). For a harness that reads an actor between its turns (the simulation); actors
        talk to each other by messages only."""
        cell = self._cells.get(name)
        return cell.actor if cell is not None else None

    def use_mailbox(self, name: str, mailbox: Mailbox) -> None:
        """Give actor ``name`` this mailbox instead of a plain one, before `start` (how a process-mode
        node's actor polls its link while idle: `supervisor.transport.pump`)."""
        if self._control.started:
            raise RuntimeError("a mailbox can only be replaced before the runtime starts")
        self._cells[name].mailbox = mailbox

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the runtime has stopped (by `stop` or by escalation); False on timeout."""
        return self._stopped.wait(timeout)

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    @property
    def stop_reason(self) -> str | None:
        """Why the runtime stopped, once it has."""
        return self._stop_reason

    def _system_answer(self, message: Any) -> Message:
        """What the runtime itself answers when addressed as ``"runtime"``."""
        if isinstance(message, CHILD_COMMANDS):
            return answer_child_command(self, message)
        if isinstance(message, GetRuntimeStatus):
            return RuntimeStatus(actors=self.status(), dead_letters=self._dead_letter_count)
        if isinstance(message, Ping):
            return Pong(actor=SYSTEM_NAME, nonce=message.nonce)
        return Rejected(
            reason=f"the runtime does not handle {type(message).__name__}", message_type=type(message).__name__
        )

    def _told_to_runtime(self, message: Any, sender: str | None) -> None:
        """A child command told by an actor runs on the control thread (a handler must not wait for it)."""
        if isinstance(message, CHILD_COMMANDS) and current_actor() is not None:
            self._post(self._answer_told, message, sender)
        else:
            super()._told_to_runtime(message, sender)

    def _answer_told(self, message: Message, sender: str | None) -> None:
        answer = answer_child_command(OnControlThread(self), message)
        if sender is not None:
            self.tell(sender, answer, SYSTEM_NAME)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` holds, re-checking after each supervision event; False on timeout."""
        return self._control.wait_until(predicate, timeout)

    def _post(self, handler: Callable[..., Any], *args: Any) -> None:
        self._control.post(handler, *args)

    def _control_failed(self, error: BaseException) -> None:
        """A bug in the runtime itself: stop rather than limp on."""
        log.opt(exception=error).critical("supervisor control failed")
        if not self._stopped.is_set():
            self._shutdown(f"supervisor control failed: {describe(error)}")

    def _start_tree(self, result: Reply) -> None:
        error = self._start_node(self._root, initial=True)
        if error is None:
            self._watchdog = call_every(
                self.watchdog_clock, self.heartbeat_interval, lambda now: self._post(self._check_heartbeats, now)
            )
        result.set(error)
