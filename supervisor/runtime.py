"""The runtime that hosts a supervision tree in one process and addresses actors by name.

`Runtime.tell` / `Runtime.ask` resolve a name at send time to the actor's `Mailbox`, which
outlives restarts, so a restarted actor keeps its mail. One control thread carries out every
supervision decision (restarts, backoff, escalation, heartbeats) so the tree's state has a
single writer; actor threads only report to it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from loguru import logger

from messages.base import Message
from messages.reports import GetRuntimeStatus, RuntimeStatus
from messages.supervision import (
    ChildCount,
    ChildInfo,
    Children,
    ChildState,
    ChildType,
    CountChildren,
    ExitReason,
    RestartChild,
    TerminateChild,
    WhichChildren,
)
from messages.system import ActorStatus, DeadLetter, Ping, Pong, Rejected
from supervisor.clock import Clock, Repeating, SystemClock, call_every
from supervisor.control import ControlThread
from supervisor.errors import (
    ActorCrashedError,
    ActorHungError,
    ActorStoppedError,
    AskTimeoutError,
    BlockingAskError,
    StartError,
    SupervisionError,
    UnknownActorError,
)
from supervisor.hosted import Binding, HostedActor, current_actor, hosting, start_incarnation
from supervisor.mailbox import STOP, Envelope, Mailbox, Reply
from supervisor.restarts import FINAL_STATES, child_down, restart_members
from supervisor.spec import ChildSpec, Supervisor

__all__ = ["SYSTEM_NAME", "Remote", "Runtime"]

SYSTEM_NAME = "runtime"
"""The reserved name the runtime itself answers: `GetRuntimeStatus` and `Ping`."""

log = logger.bind(actor="supervisor")

class Remote(Protocol):
    """Where names hosted in other processes are sent (process mode: the node's link to the hub)."""

    def knows(self, name: str) -> bool: ...

    def tell(self, name: str, message: Any, sender: str | None) -> None: ...


# Node states. "stopped" and "terminated" are final until a restart by hand: the mailbox is
# closed and mail becomes dead letters.
STARTING, RUNNING, STOPPING, DOWN, RESTARTING, STOPPED, TERMINATED = (
    ChildState.STARTING,
    ChildState.RUNNING,
    ChildState.STOPPING,
    ChildState.DOWN,
    ChildState.RESTARTING,
    ChildState.STOPPED,
    ChildState.TERMINATED,
)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class _Node:
    """A child in the running tree: an actor `_Cell` or a nested `_SupNode`."""

    def __init__(self, name: str, spec: ChildSpec | None, parent: _SupNode | None) -> None:
        self.name = name
        self.spec = spec
        self.parent = parent
        self.state: ChildState = DOWN
        self.restarts = 0
        self.last_error: str | None = None
        self.exit_reason: ExitReason | None = None

    def info(self) -> ChildInfo:
        """This child as `which_children` lists it."""
        return ChildInfo(
            name=self.name,
            kind=ChildType.SUPERVISOR if isinstance(self, _SupNode) else ChildType.WORKER,
            state=self.state,
            restart=self.spec.restart if self.spec is not None else "permanent",
            restarts=self.restarts,
            exit_reason=self.exit_reason,
        )


class _Cell(_Node):
    """One named actor: its mailbox (kept across restarts) and its current incarnation."""

    def __init__(self, spec: ChildSpec, parent: _SupNode) -> None:
        super().__init__(spec.name, spec, parent)
        self.mailbox = Mailbox(spec.name)
        self.actor: HostedActor | None = None
        self.incarnation: _Incarnation | None = None
        self.ping = 0
        self.ping_at = 0.0
        self.closed_reason = ""


class _SupNode(_Node):
    """A supervisor in the running tree and its children, in start order."""

    def __init__(self, name: str, policy: Supervisor, spec: ChildSpec | None, parent: _SupNode | None) -> None:
        super().__init__(name, spec, parent)
        self.policy = policy
        self.children: list[_Node] = []
        self.epoch = 0  # bumped whenever the subtree is stopped; stale restart timers check it


class _Incarnation:
    """The runtime side of one actor incarnation: receives its start, crash and stop reports."""

    def __init__(self, runtime: Runtime, cell: _Cell, generation: int) -> None:
        self.runtime = runtime
        self.cell = cell
        self.generation = generation
        self.started = threading.Event()
        self.start_error: BaseException | None = None

    def incarnation_started(self, generation: int, error: BaseException | None) -> None:
        self.start_error = error
        self.started.set()

    def incarnation_crashed(self, generation: int, envelope: Envelope | None, error: BaseException) -> None:
        name = self.cell.name
        if envelope is None:
            reason = f"{name} crashed: {_describe(error)}"
        else:
            reason = f"{name} crashed while handling {type(envelope.message).__name__}: {_describe(error)}"
        log.opt(exception=error).error(reason)
        if envelope is not None:
            self.runtime.dead_letter(name, envelope.message, reason, envelope.sender)
            if envelope.reply_to is not None:
                envelope.reply_to.fail(
                    ActorCrashedError(f"{reason}; the message was dead-lettered and {name} is being restarted")
                )
        self.runtime._post(self.runtime._incarnation_ended, self, ExitReason.CRASH, reason)

    def incarnation_stopped(self, generation: int) -> None:
        self.runtime._post(self.runtime._incarnation_ended, self, ExitReason.NORMAL, f"{self.cell.name} stopped")


class Runtime:
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
        self.watchdog_clock: Clock = watchdog_clock or (self.clock if isinstance(self.clock, SystemClock) else SystemClock())
        self.heartbeat_interval = heartbeat_interval
        self.hang_timeout = hang_timeout
        self.start_timeout = start_timeout
        self._cells: dict[str, _Cell] = {}
        self._supervisors: dict[str, _SupNode] = {}
        self._root = self._build("root", policy, None, None)
        self._control = ControlThread("supervisor", self._control_failed)
        self._stopped = threading.Event()
        self._stop_reason: str | None = None
        self._watchdog: Repeating | None = None
        self._dead_letters: deque[DeadLetter] = deque(maxlen=dead_letter_limit)
        self._dead_letter_count = 0
        self.remote = remote

    def _build(self, name: str, policy: Supervisor, spec: ChildSpec | None, parent: _SupNode | None) -> _SupNode:
        node = _SupNode(name, policy, spec, parent)
        self._supervisors[name] = node
        for child in policy.children:
            node.children.append(self._build_child(child, node))
        return node

    def _build_child(self, child: ChildSpec, parent: _SupNode) -> _Node:
        if child.name in self._cells or child.name in self._supervisors or child.name in ("root", SYSTEM_NAME):
            raise ValueError(f"actor name {child.name!r} is used twice in the tree")
        if isinstance(child.factory, Supervisor):
            return self._build(child.name, child.factory, child, parent)
        cell = _Cell(child, parent)
        self._cells[child.name] = cell
        return cell

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

    # ---- addressing ----------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Every actor name in the tree, in start order."""
        return list(self._cells)

    def knows(self, name: str) -> bool:
        """True when ``name`` is an actor of this tree (or of the process-mode system behind it)."""
        return name in self._cells or (self.remote is not None and self.remote.knows(name))

    def _cell(self, name: str, message: Any, sender: str | None) -> _Cell:
        cell = self._cells.get(name)
        if cell is None:
            self.dead_letter(name, message, "no actor has this name", sender)
            known = ", ".join(sorted(self._cells)) or "none"
            raise UnknownActorError(f"no actor named {name!r} (known actors: {known})")
        if not isinstance(message, Message):
            raise TypeError(f"messages must be Message structs, not {type(message).__name__}")
        return cell

    def tell(self, name: str, message: Any, sender: str | None = None) -> None:
        """Queue ``message`` for the actor called ``name``; never blocks.

        Raises `UnknownActorError` for a name not in the tree. Mail for an actor that is
        restarting waits for it; mail for one stopped for good becomes a dead letter.
        """
        if name not in self._cells and self.remote is not None and self.remote.knows(name):
            if not isinstance(message, Message):
                raise TypeError(f"messages must be Message structs, not {type(message).__name__}")
            self.remote.tell(name, message, sender)
            return
        if name == SYSTEM_NAME:
            answer = self._system_answer(message)
            if sender is not None:
                self.tell(sender, answer, SYSTEM_NAME)
            return
        cell = self._cell(name, message, sender)
        if not cell.mailbox.put(Envelope(message, sender)):
            self.dead_letter(name, message, cell.closed_reason, sender)

    def deliver(self, name: str, envelope: Envelope) -> bool:
        """Queue an envelope that arrived from outside this process (process mode); False if ``name``
        is not here or is stopped for good (it is then dead-lettered and its receipt called)."""
        cell = self._cells.get(name)
        if cell is not None and cell.mailbox.put(envelope):
            return True
        reason = cell.closed_reason if cell is not None else "no actor has this name in this process"
        self.dead_letter(name, envelope.message, reason, envelope.sender)
        if envelope.reply_to is not None:
            envelope.reply_to.fail(ActorStoppedError(f"{name}: {reason}"))
        if envelope.receipt is not None:
            envelope.receipt()
        return False

    def ask(self, name: str, message: Any, timeout: float | None = 5.0) -> Any:
        """Send ``message`` and wait for the handler's return value. For the outside world only.

        Raises `AskTimeoutError`, `ActorCrashedError` (this message crashed the actor),
        `ActorHungError`, `ActorStoppedError` or `UnknownActorError`; inside an actor's
        handler it raises `BlockingAskError` (use tell plus a reply message there).
        """
        actor = current_actor()
        if actor is not None:
            raise BlockingAskError(
                f"{actor.name} called ask({name!r}, {type(message).__name__}) inside a handler; "
                "use tell with a reply message and a correlation id instead"
            )
        if name == SYSTEM_NAME:
            return self._system_answer(message)
        cell = self._cell(name, message, None)
        reply = Reply()
        if not cell.mailbox.put(Envelope(message, None, reply)):
            self.dead_letter(name, message, cell.closed_reason, None)
            raise ActorStoppedError(f"{name} is stopped ({cell.closed_reason}); {type(message).__name__} not delivered")
        try:
            return reply.wait(timeout)
        except TimeoutError:
            raise AskTimeoutError(
                f"{name} did not answer {type(message).__name__} within {timeout}s (it stays queued)"
            ) from None

    # ---- dead letters and status -----------------------------------------------------------

    def dead_letter(self, recipient: str, message: Any, reason: str, sender: str | None = None) -> None:
        """Record a message that could not be delivered or handled (and log it)."""
        letter = DeadLetter(
            recipient=recipient,
            reason=reason,
            message_type=type(message).__name__,
            message=message,
            sender=sender,
        )
        self._dead_letters.append(letter)
        self._dead_letter_count += 1
        log.warning("dead letter to {}: {} ({})", recipient, letter.message_type, reason)

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """The most recent dead letters, oldest first."""
        return list(self._dead_letters)

    @property
    def dead_letter_count(self) -> int:
        return self._dead_letter_count

    def status(self) -> list[ActorStatus]:
        """Every actor's state, restart count, mailbox depth and last error."""
        return [
            ActorStatus(
                name=cell.name,
                state=cell.state,
                restarts=cell.restarts,
                mailbox=len(cell.mailbox),
                last_error=cell.last_error,
                supervisor=cell.parent.name if cell.parent else "",
                exit_reason=cell.exit_reason,
            )
            for cell in self._cells.values()
        ]

    def _system_answer(self, message: Any) -> Message:
        """What the runtime itself answers when addressed as ``"runtime"``."""
        try:
            if isinstance(message, WhichChildren):
                return Children(supervisor=message.supervisor, children=self.which_children(message.supervisor))
            if isinstance(message, CountChildren):
                return self.count_children(message.supervisor)
            if isinstance(message, RestartChild):
                return self.restart_child(message.name)
            if isinstance(message, TerminateChild):
                return self.terminate_child(message.name)
        except (SupervisionError, StartError, BlockingAskError) as error:
            return Rejected(reason=str(error), message_type=type(message).__name__)
        if isinstance(message, GetRuntimeStatus):
            return RuntimeStatus(actors=self.status(), dead_letters=self._dead_letter_count)
        if isinstance(message, Ping):
            return Pong(actor=SYSTEM_NAME, nonce=message.nonce)
        return Rejected(reason=f"the runtime does not handle {type(message).__name__}", message_type=type(message).__name__)

    def status_of(self, name: str) -> ActorStatus:
        for entry in self.status():
            if entry.name == name:
                return entry
        raise UnknownActorError(f"no actor named {name!r}")

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` holds, re-checking after each supervision event; False on timeout."""
        return self._control.wait_until(predicate, timeout)

    # ---- child management (OTP's supervisor API) ------------------------------------------------

    def which_children(self, supervisor: str = "root") -> list[ChildInfo]:
        """The children of ``supervisor`` in start order: name, worker/supervisor, state, restart type."""
        return [child.info() for child in self._supervisor(supervisor).children]

    def count_children(self, supervisor: str = "root") -> ChildCount:
        """How many children ``supervisor`` has: specs, running, supervisors, workers."""
        children = self._supervisor(supervisor).children
        supervisors = sum(isinstance(child, _SupNode) for child in children)
        return ChildCount(
            specs=len(children),
            active=sum(child.state == RUNNING for child in children),
            supervisors=supervisors,
            workers=len(children) - supervisors,
        )

    def start_child(self, spec: ChildSpec, supervisor: str = "root") -> ChildInfo:
        """Add ``spec`` as the last child of ``supervisor`` and start it; `StartError` (and not added) if it fails."""
        return self._call(self._start_child, spec, supervisor)  # type: ignore[no-any-return]

    def terminate_child(self, name: str) -> ChildInfo:
        """Stop child ``name`` (a subtree if it is a supervisor) and keep it stopped until `restart_child`.

        Its spec stays; mail sent to it meanwhile becomes dead letters.
        """
        return self._call(self._terminate_child, name)  # type: ignore[no-any-return]

    def restart_child(self, name: str) -> ChildInfo:
        """Start child ``name`` again: a terminated or stopped one, or a running one (stopped first).

        OTP refuses a running child; here an operator's restart of a running actor is a stop
        (exit reason shutdown, not counted towards the intensity) and a start.
        """
        return self._call(self._restart_child, name)  # type: ignore[no-any-return]

    def delete_child(self, name: str) -> None:
        """Forget the terminated or stopped child ``name``: its name becomes unknown."""
        self._call(self._delete_child, name)

    def _supervisor(self, name: str) -> _SupNode:
        node = self._supervisors.get(name)
        if node is None:
            raise SupervisionError(f"no supervisor named {name!r} (supervisors: {', '.join(self._supervisors)})")
        return node

    def _child(self, name: str) -> _Node:
        node: _Node | None = self._cells.get(name) or self._supervisors.get(name)
        if node is None or node.parent is None:
            raise SupervisionError(f"no child named {name!r}")
        return node

    def _call(self, handler: Callable[..., Any], *args: Any) -> Any:
        """Run ``handler(*args)`` on the control thread and wait for its result (or its error)."""
        actor = current_actor()
        if actor is not None:
            raise BlockingAskError(f"{actor.name} managed children inside a handler; tell \"runtime\" a command instead")
        if self._stopped.is_set() or not self._control.started:
            raise SupervisionError("the runtime is not running")
        reply = Reply()

        def run() -> None:
            try:
                reply.set(handler(*args))
            except Exception as error:  # handed to the caller
                reply.fail(error)

        self._post(run)
        return reply.wait(None)

    def _start_child(self, spec: ChildSpec, supervisor: str) -> ChildInfo:
        parent = self._supervisor(supervisor)
        try:
            node = self._build_child(spec, parent)
        except ValueError as error:
            raise SupervisionError(str(error)) from None
        parent.children.append(node)
        error = self._start_node(node)
        if error is not None:
            self._forget(node)
            raise StartError(error)
        return node.info()

    def _terminate_child(self, name: str) -> ChildInfo:
        node = self._child(name)
        if node.state not in FINAL_STATES:
            node.exit_reason = ExitReason.SHUTDOWN
            self._stop_node(node, final_reason=f"{name} was terminated (terminate_child)", state=TERMINATED)
        return node.info()

    def _restart_child(self, name: str) -> ChildInfo:
        node = self._child(name)
        if node.state not in FINAL_STATES:
            node.exit_reason = ExitReason.SHUTDOWN
            self._stop_node(node)
        self._reopen(node)
        node.restarts += 1
        error = self._start_node(node)
        if error is not None:
            self._stop_node(node, final_reason=error, state=TERMINATED)
            raise StartError(error)
        return node.info()

    def _delete_child(self, name: str) -> None:
        node = self._child(name)
        if node.state not in FINAL_STATES:
            raise SupervisionError(f"{name} is {node.state}: terminate it before deleting it")
        self._forget(node)

    def _forget(self, node: _Node) -> None:
        assert node.parent is not None
        node.parent.children.remove(node)
        if isinstance(node, _SupNode):
            for child in list(node.children):
                self._forget(child)
            del self._supervisors[node.name]
        else:
            del self._cells[node.name]

    def _reopen(self, node: _Node) -> None:
        """Let a closed child (or subtree) take mail again, for a start by hand or with its restarted parent."""
        if isinstance(node, _SupNode):
            for child in node.children:
                self._reopen(child)
        elif isinstance(node, _Cell):
            node.mailbox.reopen()
            node.closed_reason = ""
        if node.state in FINAL_STATES:
            node.state = DOWN

    # ---- the control thread ------------------------------------------------------------------

    def _post(self, handler: Callable[..., Any], *args: Any) -> None:
        self._control.post(handler, *args)

    def _control_failed(self, error: BaseException) -> None:
        """A bug in the runtime itself: stop rather than limp on."""
        log.opt(exception=error).critical("supervisor control failed")
        if not self._stopped.is_set():
            self._shutdown(f"supervisor control failed: {_describe(error)}")

    def _start_tree(self, result: Reply) -> None:
        error = self._start_node(self._root, initial=True)
        if error is None:
            self._watchdog = call_every(
                self.watchdog_clock, self.heartbeat_interval, lambda now: self._post(self._check_heartbeats, now)
            )
        result.set(error)

    def _start_node(self, node: _Node, initial: bool = False) -> str | None:
        """Start ``node`` (and its subtree, in order); the failure reason, or None."""
        if isinstance(node, _SupNode):
            node.policy.reset()
            node.epoch += 1
            if not initial:
                self._reopen(node)  # a restarted supervisor starts all its children afresh, as OTP's init
            for child in node.children:
                error = self._start_node(child, initial)
                if error is not None:
                    for started in reversed(node.children[: node.children.index(child)]):
                        self._stop_node(started)
                    node.state = DOWN
                    return error
            node.state = RUNNING
            return None
        assert isinstance(node, _Cell) and node.spec is not None
        cell, spec = node, node.spec
        generation = cell.mailbox.grant()
        incarnation = _Incarnation(self, cell, generation)
        binding = Binding(cell.name, cell.mailbox, generation, self, self.clock, incarnation)
        try:
            with hosting(binding):
                actor = spec.factory()  # type: ignore[operator]
            if not isinstance(actor, HostedActor):
                raise TypeError(f"factory of {cell.name!r} returned {type(actor).__name__}, not an Actor")
            cell.actor, cell.incarnation, cell.state, cell.ping = actor, incarnation, STARTING, 0
            start_incarnation(actor)
        except Exception as error:
            return self._start_failed(cell, generation, f"{cell.name} could not be created: {_describe(error)}", error)
        if not incarnation.started.wait(self.start_timeout):
            actor.actor_stopped.set()
            return self._start_failed(cell, generation, f"{cell.name} did not finish on_start within {self.start_timeout}s")
        if incarnation.start_error is not None:
            failure = incarnation.start_error
            return self._start_failed(cell, generation, f"{cell.name} failed in on_start: {_describe(failure)}", failure)
        cell.state = RUNNING
        if not initial:
            log.info("{} restarted (restart #{})", cell.name, cell.restarts)
        return None

    def _start_failed(self, cell: _Cell, generation: int, reason: str, error: BaseException | None = None) -> str:
        cell.mailbox.revoke(generation)
        cell.actor, cell.incarnation, cell.state, cell.last_error = None, None, DOWN, reason
        log.opt(exception=error).error(reason)
        return reason

    def _stop_node(self, node: _Node, final_reason: str | None = None, state: ChildState = STOPPED) -> None:
        """Stop ``node`` (a subtree: children in reverse order) and wait for it, up to its shutdown timeout.

        With ``final_reason`` the mailboxes are closed for good (the node ends in ``state``): queued
        mail becomes dead letters. A node already stopped for good stays as it is.
        """
        if node.state in FINAL_STATES:
            return
        if isinstance(node, _SupNode):
            node.epoch += 1
            for child in reversed(node.children):
                self._stop_node(child, final_reason, state)
            node.state = state if final_reason else DOWN
            return
        assert isinstance(node, _Cell) and node.spec is not None
        cell, actor, spec = node, node.actor, node.spec
        if cell.state == RUNNING and actor is not None:
            cell.state = STOPPING
            cell.exit_reason = ExitReason.SHUTDOWN
            self._control.notify_changed()  # observers may wait for 'stopping'
            if spec.shutdown_timeout == 0:  # brutal kill: no stop request, no on_stop
                log.info("{} killed (shutdown_timeout 0); its thread is abandoned", cell.name)
                cell.mailbox.revoke(cell.incarnation.generation if cell.incarnation else None)
                actor.actor_stopped.set()
            else:
                stop = Envelope(STOP)
                cell.mailbox.put(stop)
                if not actor.actor_stopped.wait(spec.shutdown_timeout):
                    log.warning("{} did not stop within {}s; abandoning its thread", cell.name, spec.shutdown_timeout)
                    cell.mailbox.revoke(cell.incarnation.generation if cell.incarnation else None)
                    actor.actor_stopped.set()
                cell.mailbox.remove(stop)  # still queued if it crashed first
        cell.actor, cell.incarnation = None, None
        cell.state = DOWN
        if final_reason is not None:
            self._close(cell, final_reason, state)

    def _close(self, cell: _Cell, reason: str, state: ChildState = STOPPED) -> None:
        cell.state = state
        cell.closed_reason = reason
        for envelope in cell.mailbox.close():
            self.dead_letter(cell.name, envelope.message, reason, envelope.sender)
            if envelope.reply_to is not None:
                envelope.reply_to.fail(ActorStoppedError(f"{cell.name} stopped before handling it: {reason}"))
            if envelope.receipt is not None:
                envelope.receipt()

    def _incarnation_ended(self, incarnation: _Incarnation, reason: ExitReason, text: str) -> None:
        cell = incarnation.cell
        if cell.incarnation is not incarnation or cell.state != RUNNING:
            return  # expected (we were stopping it) or stale
        cell.actor, cell.incarnation, cell.state = None, None, DOWN
        if reason.abnormal:
            cell.last_error = text
        self._child_down(cell, reason, text)

    def _child_down(self, node: _Node, reason: ExitReason, text: str) -> None:
        """Apply the parent's policy to a child that just went down."""
        parent = node.parent
        assert parent is not None
        node.exit_reason = reason
        if self._stopped.is_set() or parent.state != RUNNING:
            return
        child_down(parent.policy, parent.children, node, reason, text, self.clock.now(), _Group(self, parent))

    def _restart_group(self, parent: _SupNode, group: list[_Node], epoch: int) -> None:
        if epoch != parent.epoch or parent.state != RUNNING or self._stopped.is_set():
            return  # the supervisor was stopped or restarted meanwhile
        restart_members(group, _Group(self, parent), self._child_down)

    def _escalate(self, supervisor: _SupNode, reason: str) -> None:
        why = f"supervisor {supervisor.name!r} gave up: {reason}"
        log.error(why)
        self._stop_node(supervisor)
        supervisor.last_error = why
        if supervisor.parent is None:
            self._shutdown(why)
        else:
            self._child_down(supervisor, ExitReason.CRASH, why)

    def _shutdown(self, reason: str) -> None:
        if self._stopped.is_set():
            return
        if self._watchdog is not None:
            self._watchdog.cancel()
        if reason != "stopped by request":
            log.critical("runtime stopping: {}", reason)
        else:
            log.info("runtime stopping: {}", reason)
        self._root.state = STOPPING
        self._stop_node(self._root, final_reason=f"runtime stopped ({reason})")
        self._stop_reason = reason
        self._stopped.set()
        self._control.finish()

    # ---- heartbeats --------------------------------------------------------------------------

    def _check_heartbeats(self, now: float) -> None:
        if self._stopped.is_set():
            return
        for cell in list(self._cells.values()):
            if cell.state != RUNNING or cell.actor is None:
                continue
            if cell.ping and not cell.mailbox.answered(cell.ping):
                if now - cell.ping_at >= self.hang_timeout:
                    self._hung(cell)
            else:
                cell.ping, cell.ping_at = cell.mailbox.ping(), now

    def _hung(self, cell: _Cell) -> None:
        actor, incarnation = cell.actor, cell.incarnation
        assert actor is not None and incarnation is not None
        envelope = actor.current_envelope
        doing = f" while handling {type(envelope.message).__name__}" if envelope is not None else ""
        reason = f"{cell.name} did not answer a heartbeat for {self.hang_timeout}s{doing}"
        log.error("{}; restarting it and abandoning its thread", reason)
        cell.mailbox.revoke(incarnation.generation)
        actor.actor_stopped.set()
        if envelope is not None:
            self.dead_letter(cell.name, envelope.message, reason, envelope.sender)
            if envelope.reply_to is not None:
                envelope.reply_to.fail(ActorHungError(reason))
            if envelope.receipt is not None:
                envelope.receipt()
        cell.actor, cell.incarnation, cell.state, cell.last_error = None, None, DOWN, reason
        self._child_down(cell, ExitReason.HANG, reason)


class _Group:
    """How `supervisor.restarts` acts on the children of one supervisor of a `Runtime`."""

    def __init__(self, runtime: Runtime, parent: _SupNode) -> None:
        self.runtime = runtime
        self.parent = parent

    def stop_child(self, member: _Node) -> None:
        self.runtime._stop_node(member)

    def stop_for_good(self, member: _Node, why: str) -> None:
        self.runtime._stop_node(member, final_reason=why)

    def escalate(self, why: str) -> None:
        self.runtime._escalate(self.parent, why)

    def schedule_restart(self, members: list[_Node], delay: float) -> None:
        runtime, parent, epoch = self.runtime, self.parent, self.parent.epoch
        if delay > 0:
            runtime.clock.call_later(delay, lambda: runtime._post(runtime._restart_group, parent, members, epoch))
        else:
            runtime._post(runtime._restart_group, parent, members, epoch)  # an event of its own: no recursion

    def start(self, member: _Node) -> str | None:
        member.restarts += 1
        error = self.runtime._start_node(member)
        if error is not None:
            member.state, member.last_error = DOWN, error
        return error
