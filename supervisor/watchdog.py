"""The watchdog: heartbeats to every running actor; one that stops answering is abandoned and restarted as hung."""

from __future__ import annotations

from messages.supervision import ExitReason
from supervisor.decisions import Decisions
from supervisor.errors import ActorHungError
from supervisor.tree import DOWN, RUNNING, Cell, log

__all__ = ["Watchdog"]


class Watchdog(Decisions):
    """Heartbeat checks, run on the control thread every ``heartbeat_interval`` (a part of `Runtime`)."""

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

    def _hung(self, cell: Cell) -> None:
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
