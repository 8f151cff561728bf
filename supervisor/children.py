"""Child management at run time, OTP's API: start, terminate, restart and delete a child; list and count them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from messages.supervision import ChildCount, ChildInfo, ExitReason
from supervisor.errors import BlockingAskError, StartError, SupervisionError
from supervisor.hosted import current_actor
from supervisor.mailbox import Reply
from supervisor.restarts import FINAL_STATES
from supervisor.spec import ChildSpec
from supervisor.tree import RUNNING, TERMINATED, Node, SupNode
from supervisor.watchdog import Watchdog

__all__ = ["ChildManagement", "OnControlThread"]

T = TypeVar("T")


class ChildManagement(Watchdog):
    """Each call names a supervisor ("root" is the top) or a child, and runs on the control thread."""

    def which_children(self, supervisor: str = "root") -> list[ChildInfo]:
        """The children of ``supervisor`` in start order: name, worker/supervisor, state, restart type."""
        return [child.info() for child in self._supervisor(supervisor).children]

    def count_children(self, supervisor: str = "root") -> ChildCount:
        """How many children ``supervisor`` has: specs, running, supervisors, workers."""
        children = self._supervisor(supervisor).children
        supervisors = sum(isinstance(child, SupNode) for child in children)
        return ChildCount(
            specs=len(children),
            active=sum(child.state == RUNNING for child in children),
            supervisors=supervisors,
            workers=len(children) - supervisors,
        )

    def start_child(self, spec: ChildSpec, supervisor: str = "root") -> ChildInfo:
        """Add ``spec`` as the last child of ``supervisor`` and start it; `StartError` (and not added) if it fails."""
        return self._call(self._start_child, spec, supervisor)

    def terminate_child(self, name: str) -> ChildInfo:
        """Stop child ``name`` (a subtree if it is a supervisor) and keep it stopped until `restart_child`.

        Its spec stays; mail sent to it meanwhile becomes dead letters.
        """
        return self._call(self._terminate_child, name)

    def restart_child(self, name: str) -> ChildInfo:
        """Start child ``name`` again: a terminated or stopped one, or a running one (stopped first).

        OTP refuses a running child; here an operator's restart of a running actor is a stop
        (exit reason shutdown, not counted towards the intensity) and a start.
        """
        return self._call(self._restart_child, name)

    def delete_child(self, name: str) -> None:
        """Forget the terminated or stopped child ``name``: its name becomes unknown."""
        self._call(self._delete_child, name)

    def _supervisor(self, name: str) -> SupNode:
        node = self._supervisors.get(name)
        if node is None:
            raise SupervisionError(f"no supervisor named {name!r} (supervisors: {', '.join(self._supervisors)})")
        return node

    def _child(self, name: str) -> Node:
        node: Node | None = self._cells.get(name) or self._supervisors.get(name)
        if node is None or node.parent is None:
            raise SupervisionError(f"no child named {name!r}")
        return node

    def _call(self, handler: Callable[..., T], *args: Any) -> T:
        """Run ``handler(*args)`` on the control thread and wait for its result (or its error)."""
        actor = current_actor()
        if actor is not None:
            raise BlockingAskError(f'{actor.name} managed children inside a handler; tell "runtime" a command instead')
        if self._stopped.is_set() or not self._control.started:
            raise SupervisionError("the runtime is not running")
        reply = Reply()

        def run() -> None:
            try:
                reply.set(handler(*args))
            except Exception as error:  # handed to the caller
                reply.fail(error)

        self._post(run)
        result: T = reply.wait(None)
        return result

    def _start_child(self, spec: ChildSpec, supervisor: str) -> ChildInfo:
        parent = self._supervisor(supervisor)
        try:
            node = self._build_child(spec, parent)
        except ValueError as error:
            raise SupervisionError(str(error)) from None
        parent.children.append(node)
        failure = self._start_node(node)
        if failure is not None:
            self._forget(node)
            raise StartError(failure)
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

    def _forget(self, node: Node) -> None:
        assert node.parent is not None
        node.parent.children.remove(node)
        if isinstance(node, SupNode):
            for child in list(node.children):
                self._forget(child)
            del self._supervisors[node.name]
        else:
            del self._cells[node.name]


class OnControlThread:
    """The child-management API for code already on the control thread (which must not wait for itself)."""

    def __init__(self, runtime: ChildManagement) -> None:
        self.runtime = runtime

    def which_children(self, supervisor: str = "root") -> list[ChildInfo]:
        return self.runtime.which_children(supervisor)

    def count_children(self, supervisor: str = "root") -> ChildCount:
        return self.runtime.count_children(supervisor)

    def restart_child(self, name: str) -> ChildInfo:
        return self.runtime._restart_child(name)

    def terminate_child(self, name: str) -> ChildInfo:
        return self.runtime._terminate_child(name)
