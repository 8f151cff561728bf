"""Messages every actor and the runtime understand: liveness, rejections, dead letters, status."""

from __future__ import annotations

from typing import Any

from messages.base import Message
from messages.supervision import ExitReason

__all__ = ["ActorStatus", "DeadLetter", "DeliveryFailed", "Ping", "Pong", "Rejected"]


class Ping(Message, frozen=True):
    """Are you alive? Every actor answers with `Pong` without any handler of its own."""

    nonce: int = 0


class Pong(Message, frozen=True):
    """The answer to `Ping`, naming who answered."""

    actor: str
    nonce: int = 0


class Rejected(Message, frozen=True):
    """A command that could not be honoured: nothing was changed. ``reason`` says why."""

    reason: str
    message_type: str = ""


class DeadLetter(Message, frozen=True):
    """A message that could not be delivered or handled, kept with the reason.

    ``message`` is the original message object in-process (a plain map after crossing a
    process boundary).
    """

    recipient: str
    reason: str
    message_type: str
    message: Any = None
    sender: str | None = None


class ActorStatus(Message, frozen=True):
    """One actor as the runtime sees it."""

    name: str
    state: str
    restarts: int
    mailbox: int
    last_error: str | None = None
    supervisor: str = ""
    pid: int | None = None  # the OS process in process mode
    exit_reason: ExitReason | None = None  # how its last incarnation ended (None: never ended)


class DeliveryFailed(Message, frozen=True):
    """A frame that could not be delivered or understood (answered by the hub or a node instead of crashing).

    ``reason`` says why: malformed frame, unknown destination, unknown message type, mailbox full...
    """

    reason: str
    recipient: str = ""
    message_type: str = ""
