"""The task manager: the bookkeeping class directly, then the actor through messages under a real runtime."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from actors.base import Actor
from actors.stores.journal import Journal
from actors.tasks import TaskManagerActor, TransferTaskKey, TransferTaskManager, TransferTaskValue
from messages.base import Message
from messages.common import Currencies, Exchanges
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
)
from supervisor import ChildSpec, ManualClock, Runtime, Supervisor
from tests.money import ask_as
from tests.probe import Crash

KEY = TransferTaskKey(Exchanges.KRAKEN, "trade", Exchanges.KRAKEN, "main", Currencies.USDC)
KEY_B = TransferTaskKey(Exchanges.KRAKEN, "trade", Exchanges.KRAKEN, "close_position", Currencies.USD)
US = 1_000_000


def add(
    manager: TransferTaskManager, key: TransferTaskKey = KEY, amount: float = 1000.0, extra: str | None = None
) -> bool:
    return manager.add_task(*key[:4], currency=key.currency, amount=amount, extra=extra)


def command(key: TransferTaskKey = KEY, amount: float = 1000.0, extra: str | None = None) -> AddTransferTask:
    return AddTransferTask(*key, amount=amount, extra=extra)


# ---- the bookkeeping class ---------------------------------------------------------------------


def test_a_pending_key_is_not_added_twice_and_keeps_its_first_amount(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    assert add(manager, amount=1000.0, extra="first") is True
    clock.advance(5)
    assert add(manager, amount=42.0, extra="second") is False
    assert manager.get_all_tasks() == [(KEY, TransferTaskValue(1000.0, int(clock.now() * US) - 5 * US, "first"))]
    assert len(manager) == 1


def test_the_task_timestamp_is_its_creation_time_in_microseconds(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    add(manager)
    [(_, value)] = manager.get_all_tasks()
    assert value.timestamp == int(clock.now() * US)


def test_task_timestamps_are_unique_even_when_the_clock_stands_still(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    add(manager)
    first = manager.get_all_tasks()[0][1].timestamp
    manager.remove_task(KEY)
    add(manager)
    add(manager, KEY_B)
    stamps = [value.timestamp for _, value in manager.get_all_tasks()]
    assert stamps == [first + 1, first + 2]


def test_keys_given_as_plain_strings_are_the_same_task(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    add(manager)
    assert manager.add_task("kraken", "trade", "kraken", "main", "usdc", 5.0) is False  # type: ignore[arg-type]
    [(key, _)] = manager.get_all_tasks()
    assert type(key.from_exchange) is str and type(key.currency) is str


@pytest.mark.parametrize("amount", [0.0, -1.0, math.nan, math.inf, -math.inf, True])
def test_an_amount_that_is_not_a_finite_positive_number_is_refused(clock: ManualClock, amount: float) -> None:
    manager = TransferTaskManager(clock=clock)
    with pytest.raises(ValueError, match="amount"):
        add(manager, amount=amount)
    assert manager.get_all_tasks() == []


def test_an_unknown_exchange_is_refused(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    with pytest.raises(ValueError):
        manager.add_task("no where", "a", Exchanges.KRAKEN, "b", Currencies.USD, 1.0)  # type: ignore[arg-type]
    assert len(manager) == 0


def test_a_task_not_renewed_within_the_expiry_is_cleaned(clock: ManualClock) -> None:
    manager = TransferTaskManager(default_expire_seconds=120.0, clock=clock)
    add(manager)
    clock.advance(120)
    assert manager.clean_expired_tasks() == 0  # exactly at the expiry it is still wanted
    clock.advance(1)
    assert manager.clean_expired_tasks() == 1
    assert manager.get_all_tasks() == []
    assert add(manager) is True  # and the key may be submitted again


def test_adding_a_pending_key_again_renews_its_expiry(clock: ManualClock) -> None:
    manager = TransferTaskManager(default_expire_seconds=120.0, clock=clock)
    add(manager, KEY)
    add(manager, KEY_B)
    clock.advance(100)
    assert add(manager, KEY) is False  # the producer still wants it
    clock.advance(21)
    assert manager.clean_expired_tasks() == 1
    assert [key for key, _ in manager.get_all_tasks()] == [KEY]
    clock.advance(100)
    assert manager.clean_expired_tasks() == 1
    assert len(manager) == 0


def test_renew_task_keeps_a_task_alive_and_reports_unknown_keys(clock: ManualClock) -> None:
    manager = TransferTaskManager(default_expire_seconds=10.0, clock=clock)
    add(manager)
    clock.advance(9)
    assert manager.renew_task(KEY) is True
    assert manager.renew_task(KEY_B) is False
    clock.advance(9)
    assert manager.clean_expired_tasks() == 0
    assert KEY in manager


def test_the_expiry_must_be_positive() -> None:
    with pytest.raises(ValueError, match="default_expire_seconds"):
        TransferTaskManager(default_expire_seconds=0)


def test_the_snapshot_does_not_change_when_tasks_change_later(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    add(manager, KEY)
    snapshot = manager.get_all_tasks()
    add(manager, KEY_B)
    manager.remove_task(KEY)
    assert [key for key, _ in snapshot] == [KEY]


def test_snapshots_are_consistent_while_other_threads_add(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    keys = [TransferTaskKey(Exchanges.MEXC, f"sub{i}", Exchanges.MEXC, "main", Currencies.USDT) for i in range(4000)]
    start = threading.Barrier(5)
    errors: list[BaseException] = []

    def produce(part: list[TransferTaskKey]) -> None:
        start.wait()
        for key in part:
            add(manager, key, amount=1.0)

    def consume() -> None:
        start.wait()
        try:
            seen = 0
            while seen < len(keys):
                snapshot = manager.get_all_tasks()
                assert len(snapshot) >= seen  # tasks only accumulate here
                assert len({key for key, _ in snapshot}) == len(snapshot)
                seen = len(snapshot)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=produce, args=(keys[i::4],)) for i in range(4)]
    threads.append(threading.Thread(target=consume))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(manager) == len(keys)


def test_concurrent_producers_of_one_key_add_exactly_one_task(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    start = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def produce() -> None:
        start.wait()
        for _ in range(200):
            added = add(manager)
            with lock:
                results.append(added)

    threads = [threading.Thread(target=produce) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results.count(True) == 1 and len(results) == 1600
    assert len(manager) == 1


def test_last_success_time_is_recorded_in_microseconds(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    assert manager.get_last_success_time(KEY) is None
    add(manager)
    assert manager.remove_task(KEY) is True
    assert manager.remove_task(KEY) is False
    manager.mark_success(KEY)
    assert manager.get_last_success_time(KEY) == int(clock.now() * US)
    assert manager.get_last_success_time(KEY_B) is None


def test_completing_a_task_removes_only_that_instance(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    add(manager)
    old = manager.get_all_tasks()[0][1].timestamp
    manager.remove_task(KEY)
    clock.advance(1)
    add(manager, amount=7.0)  # a new instance of the same key
    assert manager.complete_task(KEY, old) is False
    assert manager.get_task(KEY) == TransferTaskValue(7.0, old + US, None)
    assert manager.get_last_success_time(KEY) == int(clock.now() * US)  # the old transfer did succeed


def test_completing_the_same_instance_twice_changes_nothing_the_second_time(clock: ManualClock) -> None:
    manager = TransferTaskManager(clock=clock)
    add(manager)
    instance = manager.get_all_tasks()[0][1].timestamp
    assert manager.complete_task(KEY, instance) is True
    first_success = manager.get_last_success_time(KEY)
    clock.advance(30)
    assert manager.complete_task(KEY, instance) is False
    assert manager.get_last_success_time(KEY) == first_success


def test_tasks_and_successes_survive_a_new_manager_on_the_same_journal(clock: ManualClock, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        manager = TransferTaskManager(clock=clock, journal=journal)
        add(manager, KEY, amount=1000.0, extra="follow")
        add(manager, KEY_B, amount=500.0)
        manager.complete_task(KEY_B, manager.get_task(KEY_B).timestamp)  # type: ignore[union-attr]
        clock.advance(100)
        add(manager, KEY)  # renewal, written through
        before = manager.get_all_tasks()
    clock.advance(30)
    with Journal(path) as journal:
        reloaded = TransferTaskManager(clock=clock, journal=journal)
        assert reloaded.get_all_tasks() == before
        assert reloaded.get_last_success_time(KEY_B) == int((clock.now() - 130) * US)
        assert reloaded.clean_expired_tasks() == 0  # the renewal was journaled
        clock.advance(91)
        assert reloaded.clean_expired_tasks() == 1
    with Journal(path) as journal:
        assert TransferTaskManager(clock=clock, journal=journal).get_all_tasks() == []  # the clean was journaled


def test_a_reloaded_manager_keeps_task_timestamps_unique(clock: ManualClock, tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        first = TransferTaskManager(clock=clock, journal=journal)
        add(first)
        instance = first.get_task(KEY).timestamp  # type: ignore[union-attr]
        first.complete_task(KEY, instance)
        second = TransferTaskManager(clock=clock, journal=journal)
        add(second)  # the clock has not moved: still a new instance
        assert second.get_task(KEY).timestamp > instance  # type: ignore[union-attr]
        assert second.complete_task(KEY, second.get_task(KEY).timestamp) is True  # type: ignore[union-attr]


# ---- the actor through messages ------------------------------------------------------------------


class CrashableTasks(TaskManagerActor):
    """Test only: a task manager that raises on `Crash`, to prove what survives a restart."""

    def on_crash(self, message: Crash) -> None:
        raise RuntimeError(message.why)


class Inbox(Actor):
    """Test only: keeps every `PendingTasks` told to it."""

    def __init__(self, received: list[PendingTasks], arrived: threading.Event) -> None:
        super().__init__()
        self.received = received
        self.arrived = arrived

    def on_pending_tasks(self, message: PendingTasks) -> None:
        self.received.append(message)
        self.arrived.set()


def tasks_tree(journal: Journal | None = None, *extra: ChildSpec) -> Supervisor:
    return Supervisor([ChildSpec("tasks", lambda: CrashableTasks(journal=journal)), *extra], backoff=(0.0, 0.0))


def pending(rt: Runtime) -> list[tuple[TransferTaskKey, TransferTaskValue]]:
    answer = rt.ask("tasks", GetTasks())
    assert isinstance(answer, PendingTasks)
    return answer.tasks


def test_the_actor_adds_a_task_once_per_key(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(tasks_tree())
    assert rt.ask("tasks", command()) == TaskAdded(key=KEY, added=True)
    assert rt.ask("tasks", command(amount=5.0)) == TaskAdded(key=KEY, added=False)
    assert [(k, v.amount) for k, v in pending(rt)] == [(KEY, 1000.0)]


def test_concurrent_producers_telling_one_key_leave_exactly_one_task(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(tasks_tree())
    start = threading.Barrier(10)

    def produce(n: int) -> None:
        start.wait()
        for i in range(50):
            rt.tell("tasks", command(amount=float(n * 100 + i + 1)))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(pending(rt)) == 1  # the ask is handled after all 500 tells


def test_clean_expired_tasks_drops_a_task_after_the_expiry(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    rt = make_runtime(tasks_tree())
    rt.ask("tasks", command(KEY))
    clock.advance(60)
    rt.ask("tasks", command(KEY_B))
    clock.advance(61)
    assert rt.ask("tasks", CleanExpiredTasks()) == TasksCleaned(count=1)
    assert [key for key, _ in pending(rt)] == [KEY_B]


def test_a_bad_amount_is_rejected_and_changes_nothing(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(tasks_tree())
    rt.ask("tasks", command(KEY, amount=10.0))
    before = pending(rt)
    for amount in (0.0, -5.0):
        answer = rt.ask("tasks", command(KEY_B, amount=amount))
        assert isinstance(answer, Rejected)
        assert "amount" in answer.reason and answer.message_type == "AddTransferTask"
    assert pending(rt) == before


def test_a_non_finite_amount_cannot_even_be_sent() -> None:
    with pytest.raises(ValueError, match="finite"):
        command(amount=math.nan)


def test_get_tasks_with_reply_to_tells_the_named_actor(make_runtime: Callable[..., Runtime]) -> None:
    received: list[PendingTasks] = []
    arrived = threading.Event()
    rt = make_runtime(tasks_tree(None, ChildSpec("executor", lambda: Inbox(received, arrived))))
    rt.ask("tasks", command())
    rt.tell("tasks", GetTasks(reply_to="executor", correlation_id="run-7"))
    assert arrived.wait(5)
    [told] = received
    assert told.correlation_id == "run-7"
    assert [key for key, _ in told.tasks] == [KEY]


def test_task_succeeded_removes_the_task_and_records_the_time(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    rt = make_runtime(tasks_tree())
    rt.ask("tasks", command())
    [(_, value)] = pending(rt)
    clock.advance(3)
    done = ask_as(rt, "transfers", "tasks", TaskSucceeded(key=KEY, timestamp=value.timestamp))
    assert done == LastSuccess(key=KEY, timestamp=int(clock.now() * US))
    assert pending(rt) == []
    clock.advance(3)
    assert (
        ask_as(rt, "transfers", "tasks", TaskSucceeded(key=KEY, timestamp=value.timestamp)) == done
    )  # a repeat changes nothing
    assert rt.ask("tasks", GetLastSuccess(key=KEY)) == done


def test_task_succeeded_for_an_old_instance_keeps_the_new_task(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    rt = make_runtime(tasks_tree())
    rt.ask("tasks", command())
    [(_, old)] = pending(rt)
    rt.ask("tasks", RemoveTask(key=KEY))
    clock.advance(1)
    rt.ask("tasks", command(amount=3.0))
    ask_as(rt, "transfers", "tasks", TaskSucceeded(key=KEY, timestamp=old.timestamp))
    assert [(k, v.amount) for k, v in pending(rt)] == [(KEY, 3.0)]
    ask_as(rt, "transfers", "tasks", TaskSucceeded(key=KEY))  # no instance named: whatever is pending goes
    assert pending(rt) == []


def test_remove_task_drops_only_that_key(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(tasks_tree())
    rt.ask("tasks", command(KEY))
    rt.ask("tasks", command(KEY_B))
    assert rt.ask("tasks", RemoveTask(key=KEY)) is None
    assert [key for key, _ in pending(rt)] == [KEY_B]
    assert rt.ask("tasks", GetLastSuccess(key=KEY)) == LastSuccess(key=KEY, timestamp=None)


def test_pending_tasks_and_successes_survive_a_crash_with_a_journal(
    make_runtime: Callable[..., Runtime], clock: ManualClock, tmp_path: Path
) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        rt = make_runtime(tasks_tree(journal))
        rt.ask("tasks", command(KEY, extra="hedge"))
        rt.ask("tasks", command(KEY_B, amount=500.0))
        success = ask_as(rt, "transfers", "tasks", TaskSucceeded(key=KEY_B))
        before = pending(rt)
        rt.tell("tasks", Crash("bug"))
        assert rt.wait_until(lambda: rt.status_of("tasks").restarts == 1 and rt.status_of("tasks").state == "running")
        assert pending(rt) == before
        assert rt.ask("tasks", GetLastSuccess(key=KEY_B)) == success
        assert rt.ask("tasks", command(KEY, amount=9.0)) == TaskAdded(key=KEY, added=False)  # still deduped
        rt.stop()


def test_without_a_journal_a_restarted_actor_starts_empty(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(tasks_tree())
    rt.ask("tasks", command())
    rt.tell("tasks", Crash("bug"))
    assert rt.wait_until(lambda: rt.status_of("tasks").restarts == 1 and rt.status_of("tasks").state == "running")
    assert pending(rt) == []


def test_every_task_message_crosses_the_wire(make_runtime: Callable[..., Runtime]) -> None:
    from messages import decode, encode

    rt = make_runtime(tasks_tree())
    rt.ask("tasks", command(extra="x"))
    answers: list[Message] = [
        rt.ask("tasks", command()),
        rt.ask("tasks", GetTasks(correlation_id="c")),
        rt.ask("tasks", GetLastSuccess(key=KEY)),
        rt.ask("tasks", CleanExpiredTasks()),
    ]
    for answer in answers:
        assert decode(encode(answer)) == answer
