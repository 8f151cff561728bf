"""The errors the runtime raises to callers of `tell` and `ask`; each says what happened and to whom."""

from __future__ import annotations

__all__ = [
    "ActorCrashedError",
    "ActorError",
    "ActorHungError",
    "ActorStoppedError",
    "AskTimeoutError",
    "BlockingAskError",
    "StartError",
    "SupervisionError",
    "UnknownActorError",
]


class ActorError(Exception):
    """Base of every runtime error."""


class UnknownActorError(ActorError, LookupError):
    """No actor has that name (the message was recorded as a dead letter)."""


class ActorCrashedError(ActorError):
    """The actor raised while handling this very message; it was restarted and the message dead-lettered."""


class ActorHungError(ActorError):
    """The actor stopped answering heartbeats while handling this message; it was restarted."""


class ActorStoppedError(ActorError):
    """The actor is stopped for good (temporary child, finished transient, or runtime stopped)."""


class AskTimeoutError(ActorError, TimeoutError):
    """No reply within the timeout. The message stays queued and will still be handled."""


class BlockingAskError(ActorError):
    """`ask` was called inside an actor's handler: use tell plus a reply message instead."""


class StartError(ActorError):
    """A child could not be started when the runtime started."""


class SupervisionError(ActorError):
    """A child-management call that cannot be honoured: no such supervisor or child, a name in use,
    or a running child given to `delete_child`."""
