"""The running tree in one process: actor cells (a mailbox kept across restarts), nested supervisors,
incarnations, and `Tree`, the state and construction every other part of `Runtime` builds on."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from loguru import logger

from messages.supervision import ChildInfo, ChildState, ChildType, ExitReason
from supervisor.clock import Clock, Repeating
from supervisor.control import ControlThread
from supervisor.errors import ActorCrashedError
from supervisor.hosted import HostedActor
from supervisor.mailbox import Envelope, Mailbox
from supervisor.spec import ChildSpec, Supervisor

__all__ = ["SYSTEM_NAME", "Cell", "Incarnation", "Node", "SupNode", "Tree"]

SYSTEM_NAME = "runtime"
"""The reserved name the runtime itself answers: `GetRuntimeStatus`, `Ping` and the child commands."""

log = logger.bind(actor="supervisor")

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


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class Node:
    """A child in the running tree: an actor `Cell` or a nested `SupNode`."""

    def __init__(self, name: str, spec: ChildSpec | None, parent: SupNode | None) -> None:
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
            kind=ChildType.SUPERVISOR if isinstance(self, SupNode) else ChildType.WORKER,
            state=self.state,
            restart=self.spec.restart if self.spec is not None else "permanent",
            restarts=self.restarts,
            exit_reason=self.exit_reason,
        )


class Cell(Node):
    """One named actor: its mailbox (kept across restarts) and its current incarnation."""

    def __init__(self, spec: ChildSpec, parent: SupNode) -> None:
        super().__init__(spec.name, spec, parent)
        self.mailbox = Mailbox(spec.name)
        self.actor: HostedActor | None = None
        self.incarnation: Incarnation | None = None
        self.ping = 0
        self.ping_at = 0.0
        self.closed_reason = ""


class SupNode(Node):
    """A supervisor in the running tree and its children, in start order."""

    def __init__(self, name: str, policy: Supervisor, spec: ChildSpec | None, parent: SupNode | None) -> None:
        super().__init__(name, spec, parent)
        self.policy = policy
        self.children: list[Node] = []
        self.epoch = 0  # bumped whenever the subtree is stopped; stale restart timers check it


class Incarnation:
    """The runtime side of one actor incarnation: receives its start, crash and stop reports."""

    def __init__(self, runtime: Reports, cell: Cell, generation: int) -> None:
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
            reason = f"{name} crashed: {describe(error)}"
        else:
            reason = f"{name} crashed while handling {type(envelope.message).__name__}: {describe(error)}"
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


class Reports(Protocol):
    """Where an `Incarnation` reports to (the runtime's control thread and dead letters)."""

    def _post(self, handler: Any, *args: Any) -> None: ...

    def _incarnation_ended(self, incarnation: Incarnation, reason: ExitReason, text: str) -> None: ...

    def dead_letter(self, recipient: str, message: Any, reason: str, sender: str | None = None) -> None: ...


class Tree:
    """The tree's state (single writer: the control thread) and how it is built from the specs."""

    clock: Clock
    watchdog_clock: Clock
    heartbeat_interval: float
    hang_timeout: float
    start_timeout: float
    _control: ControlThread
    _stopped: threading.Event
    _stop_reason: str | None
    _watchdog: Repeating | None

    def __init__(self, policy: Supervisor) -> None:
        self._cells: dict[str, Cell] = {}
        self._supervisors: dict[str, SupNode] = {}
        self._root = self._build("root", policy, None, None)

    def _post(self, handler: Any, *args: Any) -> None:
        self._control.post(handler, *args)

    def _build(self, name: str, policy: Supervisor, spec: ChildSpec | None, parent: SupNode | None) -> SupNode:
        node = SupNode(name, policy, spec, parent)
        self._supervisors[name] = node
        for child in policy.children:
            node.children.append(self._build_child(child, node))
        return node

    def _build_child(self, child: ChildSpec, parent: SupNode) -> Node:
        if child.name in self._cells or child.name in self._supervisors or child.name in ("root", SYSTEM_NAME):
            raise ValueError(f"actor name {child.name!r} is used twice in the tree")
        if isinstance(child.factory, Supervisor):
            return self._build(child.name, child.factory, child, parent)
        cell = Cell(child, parent)
        self._cells[child.name] = cell
        return cell
