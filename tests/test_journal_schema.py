"""The journal's schema version: new files carry it, older files are migrated, newer ones refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from actors.stores.journal import SCHEMA_VERSION, Journal, JournalVersionError
from messages.common import Currencies, Exchanges
from messages.tasks import TransferTaskKey, TransferTaskValue

KEY = TransferTaskKey(Exchanges.KRAKEN, "trade", Exchanges.MEXC, "main", Currencies.USDC)


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])


def test_a_new_journal_carries_the_current_schema_version(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        assert journal.migrated_from == 0
    assert user_version(tmp_path / "j.sqlite") == SCHEMA_VERSION


def test_a_file_from_before_versioning_is_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with Journal(path) as journal:  # a file made by the current schema ...
        journal.tasks.save_task(KEY, TransferTaskValue(5.0, 1, None), 1)
        journal.state.put("hedge_a", "book", {"open": 1})
    with sqlite3.connect(path) as connection:  # ... as it was before the version was written
        connection.execute("PRAGMA user_version = 0")
    with Journal(path) as journal:
        assert journal.migrated_from == 0
        [(key, value, _)] = journal.tasks.load_tasks()
        assert (key, value.amount) == (KEY, 5.0)
        assert journal.state.get("hedge_a", "book") == {"open": 1}
    assert user_version(path) == SCHEMA_VERSION
    with Journal(path) as journal:
        assert journal.migrated_from == SCHEMA_VERSION  # nothing left to migrate


def test_a_file_from_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    Journal(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalVersionError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        Journal(path)
    assert user_version(path) == SCHEMA_VERSION + 1
