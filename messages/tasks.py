"""Transfer tasks: the seed's `TransferTaskKey` / `TransferTaskValue` and the task manager's commands."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from messages.base import Message
from messages.common import Account, Currency, Exchange

__all__ = [
    "AddTransferTask",
    "CleanExpiredTasks",
    "GetLastSuccess",
    "GetTasks",
    "LastSuccess",
    "PendingTasks",
    "RemoveTask",
    "TaskAdded",
    "TaskSucceeded",
    "TasksCleaned",
    "TransferTaskKey",
    "TransferTaskValue",
]


class TransferTaskKey(NamedTuple):
    """One wanted single-step transfer; at most one pending task per key."""

    from_exchange: Exchange
    from_account: str
    to_exchange: Exchange
    to_account: str
    currency: Currency


class TransferTaskValue(NamedTuple):
    """The task's amount, when it was created (microseconds since the epoch) and its follow-up."""

    amount: float
    timestamp: int
    extra: str | None = None


class AddTransferTask(Message, frozen=True):
    """Submit a wanted transfer. Answer: `TaskAdded` (``added`` False when the key was already pending).

    With ``reply_to`` the `TaskAdded` is also told to that actor, with ``correlation_id``.
    """

    from_exchange: Exchange
    from_account: Account
    to_exchange: Exchange
    to_account: Account
    currency: Currency
    amount: float
    extra: str | None = None
    reply_to: str | None = None
    correlation_id: str = ""

    @property
    def key(self) -> TransferTaskKey:
        return TransferTaskKey(self.from_exchange, self.from_account, self.to_exchange, self.to_account, self.currency)


class TaskAdded(Message, frozen=True):
    actor_only: ClassVar[bool] = True

    key: TransferTaskKey
    added: bool
    correlation_id: str = ""


class GetTasks(Message, frozen=True):
    """Ask for a snapshot of pending tasks. With ``reply_to`` the `PendingTasks` is told to that actor."""

    reply_to: str | None = None
    correlation_id: str = ""


class PendingTasks(Message, frozen=True):
    """The snapshot `GetTasks` asked for. Actor-only: a forged snapshot must never reach the executor."""

    actor_only: ClassVar[bool] = True

    tasks: list[tuple[TransferTaskKey, TransferTaskValue]]
    correlation_id: str = ""


class TaskSucceeded(Message, frozen=True):
    """The transfer for ``key`` was made: remove the task and record the success time. Idempotent.

    Actor-only: the transfer executor says it; an operator removes a task with `RemoveTask`.
    """

    actor_only: ClassVar[bool] = True

    key: TransferTaskKey
    timestamp: int | None = None  # the task instance that succeeded; None removes whatever is pending


class RemoveTask(Message, frozen=True):
    key: TransferTaskKey


class CleanExpiredTasks(Message, frozen=True):
    """Drop tasks not renewed within the expiry. Answer: `TasksCleaned`."""


class TasksCleaned(Message, frozen=True):
    actor_only: ClassVar[bool] = True

    count: int


class GetLastSuccess(Message, frozen=True):
    key: TransferTaskKey


class LastSuccess(Message, frozen=True):
    actor_only: ClassVar[bool] = True

    key: TransferTaskKey
    timestamp: int | None
