"""`PendingRequests`: the replies an actor waits for, each under an unpredictable id, from one actor, by a deadline.

Pure bookkeeping (no threads, no I/O). An actor `open`s a request before telling it, puts the
correlation id in the message, `accept`s a reply only under that id and only from the actor it
asked, and when its deadline timer fires (`RequestsDue`, told to itself) takes the `expired`
requests to ask again or to give up loudly. Nothing an actor does may wait on a reply without one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

from messages.base import Message

__all__ = ["DeadlineTimer", "PendingRequest", "PendingRequests", "RequestsDue", "new_correlation_id"]

C = TypeVar("C")


def new_correlation_id() -> str:
    """128 random bits: a reply cannot be forged by guessing the id."""
    return secrets.token_hex(16)


class RequestsDue(Message, frozen=True):
    """Internal (an actor to itself, on its clock): a request's deadline has come; look at what expired."""

    actor_only: ClassVar[bool] = True


@dataclass(frozen=True)
class PendingRequest(Generic[C]):
    """One request waiting for its reply: to whom, what for (``kind``), until when, which attempt."""

    correlation_id: str
    to: str
    kind: str
    deadline: float
    attempt: int = 1
    context: C | None = None


class PendingRequests(Generic[C]):
    """The open requests of one actor. ``context`` is whatever the actor needs to act on the reply."""

    def __init__(self) -> None:
        self._open: dict[str, PendingRequest[C]] = {}

    def open(self, to: str, kind: str, deadline: float, *, attempt: int = 1, context: C | None = None) -> str:
        """Record a request to actor ``to`` answered by ``deadline``; returns its fresh correlation id."""
        correlation_id = new_correlation_id()
        self._open[correlation_id] = PendingRequest(correlation_id, to, kind, deadline, attempt, context)
        return correlation_id

    def accept(self, correlation_id: str, sender: str | None) -> PendingRequest[C] | None:
        """The request a reply answers, now closed; None (and nothing closed) unless it is open and
        ``sender`` is the actor it was sent to."""
        request = self._open.get(correlation_id)
        if request is None or sender != request.to:
            return None
        del self._open[correlation_id]
        return request

    def accept_from(
        self, sender: str | None, kind: str, match: Callable[[PendingRequest[C]], bool] | None = None
    ) -> PendingRequest[C] | None:
        """For a reply that carries no correlation id: the oldest open ``kind`` request to ``sender``
        (that ``match`` accepts), now closed; None if there is none. The sender is the only check."""
        for request in self._open.values():
            if request.to == sender and request.kind == kind and (match is None or match(request)):
                del self._open[request.correlation_id]
                return request
        return None

    def expired(self, now: float) -> list[PendingRequest[C]]:
        """Every request whose deadline is at or before ``now``, oldest first, now closed."""
        due = [request for request in self._open.values() if request.deadline <= now]
        for request in due:
            del self._open[request.correlation_id]
        return due

    def cancel(self, correlation_id: str) -> PendingRequest[C] | None:
        return self._open.pop(correlation_id, None)

    def waiting(self, kind: str | None = None) -> list[PendingRequest[C]]:
        """The open requests (of ``kind`` only, when named), oldest first."""
        return [request for request in self._open.values() if kind in (None, request.kind)]

    def next_deadline(self) -> float | None:
        """The earliest deadline of an open request (None when nothing is open)."""
        return min((request.deadline for request in self._open.values()), default=None)

    def __len__(self) -> int:
        return len(self._open)


class _Cancellable(Protocol):
    def cancel(self) -> None: ...


class DeadlineTimer:
    """One timer for an actor's earliest open deadline, instead of one per request.

    ``set_timer(delay)`` sets a timer that tells the actor `RequestsDue` (the actor's
    ``send_later``); `arm` it after opening a request and after handling `RequestsDue`,
    `cancel` it when the actor stops (no timer then fires into a stopped desk).
    """

    def __init__(self, set_timer: Callable[[float], _Cancellable]) -> None:
        self._set_timer = set_timer
        self._timer: _Cancellable | None = None
        self._due: float | None = None

    def arm(self, deadline: float | None, now: float) -> None:
        """Make sure a timer fires by ``deadline`` (None: nothing to wait for)."""
        if deadline is None or (self._due is not None and now < self._due <= deadline):
            return  # a timer that has not fired yet comes first
        self.cancel()
        self._due = deadline
        self._timer = self._set_timer(max(0.0, deadline - now))

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._due = None
