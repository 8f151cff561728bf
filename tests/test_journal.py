"""The journal on a real SQLite file: round trips, reopening, WAL mode, two openers of one file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import msgspec
import pytest

from actors.stores.journal import Journal, TransferIntent
from messages.common import Currencies, Exchanges
from messages.tasks import TransferTaskKey, TransferTaskValue

KEY = TransferTaskKey(Exchanges.KRAKEN, "trade", Exchanges.BINANCE, "main", Currencies.USDC)
OTHER = TransferTaskKey(Exchanges.KRAKEN, "trade", Exchanges.KRAKEN, "close_position", Currencies.USD)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "runtime" / "journal.sqlite3"


def intent(client_id: str, status: str = "sending", key: TransferTaskKey = KEY, **fields: object) -> TransferIntent:
    fields.setdefault("task_timestamp", 100)
    fields.setdefault("amount", 250.0)
    return TransferIntent(client_id=client_id, key=key, status=status, **fields)  # type: ignore[arg-type]


def test_the_journal_creates_its_folder_and_runs_in_wal_mode(path: Path) -> None:
    with Journal(path):
        assert path.exists()
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()


def test_intents_are_synced_fully_and_tasks_normally(path: Path) -> None:
    with Journal(path) as journal:
        assert journal.intents._connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert journal.tasks._connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL


def test_tasks_and_successes_survive_reopening_with_their_enums(path: Path) -> None:
    with Journal(path) as journal:
        journal.tasks.save_task(KEY, TransferTaskValue(1000.0, 111, "then-hedge"), 222)
        journal.tasks.save_task(OTHER, TransferTaskValue(500.0, 333, None), 333)
        journal.tasks.save_success(KEY, 999)
    with Journal(path) as journal:
        tasks = journal.tasks.load_tasks()
        successes = journal.tasks.load_successes()
    assert tasks == [
        (KEY, TransferTaskValue(1000.0, 111, "then-hedge"), 222),
        (OTHER, TransferTaskValue(500.0, 333, None), 333),
    ]
    loaded_key = tasks[0][0]
    assert type(loaded_key) is TransferTaskKey
    assert type(loaded_key.from_exchange) is str and type(loaded_key.currency) is str
    assert successes == {KEY: 999}


def test_saving_a_task_again_replaces_it_and_deleting_removes_it(path: Path) -> None:
    with Journal(path) as journal:
        journal.tasks.save_task(KEY, TransferTaskValue(1.0, 1, None), 1)
        journal.tasks.save_task(KEY, TransferTaskValue(2.0, 2, "x"), 5)
        assert journal.tasks.load_tasks() == [(KEY, TransferTaskValue(2.0, 2, "x"), 5)]
        journal.tasks.renew_task(KEY, 9)
        assert journal.tasks.load_tasks()[0][2] == 9
        journal.tasks.delete_task(KEY)
        assert journal.tasks.load_tasks() == []


def test_a_success_remembers_which_task_instance_succeeded(path: Path) -> None:
    with Journal(path) as journal:
        journal.tasks.save_success(KEY, 50, task_timestamp=7)
        journal.tasks.save_success(OTHER, 60)
        assert journal.tasks.load_success_records() == {KEY: (50, 7), OTHER: (60, None)}


def test_account_names_with_any_characters_round_trip(path: Path) -> None:
    odd = TransferTaskKey(Exchanges.MEXC, 'a"b,c', Exchanges.MEXC, "sub\u00e9/1", Currencies.BTC)
    with Journal(path) as journal:
        journal.tasks.save_task(odd, TransferTaskValue(0.5, 1, None), 1)
        journal.intents.record(intent("c-odd", key=odd, task_timestamp=1))
        assert journal.tasks.load_tasks()[0][0] == odd
        assert [i.client_id for i in journal.intents.for_task(odd, 1)] == ["c-odd"]


def test_an_intent_round_trips_every_field(path: Path) -> None:
    full = intent(
        "c1",
        "in_flight",
        attempt=2,
        created_at=10.5,
        updated_at=11.25,
        extra="chain:x:0",
        fee=1.5,
        reason="slow",
        source_adjusted=True,
    )
    with Journal(path) as journal:
        journal.intents.record(full)
    with Journal(path) as journal:
        assert journal.intents.get("c1") == full
        assert journal.intents.get("nobody") is None


def test_recording_an_intent_again_replaces_it_by_client_id(path: Path) -> None:
    with Journal(path) as journal:
        journal.intents.record(intent("c1", "sending", created_at=1.0))
        journal.intents.record(intent("c2", "sending", created_at=2.0))
        journal.intents.record(msgspec.structs.replace(intent("c1", created_at=1.0), status="in_doubt"))
        assert journal.intents.get("c1").status == "in_doubt"  # type: ignore[union-attr]
        assert [i.client_id for i in journal.intents.open_intents()] == ["c1", "c2"]  # c1 kept its place


def test_for_task_lists_every_attempt_of_one_task_instance_in_order(path: Path) -> None:
    with Journal(path) as journal:
        journal.intents.record(intent("t100-2", "done", attempt=2))
        journal.intents.record(intent("t100-1", "failed", attempt=1))
        journal.intents.record(intent("t200-1", "sending", task_timestamp=200))
        journal.intents.record(intent("other-1", "sending", key=OTHER))
        assert [i.client_id for i in journal.intents.for_task(KEY, 100)] == ["t100-1", "t100-2"]
        assert [i.client_id for i in journal.intents.for_task(KEY, 200)] == ["t200-1"]
        assert journal.intents.for_task(OTHER, 200) == []


def test_open_intents_are_the_unsettled_ones_oldest_first(path: Path) -> None:
    with Journal(path) as journal:
        journal.intents.record(intent("late", "in_flight", created_at=30.0))
        journal.intents.record(intent("paid", "done", created_at=5.0))
        journal.intents.record(intent("early", "sending", created_at=10.0))
        journal.intents.record(intent("refused", "failed", created_at=1.0))
        journal.intents.record(intent("unknown", "in_doubt", created_at=20.0))
        assert [i.client_id for i in journal.intents.open_intents()] == ["early", "unknown", "late"]


def test_intents_are_found_by_their_follow_up_tag(path: Path) -> None:
    with Journal(path) as journal:
        journal.intents.record(intent("a", extra="chain:1:0", created_at=2.0))
        journal.intents.record(intent("b", extra="chain:1:1", created_at=3.0))
        journal.intents.record(intent("c", extra="chain:1:0", created_at=4.0, attempt=2))
        assert [i.client_id for i in journal.intents.with_extra("chain:1:0")] == ["a", "c"]


def test_an_intent_with_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        intent("c1", "paid")


def test_chains_are_saved_loaded_and_deleted_as_json(path: Path) -> None:
    chain = {
        "chain_id": "c",
        "hops": [["kraken", "main"], ["binance", "main"]],
        "hop": 1,
        "amount": 12.5,
        "extra": None,
    }
    with Journal(path) as journal:
        journal.chains.save("c", chain)
        journal.chains.save("d", {"hop": 0})
        journal.chains.save("d", {"hop": 2})
    with Journal(path) as journal:
        assert journal.chains.load_all() == {"c": chain, "d": {"hop": 2}}
        journal.chains.delete("c")
        assert list(journal.chains.load_all()) == ["d"]


def test_state_is_kept_per_owner_and_key(path: Path) -> None:
    with Journal(path) as journal:
        journal.state.put("hedge_b", "position", {"qty": 1.5, "side": "sell"})
        journal.state.put("hedge_b", "paused", True)
        journal.state.put("hedge_a", "paused", False)
    with Journal(path) as journal:
        assert journal.state.get("hedge_b", "position") == {"qty": 1.5, "side": "sell"}
        assert journal.state.get("hedge_b", "missing", default=0) == 0
        assert journal.state.items("hedge_b") == {"paused": True, "position": {"qty": 1.5, "side": "sell"}}
        journal.state.delete("hedge_b", "paused")
        assert journal.state.items("hedge_b") == {"position": {"qty": 1.5, "side": "sell"}}
        assert journal.state.items("hedge_a") == {"paused": False}


def test_two_journals_on_one_file_see_each_others_committed_writes(path: Path) -> None:
    with Journal(path) as first, Journal(path) as second:
        first.intents.record(intent("from-first"))
        second.chains.save("from-second", {"hop": 3})
        second.tasks.save_task(KEY, TransferTaskValue(7.0, 1, None), 1)
        assert second.intents.get("from-first") is not None
        assert first.chains.load_all() == {"from-second": {"hop": 3}}
        assert first.tasks.load_tasks() == [(KEY, TransferTaskValue(7.0, 1, None), 1)]


def test_writers_in_several_threads_and_journals_lose_nothing(path: Path) -> None:
    journals = [Journal(path) for _ in range(3)]
    try:

        def write(n: int) -> None:
            journal = journals[n % len(journals)]
            for i in range(50):
                journal.intents.record(intent(f"w{n}-{i}", "done"))

        threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
        with Journal(path) as reader:
            count = reader.intents._connection.execute("SELECT count(*) FROM transfer_intents").fetchone()[0]
        assert count == 6 * 50
    finally:
        for journal in journals:
            journal.close()
