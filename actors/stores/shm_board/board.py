"""`SharedMemoryBoard`: the balance board in a POSIX shared-memory segment, one writer, lock-free readers.

Each row is guarded by a sequence lock (odd while written); a reader copies a row again if the
counter was odd or moved, and follows a restarted writer's successor board.
Over 400 lines because the writer and the reader of one row format are one mechanism: they
change together, and splitting them would put the two halves of the sequence lock apart.
"""

from __future__ import annotations

import _posixshmem
import ctypes
import functools
import mmap
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import ClassVar, TypeVar

import msgspec
from loguru import logger

from actors.stores.shm_board.layout import (
    ACCOUNT_BYTES,
    CLOSED,
    CLOSED_SEQ,
    CURRENCY_BYTES,
    DEFAULT_CAPACITY,
    DEFAULT_ENTRY,
    DEFAULTS,
    DEFAULTS_AT,
    DEFAULTS_SEQ_AT,
    EXCHANGE_BYTES,
    HEADER,
    HEADER_SIZE,
    KEY,
    KEY_AT,
    LAYOUT_VERSION,
    MAGIC,
    MAX_CAPACITY,
    MAX_EXCHANGES,
    MAX_SLOTS,
    META,
    META_AT,
    OPEN,
    ROW_COUNT_AT,
    ROW_SIZE,
    SEQ,
    SLOT_STRUCTS,
    SLOTS_AT,
    STATE_AT,
    BoardCapacityError,
    BoardClosedError,
    BoardKey,
    BoardReadOnlyError,
    decode,
    describe_key,
    encode,
    row_values,
    words_of,
)
from actors.stores.shm_board.records import (
    advertise,
    pid_alive,
    remove_record,
    segment_exists,
)
from messages.balances import BalanceView
from messages.common import Currency, Exchange

__all__ = ["SharedMemoryBoard"]

log = logger.bind(actor="board")

_Row = tuple[int, int, BalanceView | None]  # offset, sequence the view was read at (-1: none), view
_Search = Callable[[], "tuple[SharedMemoryBoard | None, list[str]]"]
_Copy = TypeVar("_Copy")


class SharedMemoryBoard:
    """A `BalanceBoard` in a shared-memory segment: one writer process, readers in any process on the host.

    The writer is made with `create` (normally inside the gateway's process); it alone calls
    `publish` and `set_default_account`, and `close` unlinks the segment. Readers get one with
    `find_board` (the running system's) or `attach` (by segment name); reading takes no lock
    and never blocks the writer: a reader copies a row and retries if the writer was inside it.
    A board found by `find_board` follows a restarted writer: once its writer closed the board
    or died (checked about every `stale_check_interval` seconds), the next read finds the new
    one, or raises `BoardClosedError` naming where it looked. Rows never move once written.

    Limits: `capacity` rows (one per exchange, account and currency, `DEFAULT_CAPACITY`
    unless told), `MAX_SLOTS` slots per row, names up to `ACCOUNT_BYTES` bytes of UTF-8 for an
    account and `EXCHANGE_BYTES` / `CURRENCY_BYTES` for the others, `MAX_EXCHANGES` default
    accounts. Anything beyond raises `BoardCapacityError`. The writer must be one thread at a
    time (a lock makes concurrent publishes safe, not fast).
    """

    stale_check_interval: ClassVar[float] = 1.0
    """How often (seconds) a reader checks that the board's writer is still there."""
    busy_timeout: ClassVar[float] = 1.0
    """How long a reader waits for a row the writer is inside before it raises TimeoutError."""

    def __init__(
        self,
        name: str,
        buffer: memoryview | mmap.mmap,
        *,
        segment: SharedMemory | None = None,
        find_again: _Search | None = None,
    ) -> None:
        """Private: use `create`, `attach` or `find_board`."""
        if sys.byteorder != "little":
            raise OSError("the shared-memory balance board's layout is little-endian; this host is not")
        magic, version, header_size, capacity, row_size, _, owner_pid, _, _ = HEADER.unpack_from(buffer, 0)
        if magic != MAGIC:
            raise ValueError(f"shared-memory segment {name!r} is not a balance board (magic {magic!r})")
        if (version, header_size, row_size) != (LAYOUT_VERSION, HEADER_SIZE, ROW_SIZE):
            raise ValueError(
                f"balance board {name!r} has layout version {version} (header {header_size} B, rows {row_size} B); "
                f"this code reads version {LAYOUT_VERSION} (header {HEADER_SIZE} B, rows {ROW_SIZE} B)"
            )
        if len(buffer) < HEADER_SIZE + capacity * ROW_SIZE:
            raise ValueError(f"balance board {name!r} is {len(buffer)} bytes, too small for {capacity} rows")
        self.name = name
        """The segment's name (what `attach` takes)."""
        self.capacity: int = capacity
        self.owner_pid: int = owner_pid
        """The writer's process id."""
        self.read_retries = 0
        """How many times a read found the writer inside a row and copied it again (a statistic)."""
        self._buf = buffer
        self._segment = segment  # set on the writer only: it unlinks the segment
        # The writer's view of the segment as 8-byte words: how it stores every counter (see above).
        self._words = None if segment is None else words_of(buffer)
        self._find_again = find_again
        self._rows: dict[BoardKey, _Row] = {}
        self._known_rows = 0
        self._defaults: tuple[int, dict[str, str]] = (-1, {})
        self._check_at = time.monotonic() + self.stale_check_interval
        self._closed = False
        self._write = threading.Lock()
        self._records: list[Path] = []

    # ---- making one ------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str | None = None,
        capacity: int = DEFAULT_CAPACITY,
        *,
        runtime_folder: str | os.PathLike[str] | None = None,
    ) -> SharedMemoryBoard:
        """Create a new segment and return its writer. Only the writer's process may publish.

        ``name`` defaults to a fresh ``ta-board-<pid>-<random>``. With ``runtime_folder`` the
        board is advertised: its record goes to ``<runtime_folder>/board.json`` and to the
        per-user `well_known_record`, where `find_board` looks; `close` removes both.
        """
        if not 1 <= capacity <= MAX_CAPACITY:
            raise BoardCapacityError(f"capacity must be 1..{MAX_CAPACITY} rows, got {capacity}")
        name = name or f"ta-board-{os.getpid()}-{secrets.token_hex(4)}"
        # Registered with this process's resource tracker on purpose: if the writer dies
        # without closing, the tracker unlinks the segment, so nothing is left in /dev/shm.
        segment = SharedMemory(name=name, create=True, size=HEADER_SIZE + capacity * ROW_SIZE)
        buffer = segment.buf
        assert buffer is not None  # a mapped segment has a buffer
        HEADER.pack_into(buffer, 0, b"\0" * 8, LAYOUT_VERSION, HEADER_SIZE, capacity, ROW_SIZE, 0, os.getpid(), OPEN, 0)
        buffer[0:8] = MAGIC  # last: a reader never trusts a half-written header
        board = cls(segment.name, buffer, segment=segment)
        board._defaults = (0, {})
        if runtime_folder is not None:
            board._records = advertise(board, Path(runtime_folder))
        log.info(
            "balance board {} created: {} rows of {} slots, {} bytes", board.name, capacity, MAX_SLOTS, segment.size
        )
        return board

    @classmethod
    def attach(cls, name: str) -> SharedMemoryBoard:
        """Open the existing board ``name`` for reading (a read-only mapping: `publish` raises).

        Unlike `SharedMemory(name)` on Python < 3.13, this does not register the segment with
        the resource tracker, so a reader exiting never unlinks the writer's segment nor warns
        about it (a reader sharing the writer's tracker cannot unregister it either).
        """
        fd = _posixshmem.shm_open("/" + name, os.O_RDONLY, mode=0o600)
        try:
            mapping = mmap.mmap(fd, os.fstat(fd).st_size, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        try:
            return cls(name, mapping)
        except BaseException:
            mapping.close()
            raise

    # ---- the BalanceBoard interface ----------------------------------------------------------

    def publish(self, view: BalanceView) -> None:
        """Make ``view`` the current row for its exchange, account and currency (the writer only)."""
        words = self._writer_words()
        slots = view.slots
        count = len(slots)
        if not 1 <= count <= MAX_SLOTS:
            raise BoardCapacityError(f"a row holds 1..{MAX_SLOTS} slots; {_describe(view)} has {count}")
        key = (view.exchange, view.account, view.currency)
        buffer = self._buf
        with self._write:
            self._refuse_if_closed()
            row = self._rows.get(key)
            offset = row[0] if row is not None else self._add_row(key)
            word = offset >> 3
            seq = words[word]
            words[word] = seq + 1
            META.pack_into(buffer, offset + META_AT, count, view.credit_limit, view.updated_at)
            SLOT_STRUCTS[count].pack_into(buffer, offset + SLOTS_AT, *slots)
            words[word] = seq + 2
            self._rows[key] = (offset, seq + 2, view)
            if row is None:  # only now may readers see the row
                self._known_rows += 1
                words[ROW_COUNT_AT >> 3] = self._known_rows

    def read(self, exchange: Exchange, account: str, currency: Currency) -> BalanceView | None:
        """The current row, or None if nothing was published for it. Never blocks the writer."""
        if self._check_at <= time.monotonic():
            self._check_current()
        key = (exchange, account, currency)
        row = self._rows.get(key)
        if row is None:
            row = self._discover_rows(key)
            if row is None:
                return None
        seq = SEQ.unpack_from(self._buf, row[0])[0]
        if seq == row[1]:
            return row[2]  # unchanged since we last copied it
        return self._copy_row(key, row[0], seq)

    def views(self) -> list[BalanceView]:
        """Every current row (each one consistent; rows are copied one after another)."""
        self._discover_rows(None)
        found = (self.read(*key) for key in list(self._rows))
        return [view for view in found if view is not None]

    def set_default_account(self, exchange: Exchange, account: str) -> None:
        """Name the account readers use when they name none on ``exchange`` (the writer only)."""
        words = self._writer_words()
        entry = DEFAULT_ENTRY.pack(
            encode(exchange, EXCHANGE_BYTES, "exchange name"), encode(account, ACCOUNT_BYTES, "account name")
        )
        buffer = self._buf
        with self._write:
            self._refuse_if_closed()
            seq, defaults = self._defaults
            names = list(defaults)
            position = names.index(exchange) if exchange in names else len(names)
            if position >= MAX_EXCHANGES:
                raise BoardCapacityError(
                    f"the board holds default accounts for {MAX_EXCHANGES} exchanges; {exchange} would be one more"
                )
            words[DEFAULTS_SEQ_AT >> 3] = seq + 1
            start = DEFAULTS_AT + position * DEFAULT_ENTRY.size
            buffer[start : start + DEFAULT_ENTRY.size] = entry
            words[DEFAULTS_SEQ_AT >> 3] = seq + 2
            self._defaults = (seq + 2, {**defaults, str(exchange): account})

    def default_account(self, exchange: Exchange) -> str | None:
        """The default account on ``exchange``, or None if the writer has not named one."""
        if self._check_at <= time.monotonic():
            self._check_current()
        defaults = self._defaults
        if SEQ.unpack_from(self._buf, DEFAULTS_SEQ_AT)[0] != defaults[0]:
            defaults = self._copy_defaults()
        return defaults[1].get(exchange)

    # ---- lifetime ----------------------------------------------------------------------------

    @property
    def is_writer(self) -> bool:
        """Whether this is the board's writer (made by `create` in this process)."""
        return self._segment is not None

    @property
    def closed(self) -> bool:
        """Whether `close` was called on this object (the writer's board may close without it: see `read`)."""
        return self._closed

    def close(self) -> None:
        """Detach. On the writer this also marks the board closed, removes its records and unlinks the segment."""
        with self._write:
            if self._closed:
                return
            self._closed = True
            self._check_at = float("-inf")  # the next read raises BoardClosedError
            if self._segment is None:
                self._rows = {}
                if isinstance(self._buf, mmap.mmap):
                    self._buf.close()
                return
            segment, words = self._segment, self._writer_words()
            words[STATE_AT >> 3] = CLOSED
            words[DEFAULTS_SEQ_AT >> 3] = CLOSED_SEQ
            for offset, _, _ in self._rows.values():
                words[offset >> 3] = CLOSED_SEQ
            self._rows = {}
            del words
            self._words = None  # it points into the mapping about to go
            for path in self._records:
                remove_record(path, self.name)
            self._buf = memoryview(b"")
            segment.close()
            segment.unlink()
        log.info("balance board {} closed and unlinked", self.name)

    def unlink(self) -> None:
        """Destroy the segment (the writer only; same as its `close`). Readers only `close`."""
        if self._segment is None:
            self._writer_words()  # raises: readers only close
        self.close()

    def __enter__(self) -> SharedMemoryBoard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        role = "writer" if self.is_writer else "reader"
        return f"<SharedMemoryBoard {self.name} {role} of pid {self.owner_pid}{' closed' if self._closed else ''}>"

    # ---- inside --------------------------------------------------------------------------------

    def _writer_words(self) -> ctypes.Array[ctypes.c_uint64]:
        if self._words is None:
            if self._segment is not None:
                raise BoardClosedError(f"balance board {self.name} was closed in this process")
            raise BoardReadOnlyError(
                f"balance board {self.name} is attached read-only here: only its writer (pid {self.owner_pid}) publishes"
            )
        return self._words

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise BoardClosedError(f"balance board {self.name} was closed in this process")

    def _add_row(self, key: BoardKey) -> int:
        """Write a new row's key (not yet counted, so no reader looks at it) and return its offset."""
        index = self._known_rows
        if index >= self.capacity:
            raise BoardCapacityError(
                f"balance board {self.name} is full: all {self.capacity} rows (one per exchange, account and "
                f"currency) are used, so {describe_key(key)} cannot be added; create it with a larger capacity"
            )
        exchange, account, currency = key
        offset = HEADER_SIZE + index * ROW_SIZE
        KEY.pack_into(
            self._buf,
            offset + KEY_AT,
            encode(exchange, EXCHANGE_BYTES, "exchange name"),
            encode(account, ACCOUNT_BYTES, "account name"),
            encode(currency, CURRENCY_BYTES, "currency"),
        )
        return offset

    def _discover_rows(self, key: BoardKey | None) -> _Row | None:
        """Learn the rows the writer added since we last looked; the row for ``key`` if there is one now."""
        count = SEQ.unpack_from(self._buf, ROW_COUNT_AT)[0]
        if count > self.capacity:
            raise ValueError(f"balance board {self.name} claims {count} rows in a capacity of {self.capacity}")
        for index in range(self._known_rows, count):
            offset = HEADER_SIZE + index * ROW_SIZE
            exchange, account, currency = KEY.unpack_from(self._buf, offset + KEY_AT)
            found = (decode(exchange, Exchange), decode(account, str), decode(currency, Currency))
            self._rows.setdefault(found, (offset, -1, None))
        self._known_rows = max(self._known_rows, count)
        return None if key is None else self._rows.get(key)

    def _copy_row(self, key: BoardKey, offset: int, seq: int) -> BalanceView | None:
        """Copy the row at ``offset``, whose sequence was just ``seq``, under its sequence lock; remember the copy."""
        buffer = self._buf
        values = row_values(buffer, offset)
        if seq & 1 or SEQ.unpack_from(buffer, offset)[0] != seq:  # the writer was inside: take turns with it
            copied = self._consistent(offset, functools.partial(row_values, buffer, offset))
            if copied is None:
                return self.read(*key)
            seq, values = copied
        count, credit, updated, slots = values
        if not slots:
            raise ValueError(f"balance board {self.name}: row {describe_key(key)} holds {count} slots")
        view = _new_view(self._rows[key][2], key, slots, credit, updated)
        self._rows[key] = (offset, seq, view)  # one tuple: other threads see all of it or none
        return view

    def _copy_defaults(self) -> tuple[int, dict[str, str]]:
        buffer = self._buf
        copied = self._consistent(DEFAULTS_SEQ_AT, lambda: DEFAULTS.unpack_from(buffer, DEFAULTS_AT))
        if copied is None:
            return self._copy_defaults()
        names = (decode(field, str) for field in copied[1])
        pairs = dict(zip(names, names, strict=False))  # (exchange, account), (exchange, account), ...
        pairs.pop("", None)
        self._defaults = (copied[0], pairs)
        return self._defaults

    def _consistent(self, seq_at: int, copy: Callable[[], _Copy]) -> tuple[int, _Copy] | None:
        """``copy()`` taken while the sequence at ``seq_at`` stayed even and unchanged: (sequence, copy).

        None if the writer has closed the board and this one now follows its successor: read again.
        """
        buffer = self._buf
        deadline = 0.0
        spins = 0
        while True:
            seq = SEQ.unpack_from(buffer, seq_at)[0]
            if not seq & 1:
                copied = copy()
                if SEQ.unpack_from(buffer, seq_at)[0] == seq:
                    return seq, copied
            elif seq == CLOSED_SEQ:
                self._writer_gone("closed it")
                return None
            self.read_retries += 1
            spins += 1
            if spins % 64 == 0:
                deadline = self._wait_for_writer(deadline, seq_at)

    def _wait_for_writer(self, deadline: float, seq_at: int) -> float:
        """Let the writer run; raise TimeoutError once it has held the sequence at ``seq_at`` odd for `busy_timeout`."""
        now = time.monotonic()
        if not deadline:
            return now + self.busy_timeout
        if now > deadline:
            rows = [key for key, (offset, _, _) in self._rows.items() if offset == seq_at]
            what = f"row {describe_key(rows[0])}" if rows else "the default accounts"
            raise TimeoutError(
                f"balance board {self.name}: the writer (pid {self.owner_pid}) has been writing {what} for over "
                f"{self.busy_timeout} s; it probably died mid-write"
            )
        os.sched_yield()
        return deadline

    def _check_current(self) -> None:
        """Every `stale_check_interval`: is the writer still there? If not, follow its successor or raise."""
        self._refuse_if_closed()
        self._check_at = time.monotonic() + self.stale_check_interval
        if self._segment is not None:
            return
        if SEQ.unpack_from(self._buf, STATE_AT)[0] == CLOSED:
            self._writer_gone("closed it")
        elif not pid_alive(self.owner_pid):
            self._writer_gone("is no longer running")
        elif not segment_exists(self.name):
            self._writer_gone("unlinked it")

    def _writer_gone(self, what: str) -> None:
        """The writer closed the board or died: take over the board now advertised, or raise."""
        problem = f"balance board {self.name} is gone: its writer (pid {self.owner_pid}) {what}"
        if self._find_again is None:
            raise BoardClosedError(f"{problem}; attach to the new board (find_board finds the running one)")
        successor, notes = self._find_again()
        if successor is None or successor.name == self.name:
            if successor is not None:
                successor.close()
            raise BoardClosedError(f"{problem}, and no running board replaces it yet (looked in {'; '.join(notes)})")
        log.info("{}; following its successor {} (writer pid {})", problem, successor.name, successor.owner_pid)
        old = self._buf
        vars(self).update(vars(successor))
        if isinstance(old, mmap.mmap):
            old.close()


def _new_view(
    previous: BalanceView | None, key: BoardKey, slots: tuple[float, ...], credit: float, updated: float
) -> BalanceView:
    """A view of a row read from the board: the previous copy with its values replaced, which is half
    the cost of building one (the writer's view was validated when it was made)."""
    if previous is None:
        return BalanceView(
            exchange=key[0], account=key[1], currency=key[2], slots=slots, credit_limit=credit, updated_at=updated
        )
    view: BalanceView = previous.__copy__()  # type: ignore[attr-defined]  # msgspec's C-level shallow copy
    msgspec.structs.force_setattr(view, "slots", slots)  # still private to this function: nobody saw it yet
    msgspec.structs.force_setattr(view, "credit_limit", credit)
    msgspec.structs.force_setattr(view, "updated_at", updated)
    return view


def _describe(view: BalanceView) -> str:
    return describe_key((view.exchange, view.account, view.currency))
