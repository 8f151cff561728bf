"""The journal: state that must outlive a crash, in one SQLite file (WAL mode) in the runtime folder.

Pending tasks, last-success times, transfer intents, chains and generic per-owner state (hedge
state). Each table has one writer: the actor that owns it. Several processes may open the same
file; every store has its own connection, so readers never wait for a writer.

The file carries its schema version (SQLite's ``user_version``). Opening an older file migrates
it in one transaction, step by step (`_MIGRATIONS`); a file from a newer version is refused.

(About 500 lines, over the usual 400: one SQLite file and its schema, with one small store class per
kind of saved state; split, the schema and its migrations would be spread over several modules.)
"""

from __future__ import annotations

import enum
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from messages.tasks import TransferTaskKey, TransferTaskValue

__all__ = [
    "INTENT_STATUSES",
    "IntentStatus",
    "SCHEMA_VERSION",
    "ChainStore",
    "HedgeStore",
    "IntentStore",
    "Journal",
    "JournalVersionError",
    "StateStore",
    "TaskStore",
    "TransferIntent",
]

BUSY_TIMEOUT_SECONDS = 10.0
"""How long a connection waits for another writer (another thread or process) before failing."""


class IntentStatus(enum.StrEnum):
    """A transfer intent's life: written "sending" before the venue call; "in_doubt" when the venue
    could not say (shown as unknown); "in_flight" accepted, not arrived; settled "done" or "failed"."""

    SENDING = "sending"
    IN_DOUBT = "in_doubt"
    IN_FLIGHT = "in_flight"
    DONE = "done"
    FAILED = "failed"


INTENT_STATUSES = tuple(IntentStatus)
"""Every intent status, in the order of an intent's life."""

_SETTLED = (IntentStatus.DONE, IntentStatus.FAILED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    from_exchange TEXT NOT NULL, from_account TEXT NOT NULL,
    to_exchange TEXT NOT NULL, to_account TEXT NOT NULL, currency TEXT NOT NULL,
    amount REAL NOT NULL, timestamp_us INTEGER NOT NULL, extra TEXT, renewed_at_us INTEGER NOT NULL,
    PRIMARY KEY (from_exchange, from_account, to_exchange, to_account, currency)
);
CREATE TABLE IF NOT EXISTS task_successes (
    from_exchange TEXT NOT NULL, from_account TEXT NOT NULL,
    to_exchange TEXT NOT NULL, to_account TEXT NOT NULL, currency TEXT NOT NULL,
    timestamp_us INTEGER NOT NULL, task_timestamp INTEGER,
    PRIMARY KEY (from_exchange, from_account, to_exchange, to_account, currency)
);
CREATE TABLE IF NOT EXISTS transfer_intents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL UNIQUE,
    task TEXT NOT NULL,
    task_timestamp INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    extra TEXT,
    created_at REAL NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS transfer_intents_by_task ON transfer_intents (task, task_timestamp, attempt);
CREATE INDEX IF NOT EXISTS transfer_intents_by_status ON transfer_intents (status, created_at);
CREATE INDEX IF NOT EXISTS transfer_intents_by_extra ON transfer_intents (extra);
CREATE TABLE IF NOT EXISTS chains (
    chain_id TEXT PRIMARY KEY,
    state BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS hedge_records (
    owner TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (owner, kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS owned_state (
    owner TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (owner, key)
);
"""

SCHEMA_VERSION = 1
"""The schema `_SCHEMA` creates. Bump it with each change, and add the step from the previous one."""

_MIGRATIONS: dict[int, str] = {
    0: "",  # files from before versioning hold version 1's tables (created above if missing)
}
"""version -> the SQL that brings a file at that version to the next one (run after `_SCHEMA`)."""


class JournalVersionError(RuntimeError):
    """The journal file was written by a newer version of the schema than this code knows."""


def _statements(script: str) -> list[str]:
    return [statement for statement in script.split(";") if statement.strip()]


def _migrate(connection: sqlite3.Connection, path: Path) -> int:
    """Create or migrate the schema of ``path`` to `SCHEMA_VERSION` in one transaction; the version found."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        found = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise JournalVersionError(
                f"journal {path} has schema version {found}, newer than this code's {SCHEMA_VERSION}; "
                "run the newer version or restore a matching file"
            )
        for statement in _statements(_SCHEMA):
            connection.execute(statement)
        for version in range(found, SCHEMA_VERSION):
            for statement in _statements(_MIGRATIONS[version]):
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return found


_KEY_COLUMNS = "from_exchange, from_account, to_exchange, to_account, currency"
_KEY_MATCH = "from_exchange = ? AND from_account = ? AND to_exchange = ? AND to_account = ? AND currency = ?"


class TransferIntent(msgspec.Struct, frozen=True):
    """A transfer as the executor recorded it before (and after) calling the venue, by ``client_id``.

    A record, not a message: it is written "sending" before the venue call, so after a crash the
    executor asks the venue about ``client_id`` instead of paying a second time.
    """

    client_id: str
    key: TransferTaskKey
    task_timestamp: int
    amount: float
    status: IntentStatus
    attempt: int = 1
    created_at: float = 0.0
    updated_at: float = 0.0
    extra: str | None = None
    fee: float = 0.0
    reason: str = ""
    source_adjusted: bool = False
    destination_adjusted: bool = False

    def __post_init__(self) -> None:
        if self.status not in INTENT_STATUSES:
            raise ValueError(f"intent status must be one of {INTENT_STATUSES}, got {self.status!r}")


def _key_row(key: TransferTaskKey) -> tuple[str, str, str, str, str]:
    """The key as stored: the names as they are."""
    return (key.from_exchange, key.from_account, key.to_exchange, key.to_account, key.currency)


def _key_from_row(row: Sequence[Any]) -> TransferTaskKey:
    return TransferTaskKey(row[0], row[1], row[2], row[3], row[4])


def _key_text(key: TransferTaskKey) -> str:
    """One indexable text for a key (account names may hold any character, so JSON, not a join)."""
    return msgspec.json.encode(_key_row(key)).decode()


def connect(path: str | os.PathLike[str], synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection to the journal file in WAL mode, autocommit, shareable between threads (guard it with a lock)."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    return connection


class _Store:
    """One table group's connection and the lock that lets several threads share it.

    ``SYNCHRONOUS`` is per connection: FULL makes a commit survive a power cut (the WAL is
    synced on every commit); NORMAL survives a crash of the process but may lose the last
    commits on a power cut, and is much cheaper.
    """

    SYNCHRONOUS = "FULL"

    def __init__(self, path: Path) -> None:
        self._connection = connect(path, self.SYNCHRONOUS)
        self._lock = threading.Lock()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Several statements committed together (or not at all)."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class TaskStore(_Store):
    """Pending transfer tasks and last-success times. Owned (written) by the task manager.

    Synchronous NORMAL: tasks are wishes that producers keep re-submitting and renewing, and
    this is the hot path; a power cut may lose the last few, a process crash loses none.
    """

    SYNCHRONOUS = "NORMAL"

    def save_task(self, key: TransferTaskKey, value: TransferTaskValue, renewed_at_us: int) -> None:
        """Insert or replace the pending task for ``key``."""
        with self._db() as db:
            db.execute(
                f"INSERT OR REPLACE INTO tasks ({_KEY_COLUMNS}, amount, timestamp_us, extra, renewed_at_us)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*_key_row(key), float(value.amount), int(value.timestamp), value.extra, int(renewed_at_us)),
            )

    def renew_task(self, key: TransferTaskKey, renewed_at_us: int) -> None:
        """Move the pending task's renewal time (nothing happens if it is not stored)."""
        with self._db() as db:
            db.execute(f"UPDATE tasks SET renewed_at_us = ? WHERE {_KEY_MATCH}", (int(renewed_at_us), *_key_row(key)))

    def delete_task(self, key: TransferTaskKey) -> None:
        with self._db() as db:
            db.execute(f"DELETE FROM tasks WHERE {_KEY_MATCH}", _key_row(key))

    def delete_tasks(self, keys: Sequence[TransferTaskKey]) -> None:
        """Delete several pending tasks in one transaction."""
        if not keys:
            return
        with self._transaction() as db:
            db.executemany(f"DELETE FROM tasks WHERE {_KEY_MATCH}", [_key_row(k) for k in keys])

    def load_tasks(self) -> list[tuple[TransferTaskKey, TransferTaskValue, int]]:
        """Every pending task with its renewal time (microseconds), oldest first."""
        with self._db() as db:
            rows = db.execute(
                f"SELECT {_KEY_COLUMNS}, amount, timestamp_us, extra, renewed_at_us FROM tasks ORDER BY timestamp_us"
            ).fetchall()
        return [(_key_from_row(r), TransferTaskValue(r[5], r[6], r[7]), r[8]) for r in rows]

    def save_success(self, key: TransferTaskKey, timestamp_us: int, task_timestamp: int | None = None) -> None:
        """Record that a transfer for ``key`` succeeded at ``timestamp_us`` (for task instance ``task_timestamp``)."""
        with self._db() as db:
            db.execute(
                f"INSERT OR REPLACE INTO task_successes ({_KEY_COLUMNS}, timestamp_us, task_timestamp)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*_key_row(key), int(timestamp_us), task_timestamp),
            )

    def load_successes(self) -> dict[TransferTaskKey, int]:
        """The last success time (microseconds) of every key that ever succeeded."""
        return {key: at for key, (at, _) in self.load_success_records().items()}

    def load_success_records(self) -> dict[TransferTaskKey, tuple[int, int | None]]:
        """Per key: (last success time, the task instance's timestamp that succeeded or None)."""
        with self._db() as db:
            rows = db.execute(f"SELECT {_KEY_COLUMNS}, timestamp_us, task_timestamp FROM task_successes").fetchall()
        return {_key_from_row(r): (r[5], r[6]) for r in rows}


_intent_encoder = msgspec.json.Encoder()
_intent_decoder = msgspec.json.Decoder(TransferIntent)


class IntentStore(_Store):
    """Transfer intents by client id. Owned (written) by the transfer executor.

    Synchronous FULL: an intent is what stops a second payment after a crash, so it must be
    on disk before the venue is called, even across a power cut.
    """

    def record(self, intent: TransferIntent) -> None:
        """Insert the intent, or replace the one with the same ``client_id`` (keeping its place in order)."""
        with self._db() as db:
            db.execute(
                "INSERT INTO transfer_intents (client_id, task, task_timestamp, attempt, status, extra, created_at, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (client_id) DO UPDATE SET task = excluded.task, task_timestamp = excluded.task_timestamp,"
                " attempt = excluded.attempt, status = excluded.status, extra = excluded.extra,"
                " created_at = excluded.created_at, record = excluded.record",
                (
                    intent.client_id,
                    _key_text(intent.key),
                    intent.task_timestamp,
                    intent.attempt,
                    intent.status,
                    intent.extra,
                    intent.created_at,
                    _intent_encoder.encode(intent),
                ),
            )

    def get(self, client_id: str) -> TransferIntent | None:
        rows = self._select("WHERE client_id = ?", (client_id,))
        return rows[0] if rows else None

    def for_task(self, key: TransferTaskKey, task_timestamp: int) -> list[TransferIntent]:
        """Every attempt made for one task instance (``key`` created at ``task_timestamp``), by attempt."""
        return self._select(
            "WHERE task = ? AND task_timestamp = ? ORDER BY attempt, seq", (_key_text(key), task_timestamp)
        )

    def open_intents(self) -> list[TransferIntent]:
        """Intents not yet settled (neither done nor failed), oldest first."""
        return self._select("WHERE status NOT IN (?, ?) ORDER BY created_at, seq", _SETTLED)

    def with_status(self, status: str, since: float = 0.0) -> list[TransferIntent]:
        """Every intent now in ``status`` whose last change was at or after ``since``, oldest first."""
        if status not in INTENT_STATUSES:
            raise ValueError(f"unknown intent status {status!r}; expected one of {INTENT_STATUSES}")
        return [
            i for i in self._select("WHERE status = ? ORDER BY created_at, seq", (status,)) if i.updated_at >= since
        ]

    def with_extra(self, extra: str) -> list[TransferIntent]:
        """Every intent whose task carried this ``extra`` (follow-up tag), oldest first."""
        return self._select("WHERE extra = ? ORDER BY created_at, seq", (extra,))

    def _select(self, where: str, parameters: Sequence[Any]) -> list[TransferIntent]:
        with self._db() as db:
            rows = db.execute(f"SELECT record FROM transfer_intents {where}", parameters).fetchall()
        return [_intent_decoder.decode(row[0]) for row in rows]


class ChainStore(_Store):
    """Multi-hop chains as opaque JSON-able dicts, by ``chain_id``. Owned by the chain executor."""

    def save(self, chain_id: str, state: Mapping[str, Any]) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO chains (chain_id, state) VALUES (?, ?)",
                (chain_id, msgspec.json.encode(state)),
            )

    def load_all(self) -> dict[str, dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT chain_id, state FROM chains ORDER BY rowid").fetchall()
        return {chain_id: msgspec.json.decode(state) for chain_id, state in rows}

    def delete(self, chain_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM chains WHERE chain_id = ?", (chain_id,))


class StateStore(_Store):
    """Any JSON-able value per (owner, key), such as hedge state. Each owner writes only its own rows."""

    def put(self, owner: str, key: str, value: Any) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO owned_state (owner, key, value) VALUES (?, ?, ?)",
                (owner, key, msgspec.json.encode(value)),
            )

    def get(self, owner: str, key: str, default: Any = None) -> Any:
        with self._db() as db:
            row = db.execute("SELECT value FROM owned_state WHERE owner = ? AND key = ?", (owner, key)).fetchone()
        return default if row is None else msgspec.json.decode(row[0])

    def items(self, owner: str) -> dict[str, Any]:
        with self._db() as db:
            rows = db.execute("SELECT key, value FROM owned_state WHERE owner = ? ORDER BY key", (owner,)).fetchall()
        return {key: msgspec.json.decode(value) for key, value in rows}

    def delete(self, owner: str, key: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM owned_state WHERE owner = ? AND key = ?", (owner, key))


Record = tuple[str, str, bytes]
"""One hedge record as written: (kind, key, encoded value)."""


class HedgeStore(_Store):
    """The hedge pair's records, one small row per (owner, kind, key): a book's own record, each open
    fill or job, each remembered answer. Owned by the hedge actors (each writes its own owner).

    A write is one transaction. ``synced=True`` commits with ``synchronous=FULL`` (on disk, power-loss
    safe, before the caller acts on it); ``synced=False`` with NORMAL: it survives a crash of the
    process, and a power cut may lose it only together with every later unsynced write, which
    is for writes that follow their action and that recovery re-derives. WAL keeps the order:
    a synced commit makes every earlier commit durable too. ``synced_commits`` and
    ``relaxed_commits`` count the commits (the benchmark reads them).
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._synced = True  # the connection's synchronous setting now (it opens with FULL)
        self._seq = 0
        self.synced_commits = 0
        self.relaxed_commits = 0

    def write(
        self, owner: str, records: Sequence[Record] = (), *, synced: bool, delete: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Insert or replace ``records`` and delete the ``delete`` (kind, key) rows, in one commit."""
        with self._lock:
            db = self._connection
            if synced != self._synced:
                db.execute(f"PRAGMA synchronous={'FULL' if synced else 'NORMAL'}")
                self._synced = synced
            if not self._seq:
                self._seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM hedge_records").fetchone()[0]
            db.execute("BEGIN IMMEDIATE")
            try:
                for kind, key, value in records:
                    self._seq += 1
                    db.execute(
                        "INSERT OR REPLACE INTO hedge_records (owner, kind, key, seq, value) VALUES (?, ?, ?, ?, ?)",
                        (owner, kind, key, self._seq, value),
                    )
                for kind, key in delete:
                    db.execute("DELETE FROM hedge_records WHERE owner = ? AND kind = ? AND key = ?", (owner, kind, key))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            if synced:
                self.synced_commits += 1
            else:
                self.relaxed_commits += 1

    def load(self, owner: str, kind: str) -> list[tuple[str, bytes]]:
        """(key, value) of every ``kind`` row of ``owner``, in the order they were last written."""
        with self._db() as db:
            rows = db.execute(
                "SELECT key, value FROM hedge_records WHERE owner = ? AND kind = ? ORDER BY seq", (owner, kind)
            ).fetchall()
        return [(key, value) for key, value in rows]


class Journal:
    """The journal file and its stores: ``tasks``, ``intents``, ``chains``, ``state`` and ``hedge``.

    Creates the parent folder and the schema on first use. Safe to open the same file from
    several `Journal` objects, threads or processes at once; each store's writes are committed
    when its call returns. Give each table one writer (its owning actor). `close` when done.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        schema = connect(self.path)
        try:
            self.migrated_from = _migrate(schema, self.path)
        finally:
            schema.close()
        self.tasks = TaskStore(self.path)
        self.intents = IntentStore(self.path)
        self.chains = ChainStore(self.path)
        self.state = StateStore(self.path)
        self.hedge = HedgeStore(self.path)

    def close(self) -> None:
        for store in (self.tasks, self.intents, self.chains, self.state, self.hedge):
            store.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"
