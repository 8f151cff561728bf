"""How an actor is hosted: a pykka thread whose receive loop keeps mail across crashes.

pykka's own loop drops the tells left in a dead actor's inbox and answers a failing ask
with the exception while keeping the actor alive. `HostedActor` replaces that loop: it
takes mail from the runtime's `Mailbox` under its generation, and on an exception it
reports the crash and leaves everything still queued for the next incarnation.
Actors subclass `actors.base.Actor`, not this class directly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pykka
from loguru import logger
from pykka.messages import _ActorStop  # pykka's own stop request, translated to ours

from supervisor.mailbox import STOP, Envelope, Mailbox

if TYPE_CHECKING:
    from supervisor.clock import Clock, Timer

__all__ = ["ActorSystem", "Binding", "HostedActor", "current_actor", "hosting"]


class ActorSystem(Protocol):
    """What a hosted actor can do with the rest of the system (in-process or over ZeroMQ)."""

    def tell(self, name: str, message: Any, sender: str | None = None) -> None: ...

    def dead_letter(self, recipient: str, message: Any, reason: str, sender: str | None = None) -> None: ...

    def knows(self, name: str) -> bool: ...


class Host(Protocol):
    """The runtime side of one hosted actor: where it reports how it ended."""

    def incarnation_started(self, generation: int, error: BaseException | None) -> None: ...

    def incarnation_crashed(self, generation: int, envelope: Envelope | None, error: BaseException) -> None: ...

    def incarnation_stopped(self, generation: int) -> None: ...


@dataclass(frozen=True)
class Binding:
    """What the runtime gives an incarnation it is constructing."""

    name: str
    mailbox: Mailbox
    generation: int
    system: ActorSystem
    clock: Clock
    host: Host


_constructing = threading.local()
_running = threading.local()


class hosting:  # noqa: N801 - used as a context manager, reads like a phrase
    """``with hosting(binding): actor = factory()`` - actors built inside are bound to the runtime."""

    def __init__(self, binding: Binding) -> None:
        self.binding = binding

    def __enter__(self) -> Binding:
        _constructing.binding = self.binding
        return self.binding

    def __exit__(self, *exc: object) -> None:
        _constructing.binding = None


def current_actor() -> HostedActor | None:
    """The actor whose handler is running on this thread, if any."""
    return getattr(_running, "actor", None)


class _InboxAdapter:
    """pykka's view of the mailbox: lets ``actor_ref.stop()`` and ``ActorRegistry.stop_all()`` work."""

    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    def put(self, envelope: Any, /) -> None:
        message = envelope.message
        if isinstance(message, _ActorStop):
            message = STOP
        self._mailbox.put(Envelope(message, None, envelope.reply_to))

    def get(self) -> Any:  # pragma: no cover - our loop reads the mailbox directly
        raise NotImplementedError

    def empty(self) -> bool:
        return True  # never let pykka drain the runtime's mailbox


class HostedActor(pykka.ThreadingActor):
    """A pykka thread bound to a runtime name. Subclasses implement `receive`.

    Hooks, all run in the actor's thread: ``on_start`` before the first message,
    ``on_stop`` on a graceful stop, ``on_failure`` after a handler raised. An exception
    in any handler or in ``on_start`` makes the supervisor restart the actor.
    """

    name: str
    clock: Clock

    # The runtime stops actors explicitly (gracefully, in order); a daemon thread means an
    # abandoned incarnation (hung in a handler) can never keep the process from exiting.
    use_daemon_thread = True

    def __init__(self) -> None:
        binding: Binding | None = getattr(_constructing, "binding", None)
        if binding is None:
            raise RuntimeError(
                f"{type(self).__name__} must be created by the runtime: give it to a ChildSpec "
                "(ChildSpec(name, factory)) instead of constructing or starting it yourself"
            )
        self._binding = binding
        self.name = binding.name
        self.clock = binding.clock
        self.log = logger.bind(actor=binding.name)
        self._current: Envelope | None = None
        super().__init__()

    # pykka calls this from Actor.__init__; as an instance method it can see the binding.
    def _create_actor_inbox(self) -> _InboxAdapter:  # type: ignore[override]
        return _InboxAdapter(self._binding.mailbox)

    # ---- what actors use ----------------------------------------------------------

    def tell(self, name: str, message: Any) -> None:
        """Send ``message`` to the actor called ``name`` (resolved now, so restarts are invisible)."""
        self._binding.system.tell(name, message, self.name)

    def send_later(self, delay: float, name: str, message: Any) -> Timer:
        """Tell ``name`` the ``message`` after ``delay`` seconds of the injected clock."""
        system, sender = self._binding.system, self.name
        return self.clock.call_later(delay, lambda: system.tell(name, message, sender))

    def dead_letter(self, message: Any, reason: str) -> None:
        """Record that ``message`` (sent to this actor) could not be handled, and why."""
        sender = self._current.sender if self._current is not None else None
        self._binding.system.dead_letter(self.name, message, reason, sender)

    @property
    def current_envelope(self) -> Envelope | None:
        """The envelope being handled right now (None between messages)."""
        return self._current

    def receive(self, message: Any) -> Any:
        """Handle one message; the return value is the answer to an `ask`."""
        raise NotImplementedError

    # ---- the loop -------------------------------------------------------------------

    def _actor_loop(self) -> None:
        """The thread body, replacing pykka's: mail stays in the mailbox on failure."""
        binding = self._binding
        mailbox, generation, host = binding.mailbox, binding.generation, binding.host
        _running.actor = self
        try:
            self.on_start()
        except Exception as error:
            self._fail(None, error, report=False)  # the runtime is waiting for the start result
            host.incarnation_started(generation, error)
            return
        host.incarnation_started(generation, None)
        receive = self.receive
        take = mailbox.take
        while True:
            envelope = take(generation)
            if envelope is None:  # revoked: hung, or the runtime gave up waiting for a stop
                self.log.debug("generation {} revoked; this incarnation takes no more mail", generation)
                self.actor_stopped.set()
                return
            message = envelope.message
            if message is STOP:
                self._stop_gracefully(envelope)
                return
            self._current = envelope
            try:
                result = receive(message)
            except Exception as error:
                self._fail(envelope, error)
                return
            self._current = None
            reply = envelope.reply_to
            if reply is not None:
                reply.set(result)
            if envelope.receipt is not None:
                envelope.receipt()

    def _fail(self, envelope: Envelope | None, error: BaseException, report: bool = True) -> None:
        binding = self._binding
        binding.mailbox.revoke(binding.generation)
        pykka.ActorRegistry.unregister(self.actor_ref)
        try:
            self.on_failure(type(error), error, error.__traceback__)
        except Exception:
            self.log.exception("on_failure raised")
        if report:
            binding.host.incarnation_crashed(binding.generation, envelope, error)
        if envelope is not None and envelope.receipt is not None:
            envelope.receipt()
        self._current = None
        self.actor_stopped.set()

    def _stop_gracefully(self, envelope: Envelope) -> None:
        binding = self._binding
        pykka.ActorRegistry.unregister(self.actor_ref)
        try:
            self.on_stop()
        except Exception:
            self.log.exception("on_stop raised")
        binding.mailbox.revoke(binding.generation)
        if envelope.reply_to is not None:
            envelope.reply_to.set(True)
        binding.host.incarnation_stopped(binding.generation)
        self.actor_stopped.set()


def start_incarnation(actor: HostedActor) -> None:
    """Register ``actor`` with pykka and start its thread (what ``pykka.Actor.start`` does)."""
    pykka.ActorRegistry.register(actor.actor_ref)
    actor._start_actor_loop()  # noqa: SLF001 - the documented hook for actor implementations
