"""A node actor's mailbox whose idle wait is the node's socket poll: the actor thread is the I/O thread.

When the actor has no mail, `LinkMailbox.take` does not sleep on a condition: it runs the link's
`pump` (a blocking ``zmq`` poll with a timeout, never a busy loop), which receives frames straight
into this mailbox on the actor's own thread (a batch at a time, `put_many`). Anything another
thread puts (the runtime's stop request, a timer's tell) wakes the poll. Each `Delivery` is marked
as being handled in the link's `supervisor.transport.handling` file just before the actor gets it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec

from supervisor.mailbox import Envelope, Mailbox, Reply

__all__ = ["Delivery", "LinkMailbox", "Pump", "Undecodable"]


class Delivery(Envelope):
    """An envelope that came over a link; ``mark`` (if any) writes it into the handling file as the
    one in hand, called as the actor takes it."""

    __slots__ = ("mark",)

    def __init__(
        self,
        message: object,
        sender: str | None,
        reply_to: Reply | None,
        receipt: Callable[[], None] | None,
        mark: Callable[[], None] | None,
    ) -> None:
        super().__init__(message, sender, reply_to, receipt)
        self.mark = mark


class Undecodable(msgspec.Struct, frozen=True):
    """What a dead letter keeps of a body that could not be decoded: its size and a digest, not the bytes."""

    size: int
    sha256: str

    @classmethod
    def of(cls, body: bytes) -> Undecodable:
        return cls(len(body), hashlib.sha256(body).hexdigest()[:32])


class Pump(Protocol):
    """What the mailbox needs of the link."""

    def pump(self, timeout_ms: int) -> None: ...

    def wake(self) -> None: ...


class LinkMailbox(Mailbox):
    """The mailbox of a node's actor (see the module docstring)."""

    def __init__(self, name: str, link: Pump, poll_ms: int = 500) -> None:
        super().__init__(name)
        self._link = link
        self._poll_ms = poll_ms
        self._pumping: int | None = None  # the consumer thread, while it is in (or entering) the poll

    def put_many(self, envelopes: Sequence[Envelope]) -> bool:
        """Queue ``envelopes`` in order under one lock (a batch that came over a link); False if closed."""
        with self._lock:
            if self._closed:
                return False
            self._items.extend(envelopes)
            pumping = self._pumping
            if self._waiters:
                self._nonempty.notify()
        if pumping is not None and pumping != threading.get_ident():
            self._link.wake()
        return True

    def take(self, generation: int) -> Envelope | None:
        with self._lock:
            self._answered = self._pinged
            while True:
                if self._generation != generation:
                    return None
                if self._items:
                    envelope = self._items.popleft()
                    break
                self._waiters += 1
                self._pumping = threading.get_ident()
                self._lock.release()
                try:
                    self._link.pump(self._poll_ms)
                finally:
                    self._lock.acquire()
                    self._pumping = None
                    self._waiters -= 1
                self._answered = self._pinged
        if type(envelope) is Delivery and envelope.mark is not None:
            envelope.mark()
        return envelope

    def grant(self) -> int:
        generation = super().grant()
        self._link.wake()
        return generation

    def revoke(self, generation: int | None = None) -> None:
        super().revoke(generation)
        self._link.wake()

    def close(self) -> list[Envelope]:
        left = super().close()
        self._link.wake()
        return left
