"""Addressing by name: `tell`, `ask` and delivery resolve a name at send time to the actor's `Mailbox`
(which outlives restarts), or to the process-mode `Remote`; what cannot be delivered is a dead letter."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from messages.base import Message
from messages.system import ActorStatus, DeadLetter
from supervisor.errors import ActorStoppedError, AskTimeoutError, BlockingAskError, UnknownActorError
from supervisor.hosted import current_actor
from supervisor.mailbox import Envelope, Reply
from supervisor.tree import SYSTEM_NAME, Cell, Tree, log

__all__ = ["Addressing", "Remote"]


class Remote(Protocol):
    """Where names hosted in other processes are sent (process mode: the node's link to the hub)."""

    def knows(self, name: str) -> bool: ...

    def tell(self, name: str, message: Any, sender: str | None) -> None: ...


class Addressing(Tree):
    """Routes mail to the tree's cells by name and keeps the dead letters (a part of `Runtime`)."""

    remote: Remote | None
    _dead_letters: deque[DeadLetter]
    _dead_letter_count: int

    def _system_answer(self, message: Any) -> Message:
        raise NotImplementedError  # the runtime answers its reserved name

    def _told_to_runtime(self, message: Any, sender: str | None) -> None:
        """A tell to ``"runtime"``: the answer is told back to the sender, if any."""
        answer = self._system_answer(message)
        if sender is not None:
            self.tell(sender, answer, SYSTEM_NAME)

    @property
    def names(self) -> list[str]:
        """Every actor name in the tree, in start order."""
        return list(self._cells)

    def knows(self, name: str) -> bool:
        """True when ``name`` is an actor of this tree (or of the process-mode system behind it)."""
        return name in self._cells or (self.remote is not None and self.remote.knows(name))

    def _cell(self, name: str, message: Any, sender: str | None) -> Cell:
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
            self._told_to_runtime(message, sender)
            return
        cell = self._cell(name, message, sender)
        if not cell.mailbox.put(Envelope(message, sender)):
            self.dead_letter(name, message, cell.closed_reason, sender)

    def deliver(self, name: str, envelope: Envelope) -> bool:
        """Queue an envelope that arrived from outside this process (process mode); False if ``name``
        is not here or is stopped for good (it is then dead-lettered and its receipt called)."""
        return self.deliver_many(name, (envelope,))

    def deliver_many(self, name: str, envelopes: Sequence[Envelope]) -> bool:
        """`deliver` for a batch, in order, under one lock of the mailbox."""
        cell = self._cells.get(name)
        if cell is not None and cell.mailbox.put_many(envelopes):
            return True
        reason = cell.closed_reason if cell is not None else "no actor has this name in this process"
        for envelope in envelopes:
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

    def status_of(self, name: str) -> ActorStatus:
        for entry in self.status():
            if entry.name == name:
                return entry
        raise UnknownActorError(f"no actor named {name!r}")
