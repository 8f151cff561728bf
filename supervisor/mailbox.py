"""The per-name mailbox that outlives actor incarnations, so a crash or restart loses no mail.

Each incarnation of an actor takes mail under a generation number. Revoking the generation
(crash, hang, stop) makes the old incarnation unable to take anything more, atomically, so
the next incarnation receives every remaining message in order.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["STOP", "Envelope", "Mailbox", "Reply"]


class _Stop:
    """The stop request: the incarnation handles what is queued before it, then stops."""

    def __repr__(self) -> str:
        return "STOP"


STOP = _Stop()

_reply_lock = threading.Lock()


class Reply:
    """A one-shot slot an `ask` waits on: set once with a value or an error.

    ``on_done(value, error)``, if given, is called (in the setter's thread) once it is set:
    how a node answers an ask that came over the wire without blocking a thread on it.
    """

    __slots__ = ("_done", "_error", "_on_done", "_set", "_value")

    def __init__(self, on_done: Callable[[Any, BaseException | None], None] | None = None) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._set = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._on_done = on_done

    def set(self, value: Any) -> bool:
        """Deliver ``value``; False if the slot was already set."""
        with _reply_lock:
            if self._set:
                return False
            self._set = True
            self._value = value
        self._done.release()
        if self._on_done is not None:
            self._on_done(value, None)
        return True

    def fail(self, error: BaseException) -> bool:
        """Deliver ``error`` (raised in the waiter); False if the slot was already set."""
        with _reply_lock:
            if self._set:
                return False
            self._set = True
            self._error = error
        self._done.release()
        if self._on_done is not None:
            self._on_done(None, error)
        return True

    @property
    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None) -> Any:
        """The value, or raise the error; `TimeoutError` if nothing came within ``timeout``."""
        if not self._done.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise TimeoutError
        self._done.release()  # let any other waiter through too
        if self._error is not None:
            raise self._error
        return self._value


class Envelope:
    """A message in a mailbox, with who sent it and where an `ask` wants the answer.

    ``receipt``, if given, is called once the actor is finished with the message (handled,
    or crashed or hung on it): how a node acknowledges a delivery to the hub.
    """

    __slots__ = ("message", "receipt", "reply_to", "sender")

    def __init__(
        self,
        message: Any,
        sender: str | None = None,
        reply_to: Reply | None = None,
        receipt: Callable[[], None] | None = None,
    ) -> None:
        self.message = message
        self.sender = sender
        self.reply_to = reply_to
        self.receipt = receipt

    def __repr__(self) -> str:
        return f"Envelope({self.message!r}, sender={self.sender!r})"


class Mailbox:
    """FIFO mail for one actor name, shared by its successive incarnations.

    `put` appends (from any thread); `take` is used by exactly one incarnation at a time,
    the holder of the current generation (see `grant` and `revoke`). `close` ends the
    mailbox for good and hands back what was left, so the caller can dead-letter it.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._items: deque[Envelope] = deque()
        self._lock = threading.Lock()
        self._nonempty = threading.Condition(self._lock)
        self._waiters = 0  # consumers blocked in take (briefly two while a revoked one leaves)
        self._generation = 0
        self._closed = False
        self._pinged = 0
        self._answered = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def generation(self) -> int:
        return self._generation

    def put(self, envelope: Envelope) -> bool:
        """Queue ``envelope``; False if the mailbox is closed (the caller dead-letters it)."""
        return self.put_many((envelope,))

    def put_many(self, envelopes: Sequence[Envelope]) -> bool:
        """Queue ``envelopes`` in order under one lock; False (none queued) if the mailbox is closed."""
        with self._lock:
            if self._closed:
                return False
            self._items.extend(envelopes)
            if self._waiters:
                self._nonempty.notify()
        return True

    def take(self, generation: int) -> Envelope | None:
        """The next envelope for the holder of ``generation``; None once that generation is revoked.

        Entering `take` also answers any outstanding heartbeat: the caller is alive and
        between messages.
        """
        with self._lock:
            self._answered = self._pinged
            while True:
                if self._generation != generation:
                    if self._items and self._waiters:
                        self._nonempty.notify()  # a wakeup meant for the current consumer: pass it on
                    return None
                if self._items:
                    return self._items.popleft()
                self._waiters += 1
                try:
                    self._nonempty.wait()
                finally:
                    self._waiters -= 1
                self._answered = self._pinged

    def grant(self) -> int:
        """A new generation for a new incarnation (revoking any previous one)."""
        with self._lock:
            self._generation += 1
            self._nonempty.notify_all()
            return self._generation

    def revoke(self, generation: int | None = None) -> None:
        """Stop the holder of ``generation`` (or whoever holds it now) from taking more mail."""
        with self._lock:
            if generation is None or generation == self._generation:
                self._generation += 1
                self._nonempty.notify_all()

    def remove(self, envelope: Envelope) -> bool:
        """Take one specific envelope out, if it is still queued."""
        with self._lock:
            try:
                self._items.remove(envelope)
            except ValueError:
                return False
            return True

    def close(self) -> list[Envelope]:
        """Refuse all further mail and return what was queued, oldest first."""
        with self._lock:
            self._closed = True
            self._generation += 1
            left = list(self._items)
            self._items.clear()
            self._nonempty.notify_all()
            return left

    def reopen(self) -> None:
        """Accept mail again after `close` (a child restarted by hand after being stopped for good)."""
        with self._lock:
            self._closed = False

    def ping(self) -> int:
        """Send a heartbeat; returns its number. An idle consumer answers it at once."""
        with self._lock:
            self._pinged += 1
            if self._waiters:
                self._answered = self._pinged
            return self._pinged

    def answered(self, ping: int) -> bool:
        """Whether the consumer has been back in `take` since heartbeat ``ping`` was sent."""
        return self._answered >= ping
