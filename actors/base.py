"""`Actor`: the base of every actor - dispatch on message type, a named logger, an injected clock.

A handler is any method named ``on_<something>`` whose message parameter is annotated with
a `Message` class::

    class Counter(Actor):
        def on_add(self, message: Add) -> Total:
            ...

The handler's return value answers an `ask`. A message with no handler is answered with a
typed `Rejected` (and, when it was a tell, recorded as a dead letter); it never crashes the
actor. `Ping` is answered with `Pong` by every actor.

A message class declaring ``actor_only: ClassVar[bool] = True`` (snapshots, replies, fills,
the executors' ledger movements...) is accepted only from another actor of the desk: from a
client (a sender named ``client/...``) or from outside any actor (no sender: an ask, a tell
from a test or a thread) it is answered with `Rejected` and changes nothing.

The contract is checked when the class is first built into an actor (or given to a
`ChildSpec` as its factory): an ``on_*`` method whose message parameter has no annotation,
an annotation that does not resolve or is not a `Message`, or two methods for one message
type raise `HandlerError` naming the method, so the runtime fails to start it.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from messages.alerts import ALERTS_ACTOR, Alert, AlertSeverity
from messages.base import Message
from messages.system import Ping, Pong, Rejected
from supervisor.hosted import HostedActor

__all__ = ["CLIENT_PREFIX", "Actor", "HandlerError", "from_outside"]

CLIENT_PREFIX = "client/"
"""Identities the hub gives clients (CLI, `Client`, strategies outside the tree); never an actor's name."""

# pykka's lifecycle hooks share the on_ prefix but are not message handlers.
_LIFECYCLE = frozenset({"on_start", "on_stop", "on_failure", "on_receive"})

Handler = Callable[[Any, Any], Any]
M = TypeVar("M", bound=Message)


class HandlerError(TypeError):
    """An actor class breaks the handler contract; the message names the class and the method."""


def _message_type(cls: type, attr: str, function: Callable[..., Any]) -> type[Message]:
    """The `Message` class that ``cls.attr`` handles, or `HandlerError` saying what is wrong with it."""
    where = f"{cls.__name__}.{attr}"
    params = list(inspect.signature(function).parameters.values())[1:]
    if len(params) != 1:
        raise HandlerError(f"{where} must take exactly one message parameter, it takes {len(params)}")
    try:
        hints = typing.get_type_hints(function)
    except Exception as error:  # NameError for a name that is not defined, and others
        raise HandlerError(f"{where}: its annotations do not resolve ({type(error).__name__}: {error})") from None
    message_type = hints.get(params[0].name)
    if message_type is None:
        raise HandlerError(f"{where}: the parameter {params[0].name!r} has no message annotation")
    if not (isinstance(message_type, type) and issubclass(message_type, Message)):
        raise HandlerError(f"{where}: {message_type!r} is not a Message class")
    return message_type


def _handlers_of(cls: type) -> dict[type, Handler]:
    """Message type -> handler function, from the ``on_*`` methods' annotations; `HandlerError` if broken.

    A subclass may override a handler under the same name; a second name for a type is an error.
    """
    table: dict[type, Handler] = {}
    names: dict[type, str] = {}
    for klass in reversed(cls.__mro__):
        for attr, function in vars(klass).items():
            if not attr.startswith("on_") or attr in _LIFECYCLE or not inspect.isfunction(function):
                continue
            if getattr(cls, attr) is not function:
                continue  # overridden further down the hierarchy
            message_type = _message_type(klass, attr, function)
            other = names.get(message_type)
            if other is not None and other != attr:
                raise HandlerError(f"{cls.__name__}: {other} and {attr} both handle {message_type.__name__}; keep one")
            table[message_type], names[message_type] = function, attr
    return table


def from_outside(sender: str | None) -> bool:
    """Whether a message with this sender comes from outside the desk's actors (a client, an ask, a thread)."""
    return sender is None or sender.startswith(CLIENT_PREFIX)


class Actor(HostedActor):
    """Base class for actors. Subclass it, write ``on_*`` handlers, give a factory to a ChildSpec.

    Available to handlers: ``self.name``, ``self.clock`` (``self.clock.now()``), ``self.log``
    (loguru, bound to the actor's name), ``self.tell(name, message)`` and
    ``self.send_later(delay, name, message)``. Never call ``ask`` from a handler.
    """

    _dispatch: ClassVar[dict[type, Handler]]
    _resolved: ClassVar[dict[type, Handler | None]]

    _dispatch_built: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._dispatch = {}
        cls._resolved = {}
        cls._dispatch_built = False

    def __init__(self) -> None:
        type(self).dispatch_table()  # a broken contract fails the start, naming the method
        super().__init__()

    @classmethod
    def dispatch_table(cls) -> dict[type, Handler]:
        """Message type -> handler, built once per class; raises `HandlerError` naming a broken handler."""
        if not cls.__dict__.get("_dispatch_built"):
            cls._dispatch = _handlers_of(cls)
            cls._dispatch_built = True
        return cls._dispatch

    def receive(self, message: Any) -> Any:
        if getattr(type(message), "actor_only", False) and from_outside(self.sender):
            return self.refuse_from_outside(message)
        handler = self._resolved.get(type(message))
        if handler is None:
            handler = self._resolve(type(message))
            if handler is None:
                return self.unhandled(message)
        return handler(self, message)

    @classmethod
    def _resolve(cls, message_type: type) -> Handler | None:
        dispatch = cls.dispatch_table()
        handler = None
        for klass in message_type.__mro__:  # a handler for a base class covers its subclasses
            handler = dispatch.get(klass)
            if handler is not None:
                break
        if handler is not None:
            cls._resolved[message_type] = handler
        return handler

    def unhandled(self, message: Any) -> Rejected:
        """What happens to a message with no handler: a typed rejection, never a crash."""
        kind = type(message).__name__
        reason = f"{self.name} does not handle {kind}"
        self.log.warning(reason)
        envelope = self.current_envelope
        if envelope is not None and envelope.reply_to is None:
            self.dead_letter(message, reason)
        return Rejected(reason=reason, message_type=kind)

    def refuse_from_outside(self, message: Any) -> Rejected:
        """An actor-only message from a client or from outside: a typed rejection, nothing changed."""
        kind = type(message).__name__
        reason = f"{kind} is sent only by the desk's actors; refused from {self.sender or 'outside the desk'}"
        self.log.warning(reason)
        envelope = self.current_envelope
        if envelope is not None and envelope.reply_to is None:
            self.dead_letter(message, reason)
        return Rejected(reason=reason, message_type=kind)

    @property
    def sender(self) -> str | None:
        """Who sent the message being handled: an actor's name, ``client/...``, or None (an ask, a thread)."""
        envelope = self.current_envelope
        return envelope.sender if envelope is not None else None

    def reply(self, message: M) -> M:
        """Answer the message being handled: returned to an ask, told back to an actor that told us.

        The one way to answer: ``return self.reply(Answer(...))`` works for asks and tells alike.
        """
        envelope = self.current_envelope
        if envelope is not None and envelope.reply_to is None and envelope.sender is not None:
            self.tell(envelope.sender, message)
        return message

    def alert(self, key: str, text: str, severity: AlertSeverity = AlertSeverity.CRITICAL) -> None:
        """Raise the incident ``key``: logged, and told to the ``alerts`` actor when there is one."""
        self.log.bind(alert=key).log(severity.value.upper(), "ALERT {}: {}", key, text)
        self._send_alert(Alert(key=key, text=text, source=self.name, severity=severity, at=self.clock.now()))

    def resolve_alert(self, key: str, text: str) -> None:
        """Clear the incident ``key`` (a no-op for the reader when it was never raised)."""
        self.log.bind(alert=key).info("RESOLVED {}: {}", key, text)
        self._send_alert(Alert(key=key, text=text, source=self.name, resolved=True, at=self.clock.now()))

    def _send_alert(self, alert: Alert) -> None:
        if self.name != ALERTS_ACTOR and self._binding.system.knows(ALERTS_ACTOR):
            self.tell(ALERTS_ACTOR, alert)

    def on_ping(self, message: Ping) -> Pong:
        return self.reply(Pong(actor=self.name, nonce=message.nonce))
