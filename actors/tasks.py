"""The task manager: the queue of wanted single-step transfers, one pending task per key.

`TransferTaskManager` is the bookkeeping (the seed's API, thread safe, optionally journaled);
`TaskManagerActor` (conventionally named "tasks") serves it through messages.
"""

from __future__ import annotations

import math
import threading

from actors.base import Actor
from actors.stores.journal import Journal, TaskStore
from messages.common import Currency, Exchange, currency_code, exchange_name
from messages.system import Rejected
from messages.tasks import (
    AddTransferTask,
    CleanExpiredTasks,
    GetLastSuccess,
    GetTasks,
    LastSuccess,
    PendingTasks,
    RemoveTask,
    TaskAdded,
    TasksCleaned,
    TaskSucceeded,
    TransferTaskKey,
    TransferTaskValue,
)
from supervisor.clock import Clock, SystemClock

__all__ = ["TaskManagerActor", "TransferTaskKey", "TransferTaskManager", "TransferTaskValue"]

MICROS = 1_000_000


class TransferTaskManager:
    """Pending transfer tasks keyed by `TransferTaskKey`, with expiry and last-success times.

    Producers `add_task` and go; adding a key that is already pending adds nothing but renews
    it. A task not added or renewed within ``default_expire_seconds`` is dropped by
    `clean_expired_tasks`. Times are microseconds since the epoch from ``clock`` (the real clock
    when None); a task's ``timestamp`` (its creation time) is unique within the manager, one
    microsecond after the previous task's if the clock has not moved, so it names the instance. Every method is thread safe. With a ``journal`` every change is written through
    (journal first, so a failed write changes nothing) and a new manager on the same journal
    starts with the pending tasks and last-success times it holds.
    """

    def __init__(
        self, default_expire_seconds: float = 120.0, clock: Clock | None = None, journal: Journal | None = None
    ) -> None:
        if not (math.isfinite(default_expire_seconds) and default_expire_seconds > 0):
            raise ValueError(f"default_expire_seconds must be a positive number, got {default_expire_seconds!r}")
        self.default_expire_seconds = default_expire_seconds
        self._expire_us = int(default_expire_seconds * MICROS)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._store: TaskStore | None = journal.tasks if journal is not None else None
        self._lock = threading.Lock()
        # key -> the (key, value) pair a snapshot hands out, built once per task: a snapshot then
        # copies one list of references and allocates no tuples (which would wake the garbage
        # collector and make a 100k snapshot ~8x slower).
        self._tasks: dict[TransferTaskKey, tuple[TransferTaskKey, TransferTaskValue]] = {}
        self._renewed_at: dict[TransferTaskKey, int] = {}
        self._successes: dict[TransferTaskKey, int] = {}
        self._succeeded_instance: dict[TransferTaskKey, int | None] = {}
        self._last_created_us = 0
        if self._store is not None:
            for key, value, renewed_at in self._store.load_tasks():
                self._tasks[key] = (key, value)
                self._renewed_at[key] = renewed_at
            for key, (at, instance) in self._store.load_success_records().items():
                self._successes[key] = at
                self._succeeded_instance[key] = instance
            instances = [value.timestamp for _, value in self._tasks.values()] + [
                t for t in self._succeeded_instance.values() if t
            ]
            self._last_created_us = max(instances, default=0)

    def _now_us(self) -> int:
        return int(self._clock.now() * MICROS)

    # ---- the seed's API ---------------------------------------------------------------------

    def add_task(
        self,
        from_exchange: Exchange,
        from_account: str,
        to_exchange: Exchange,
        to_account: str,
        currency: Currency,
        amount: float,
        extra: str | None = None,
    ) -> bool:
        """Add a wanted transfer; False (and the pending task renewed, unchanged otherwise) if the key is pending.

        Raises ValueError for an amount that is not a finite number > 0 or an unknown exchange/currency.
        """
        if isinstance(amount, bool) or not (isinstance(amount, int | float) and math.isfinite(amount) and amount > 0):
            raise ValueError(f"a transfer amount must be a finite number > 0, got {amount!r}")
        key = TransferTaskKey(
            exchange_name(from_exchange), from_account, exchange_name(to_exchange), to_account, currency_code(currency)
        )
        with self._lock:
            now = self._now_us()
            if key in self._tasks:
                self._renew(key, now)
                return False
            # A task instance is named by (key, timestamp): keep creation times unique even when
            # the clock has not moved (a manual clock) or stepped back.
            created = max(now, self._last_created_us + 1)
            value = TransferTaskValue(float(amount), created, extra)
            if self._store is not None:
                self._store.save_task(key, value, now)
            self._tasks[key] = (key, value)
            self._renewed_at[key] = now
            self._last_created_us = created
            return True

    def get_all_tasks(self) -> list[tuple[TransferTaskKey, TransferTaskValue]]:
        """A snapshot of the pending tasks, oldest first; later changes do not affect it."""
        with self._lock:
            return list(self._tasks.values())

    def remove_task(self, key: TransferTaskKey) -> bool:
        """Drop the pending task for ``key``; whether there was one."""
        with self._lock:
            return self._remove(key)

    def mark_success(self, key: TransferTaskKey) -> None:
        """Record that a transfer for ``key`` succeeded now."""
        with self._lock:
            self._mark_success(key, self._now_us(), None)

    def get_last_success_time(self, key: TransferTaskKey) -> int | None:
        """When a transfer for ``key`` last succeeded (microseconds since the epoch), or None."""
        with self._lock:
            return self._successes.get(key)

    def clean_expired_tasks(self) -> int:
        """Drop every task not added or renewed within ``default_expire_seconds``; how many were dropped."""
        with self._lock:
            deadline = self._now_us() - self._expire_us
            expired = [key for key, renewed_at in self._renewed_at.items() if renewed_at < deadline]
            if self._store is not None:
                self._store.delete_tasks(expired)
            for key in expired:
                del self._tasks[key]
                del self._renewed_at[key]
            return len(expired)

    # ---- beyond the seed --------------------------------------------------------------------

    def renew_task(self, key: TransferTaskKey) -> bool:
        """Restart the pending task's expiry; False if ``key`` is not pending."""
        with self._lock:
            if key not in self._tasks:
                return False
            self._renew(key, self._now_us())
            return True

    def get_task(self, key: TransferTaskKey) -> TransferTaskValue | None:
        """The pending task for ``key``, or None."""
        with self._lock:
            pair = self._tasks.get(key)
            return None if pair is None else pair[1]

    def complete_task(self, key: TransferTaskKey, task_timestamp: int | None = None) -> bool:
        """A transfer for ``key`` succeeded: remove the pending task and record the success time.

        With ``task_timestamp`` only that task instance is removed (a newer one stays), and a
        repeat for an instance already recorded changes nothing. Returns whether a task was removed.
        """
        with self._lock:
            if (
                task_timestamp is not None
                and key in self._successes
                and self._succeeded_instance.get(key) == task_timestamp
            ):
                return False  # this instance's success is already recorded
            pair = self._tasks.get(key)
            removed = False
            if pair is not None and (task_timestamp is None or pair[1].timestamp == task_timestamp):
                removed = self._remove(key)
            self._mark_success(key, self._now_us(), task_timestamp)
            return removed

    def __len__(self) -> int:
        with self._lock:
            return len(self._tasks)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._tasks

    # ---- under the lock ---------------------------------------------------------------------

    def _renew(self, key: TransferTaskKey, now: int) -> None:
        if self._store is not None:
            self._store.renew_task(key, now)
        self._renewed_at[key] = now

    def _remove(self, key: TransferTaskKey) -> bool:
        if key not in self._tasks:
            return False
        if self._store is not None:
            self._store.delete_task(key)
        del self._tasks[key]
        del self._renewed_at[key]
        return True

    def _mark_success(self, key: TransferTaskKey, now: int, task_timestamp: int | None) -> None:
        if self._store is not None:
            self._store.save_success(key, now, task_timestamp)
        self._successes[key] = now
        self._succeeded_instance[key] = task_timestamp


class TaskManagerActor(Actor):
    """Serves a `TransferTaskManager` through messages; conventionally named "tasks".

    With a ``journal`` the pending tasks and last-success times survive a restart; without one
    a restarted actor starts empty. Answers are returned (to an ask); `GetTasks` and
    `AddTransferTask` with ``reply_to`` also tell that actor (with the request's correlation id).
    """

    def __init__(self, default_expire_seconds: float = 120.0, journal: Journal | None = None) -> None:
        super().__init__()
        self.manager = TransferTaskManager(default_expire_seconds, clock=self.clock, journal=journal)

    def on_start(self) -> None:
        if len(self.manager):
            self.log.info("{} pending tasks loaded from the journal", len(self.manager))

    def on_add_transfer_task(self, message: AddTransferTask) -> TaskAdded | Rejected:
        try:
            added = self.manager.add_task(*message.key, amount=message.amount, extra=message.extra)
        except ValueError as error:
            self.log.warning("task refused: {}", error)
            refused = Rejected(reason=str(error), message_type=type(message).__name__)
            if message.reply_to:
                self.tell(message.reply_to, refused)
            return refused
        if added:
            self.log.info(
                "task added: {} {} ({})", message.amount, _describe(message.key), message.extra or "no follow-up"
            )
        answer = TaskAdded(key=message.key, added=added, correlation_id=message.correlation_id)
        if message.reply_to:
            self.tell(message.reply_to, answer)
        return answer

    def on_get_tasks(self, message: GetTasks) -> PendingTasks:
        pending = PendingTasks(tasks=self.manager.get_all_tasks(), correlation_id=message.correlation_id)
        if message.reply_to:
            self.tell(message.reply_to, pending)
        return pending

    def on_task_succeeded(self, message: TaskSucceeded) -> LastSuccess:
        if self.manager.complete_task(message.key, message.timestamp):
            self.log.info("task done: {}", _describe(message.key))
        return LastSuccess(key=message.key, timestamp=self.manager.get_last_success_time(message.key))

    def on_remove_task(self, message: RemoveTask) -> None:
        if self.manager.remove_task(message.key):
            self.log.info("task removed: {}", _describe(message.key))

    def on_clean_expired_tasks(self, message: CleanExpiredTasks) -> TasksCleaned:
        count = self.manager.clean_expired_tasks()
        if count:
            self.log.info("{} expired tasks dropped", count)
        return TasksCleaned(count=count)

    def on_get_last_success(self, message: GetLastSuccess) -> LastSuccess:
        return LastSuccess(key=message.key, timestamp=self.manager.get_last_success_time(message.key))


def _describe(key: TransferTaskKey) -> str:
    return f"{key.currency} {key.from_exchange}.{key.from_account} -> {key.to_exchange}.{key.to_account}"
