"""Supervision decisions carried out on the tree: start and stop nodes (subtrees in order), handle a
child that went down through the shared `supervisor.restarts`, escalate, and shut the tree down."""

from __future__ import annotations

from messages.supervision import ChildState, ExitReason
from supervisor.addressing import Addressing
from supervisor.errors import ActorStoppedError
from supervisor.hosted import Binding, HostedActor, hosting, start_incarnation
from supervisor.mailbox import STOP, Envelope
from supervisor.restarts import FINAL_STATES, child_down, restart_members
from supervisor.spec import Supervisor
from supervisor.tree import (
    DOWN,
    RESTARTING,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    Cell,
    Incarnation,
    Node,
    SupNode,
    describe,
    log,
)

__all__ = ["Decisions"]


class Decisions(Addressing):
    """The control thread's actions on the tree (a part of `Runtime`; only the control thread calls these)."""

    def _start_node(self, node: Node, initial: bool = False) -> str | None:
        """Start ``node`` (and its subtree, in order); the failure reason, or None."""
        if isinstance(node, SupNode):
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
        assert isinstance(node, Cell) and node.spec is not None
        cell, spec = node, node.spec
        generation = cell.mailbox.grant()
        incarnation = Incarnation(self, cell, generation)
        binding = Binding(cell.name, cell.mailbox, generation, self, self.clock, incarnation)
        try:
            with hosting(binding):
                assert not isinstance(spec.factory, Supervisor)  # a Supervisor factory is a SupNode
                actor = spec.factory()
            if not isinstance(actor, HostedActor):
                raise TypeError(f"factory of {cell.name!r} returned {type(actor).__name__}, not an Actor")
            cell.actor, cell.incarnation, cell.state, cell.ping = actor, incarnation, STARTING, 0
            start_incarnation(actor)
        except Exception as error:
            return self._start_failed(cell, generation, f"{cell.name} could not be created: {describe(error)}", error)
        if not incarnation.started.wait(self.start_timeout):
            actor.actor_stopped.set()
            return self._start_failed(
                cell, generation, f"{cell.name} did not finish on_start within {self.start_timeout}s"
            )
        if incarnation.start_error is not None:
            failure = incarnation.start_error
            return self._start_failed(cell, generation, f"{cell.name} failed in on_start: {describe(failure)}", failure)
        cell.state = RUNNING
        if not initial:
            log.info("{} restarted (restart #{})", cell.name, cell.restarts)
        return None

    def _start_failed(self, cell: Cell, generation: int, reason: str, error: BaseException | None = None) -> str:
        cell.mailbox.revoke(generation)
        cell.actor, cell.incarnation, cell.state, cell.last_error = None, None, DOWN, reason
        log.opt(exception=error).error(reason)
        return reason

    def _stop_node(self, node: Node, final_reason: str | None = None, state: ChildState = STOPPED) -> None:
        """Stop ``node`` (a subtree: children in reverse order) and wait for it, up to its shutdown timeout.

        With ``final_reason`` the mailboxes are closed for good (the node ends in ``state``): queued
        mail becomes dead letters. A node already stopped for good stays as it is.
        """
        if node.state in FINAL_STATES:
            return
        if isinstance(node, SupNode):
            node.epoch += 1
            for child in reversed(node.children):
                self._stop_node(child, final_reason, state)
            node.state = state if final_reason else DOWN
            return
        assert isinstance(node, Cell) and node.spec is not None
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

    def _close(self, cell: Cell, reason: str, state: ChildState = STOPPED) -> None:
        cell.state = state
        cell.closed_reason = reason
        for envelope in cell.mailbox.close():
            self.dead_letter(cell.name, envelope.message, reason, envelope.sender)
            if envelope.reply_to is not None:
                envelope.reply_to.fail(ActorStoppedError(f"{cell.name} stopped before handling it: {reason}"))
            if envelope.receipt is not None:
                envelope.receipt()

    def _incarnation_ended(self, incarnation: Incarnation, reason: ExitReason, text: str) -> None:
        cell = incarnation.cell
        if cell.incarnation is not incarnation or cell.state != RUNNING:
            return  # expected (we were stopping it) or stale
        cell.actor, cell.incarnation, cell.state = None, None, DOWN
        if reason.abnormal:
            cell.last_error = text
        self._child_down(cell, reason, text)

    def _child_down(self, node: Node, reason: ExitReason, text: str) -> None:
        """Apply the parent's policy to a child that just went down."""
        parent = node.parent
        assert parent is not None
        node.exit_reason = reason
        if self._stopped.is_set() or parent.state != RUNNING:
            return
        child_down(parent.policy, parent.children, node, reason, text, self.clock.now(), TreeGroup(self, parent))

    def _restart_group(self, parent: SupNode, group: list[Node], epoch: int) -> None:
        if epoch != parent.epoch or parent.state != RUNNING or self._stopped.is_set():
            return  # the supervisor was stopped or restarted meanwhile
        restart_members(group, TreeGroup(self, parent), self._child_down)

    def _escalate(self, supervisor: SupNode, reason: str) -> None:
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

    def _reopen(self, node: Node) -> None:
        """Let a closed child (or subtree) take mail again, for a start by hand or with its restarted parent."""
        if isinstance(node, SupNode):
            for child in node.children:
                self._reopen(child)
        elif isinstance(node, Cell):
            node.mailbox.reopen()
            node.closed_reason = ""
        if node.state in FINAL_STATES:
            node.state = DOWN


class TreeGroup:
    """How `supervisor.restarts` acts on the children of one supervisor of a `Runtime`."""

    def __init__(self, runtime: Decisions, parent: SupNode) -> None:
        self.runtime = runtime
        self.parent = parent

    def stop_child(self, member: Node) -> None:
        self.runtime._stop_node(member)

    def stop_for_good(self, member: Node, why: str) -> None:
        self.runtime._stop_node(member, final_reason=why)

    def escalate(self, why: str) -> None:
        self.runtime._escalate(self.parent, why)

    def schedule_restart(self, members: list[Node], delay: float) -> None:
        runtime, parent, epoch = self.runtime, self.parent, self.parent.epoch
        if delay > 0:
            runtime.clock.call_later(delay, lambda: runtime._post(runtime._restart_group, parent, members, epoch))
        else:
            runtime._post(runtime._restart_group, parent, members, epoch)  # an event of its own: no recursion

    def mark_restarting(self, member: Node) -> None:
        member.state = RESTARTING

    def start(self, member: Node) -> str | None:
        member.restarts += 1
        error = self.runtime._start_node(member)
        if error is not None:
            member.state, member.last_error = DOWN, error
        return error
