"""The balance board in POSIX shared memory: one writer process publishes, any process on the host reads lock-free.

Each row is guarded by a sequence lock; `find_board` locates the running system's board from
the record its writer leaves in the runtime folder and in a per-user well-known place.
"""

from __future__ import annotations

import _posixshmem
import ctypes
import functools
import json
import mmap
import os
import secrets
import stat
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import msgspec
from loguru import logger

from messages.balances import BalanceView
from messages.common import Currency, Exchange

__all__ = [
    "ACCOUNT_BYTES",
    "DEFAULT_CAPACITY",
    "ENV_RUNTIME_FOLDER",
    "LAYOUT_VERSION",
    "MAX_CAPACITY",
    "MAX_EXCHANGES",
    "MAX_SLOTS",
    "RECORD_NAME",
    "BoardCapacityError",
    "BoardClosedError",
    "BoardNotFoundError",
    "BoardReadOnlyError",
    "SharedMemoryBoard",
    "find_board",
    "require_board",
    "well_known_record",
]

log = logger.bind(actor="board")

# ---- limits and layout ---------------------------------------------------------------------------
#
# All integers and floats are little-endian. Offsets are in bytes.
#
# The sequence lock relies on 8-byte counters being loaded and stored whole. Readers load them
# with struct's native 'Q' (one aligned 8-byte load). The writer stores them through a ctypes
# uint64 array, never with struct.pack_into, which zero-fills its target before writing: a
# reader could catch the counter at 0 mid-store, see "even" twice and accept a torn row. The
# order of loads and stores is the interpreter's; x86-64 keeps it (TSO). Weakly ordered CPUs
# (ARM) have no such guarantee: there the board is untested.
#
# header (HEADER_SIZE bytes)
#   0  magic 8s | 8 layout version u32 | 12 header size u32 | 16 capacity u32 | 20 row size u32
#   24 row count u64 (rows below it are fully written; raised only after a row is ready)
#   32 owner pid i64 (the writer) | 40 state u64 (OPEN / CLOSED) | 48 defaults sequence u64
#   64 default accounts: MAX_EXCHANGES x (exchange 32s, account 128s), guarded by the defaults sequence
# row i at HEADER_SIZE + i * ROW_SIZE (ROW_SIZE bytes, rows never move once written)
#   0  sequence u64 (odd while the writer writes the row)
#   8  exchange 32s | 40 account 128s | 168 currency 16s   (written once, before the row is counted)
#   184 slot count u32 | 188 padding | 192 credit limit f64 | 200 updated_at f64 | 208 slots 64 x f64

LAYOUT_VERSION = 1
"""Bumped whenever the layout changes; a reader refuses a segment of another version."""
MAGIC = b"TABOARD\x00"
MAX_SLOTS = 64
"""Slots per row (slot 0 the total, 1 the pool, 2.. the sub-strategies)."""
EXCHANGE_BYTES, ACCOUNT_BYTES, CURRENCY_BYTES = 32, 128, 16
"""The most bytes (UTF-8) an exchange, account or currency name may take (an account name: 128)."""
MAX_EXCHANGES = 16
"""How many exchanges can have a default account."""
DEFAULT_CAPACITY = 1024
"""Rows (one per exchange, account and currency) a board holds unless told otherwise: 0.8 MB."""
MAX_CAPACITY = 1 << 20

_HEADER = struct.Struct("<8sIIIIQqQQ")
_ROW_COUNT_AT, _STATE_AT, _DEFAULTS_SEQ_AT, _DEFAULTS_AT = 24, 40, 48, 64
_DEFAULT_ENTRY = struct.Struct(f"<{EXCHANGE_BYTES}s{ACCOUNT_BYTES}s")
_DEFAULTS = struct.Struct("<" + f"{EXCHANGE_BYTES}s{ACCOUNT_BYTES}s" * MAX_EXCHANGES)
HEADER_SIZE = _DEFAULTS_AT + _DEFAULTS.size  # 2624, a multiple of 64

_KEY = struct.Struct(f"<{EXCHANGE_BYTES}s{ACCOUNT_BYTES}s{CURRENCY_BYTES}s")
_KEY_AT, _META_AT, _SLOTS_AT = 8, 184, 208
_META = struct.Struct("<I4xdd")  # slot count, credit limit, updated_at
ROW_SIZE = 768  # 720 used, padded to whole 64-byte cache lines so rows never share one
_SEQ = struct.Struct("Q")  # native: one aligned 8-byte load (__init__ refuses big-endian hosts)
_SLOT_STRUCTS = [struct.Struct(f"<{n}d") for n in range(MAX_SLOTS + 1)]

_OPEN, _CLOSED = 1, 2
_CLOSED_SEQ = (1 << 64) - 1  # odd: written into every sequence on close, so readers notice at once

RECORD_NAME = "board.json"
"""The writer's record in its runtime folder: ``{"segment": ..., "pid": ..., ...}``."""
ENV_RUNTIME_FOLDER = "TREASURY_RUNTIME"
"""Names the runtime folder `find_board` looks in when it is given none."""

_Key = tuple[Exchange, str, Currency]
_Row = tuple[int, int, BalanceView | None]  # offset, sequence the view was read at (-1: none), view
_Search = Callable[[], "tuple[SharedMemoryBoard | None, list[str]]"]
_Copy = TypeVar("_Copy")


class BoardCapacityError(ValueError):
    """Something does not fit the shared-memory layout: the board is full, or a name or slot count is too long."""


class BoardClosedError(RuntimeError):
    """The board was closed, or its writer stopped, and no running board replaces it."""


class BoardNotFoundError(RuntimeError, LookupError):
    """No running system's board was found; the message says where it looked and what it found there."""


class BoardReadOnlyError(RuntimeError):
    """Only the process that created a board writes it; an attached board only reads."""


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
        magic, version, header_size, capacity, row_size, _, owner_pid, _, _ = _HEADER.unpack_from(buffer, 0)
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
        self._words = None if segment is None else _words_of(buffer)
        self._find_again = find_again
        self._rows: dict[_Key, _Row] = {}
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
        _HEADER.pack_into(buffer, 0, b"\0" * 8, LAYOUT_VERSION, HEADER_SIZE, capacity, ROW_SIZE, 0,
                          os.getpid(), _OPEN, 0)
        buffer[0:8] = MAGIC  # last: a reader never trusts a half-written header
        board = cls(segment.name, buffer, segment=segment)
        board._defaults = (0, {})
        if runtime_folder is not None:
            board._records = _advertise(board, Path(runtime_folder))
        log.info("balance board {} created: {} rows of {} slots, {} bytes", board.name, capacity, MAX_SLOTS,
                 segment.size)
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
            _META.pack_into(buffer, offset + _META_AT, count, view.credit_limit, view.updated_at)
            _SLOT_STRUCTS[count].pack_into(buffer, offset + _SLOTS_AT, *slots)
            words[word] = seq + 2
            self._rows[key] = (offset, seq + 2, view)
            if row is None:  # only now may readers see the row
                self._known_rows += 1
                words[_ROW_COUNT_AT >> 3] = self._known_rows

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
        seq = _SEQ.unpack_from(self._buf, row[0])[0]
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
        entry = _DEFAULT_ENTRY.pack(_encode(exchange, EXCHANGE_BYTES, "exchange name"),
                                    _encode(account, ACCOUNT_BYTES, "account name"))
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
            words[_DEFAULTS_SEQ_AT >> 3] = seq + 1
            start = _DEFAULTS_AT + position * _DEFAULT_ENTRY.size
            buffer[start:start + _DEFAULT_ENTRY.size] = entry
            words[_DEFAULTS_SEQ_AT >> 3] = seq + 2
            self._defaults = (seq + 2, {**defaults, str(exchange): account})

    def default_account(self, exchange: Exchange) -> str | None:
        """The default account on ``exchange``, or None if the writer has not named one."""
        if self._check_at <= time.monotonic():
            self._check_current()
        defaults = self._defaults
        if _SEQ.unpack_from(self._buf, _DEFAULTS_SEQ_AT)[0] != defaults[0]:
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
            words[_STATE_AT >> 3] = _CLOSED
            words[_DEFAULTS_SEQ_AT >> 3] = _CLOSED_SEQ
            for offset, _, _ in self._rows.values():
                words[offset >> 3] = _CLOSED_SEQ
            self._rows = {}
            del words
            self._words = None  # it points into the mapping about to go
            for path in self._records:
                _remove_record(path, self.name)
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

    def _add_row(self, key: _Key) -> int:
        """Write a new row's key (not yet counted, so no reader looks at it) and return its offset."""
        index = self._known_rows
        if index >= self.capacity:
            raise BoardCapacityError(
                f"balance board {self.name} is full: all {self.capacity} rows (one per exchange, account and "
                f"currency) are used, so {_describe_key(key)} cannot be added; create it with a larger capacity"
            )
        exchange, account, currency = key
        offset = HEADER_SIZE + index * ROW_SIZE
        _KEY.pack_into(self._buf, offset + _KEY_AT, _encode(exchange, EXCHANGE_BYTES, "exchange name"),
                       _encode(account, ACCOUNT_BYTES, "account name"), _encode(currency, CURRENCY_BYTES, "currency"))
        return offset

    def _discover_rows(self, key: _Key | None) -> _Row | None:
        """Learn the rows the writer added since we last looked; the row for ``key`` if there is one now."""
        count = _SEQ.unpack_from(self._buf, _ROW_COUNT_AT)[0]
        if count > self.capacity:
            raise ValueError(f"balance board {self.name} claims {count} rows in a capacity of {self.capacity}")
        for index in range(self._known_rows, count):
            offset = HEADER_SIZE + index * ROW_SIZE
            exchange, account, currency = _KEY.unpack_from(self._buf, offset + _KEY_AT)
            found = (_decode(exchange, Exchange), _decode(account, str), _decode(currency, Currency))
            self._rows.setdefault(found, (offset, -1, None))
        self._known_rows = max(self._known_rows, count)
        return None if key is None else self._rows.get(key)

    def _copy_row(self, key: _Key, offset: int, seq: int) -> BalanceView | None:
        """Copy the row at ``offset``, whose sequence was just ``seq``, under its sequence lock; remember the copy."""
        buffer = self._buf
        values = _row_values(buffer, offset)
        if seq & 1 or _SEQ.unpack_from(buffer, offset)[0] != seq:  # the writer was inside: take turns with it
            copied = self._consistent(offset, functools.partial(_row_values, buffer, offset))
            if copied is None:
                return self.read(*key)
            seq, values = copied
        count, credit, updated, slots = values
        if not slots:
            raise ValueError(f"balance board {self.name}: row {_describe_key(key)} holds {count} slots")
        view = _new_view(self._rows[key][2], key, slots, credit, updated)
        self._rows[key] = (offset, seq, view)  # one tuple: other threads see all of it or none
        return view

    def _copy_defaults(self) -> tuple[int, dict[str, str]]:
        buffer = self._buf
        copied = self._consistent(_DEFAULTS_SEQ_AT, lambda: _DEFAULTS.unpack_from(buffer, _DEFAULTS_AT))
        if copied is None:
            return self._copy_defaults()
        names = (_decode(field, str) for field in copied[1])
        pairs = dict(zip(names, names))  # (exchange, account), (exchange, account), ...
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
            seq = _SEQ.unpack_from(buffer, seq_at)[0]
            if not seq & 1:
                copied = copy()
                if _SEQ.unpack_from(buffer, seq_at)[0] == seq:
                    return seq, copied
            elif seq == _CLOSED_SEQ:
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
            what = f"row {_describe_key(rows[0])}" if rows else "the default accounts"
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
        if _SEQ.unpack_from(self._buf, _STATE_AT)[0] == _CLOSED:
            self._writer_gone("closed it")
        elif not _pid_alive(self.owner_pid):
            self._writer_gone("is no longer running")
        elif not _segment_exists(self.name):
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


# ---- finding the running system's board -------------------------------------------------------------


def well_known_record() -> Path:
    """Where the last advertised board of this user is recorded.

    ``$XDG_RUNTIME_DIR/treasury-actors/current-board.json``, or without that variable
    ``<temp dir>/treasury-actors-<uid>/current-board.json``; the folder is mode 0700.
    """
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.path.isdir(runtime_dir):
        return Path(runtime_dir) / "treasury-actors" / "current-board.json"
    return Path(tempfile.gettempdir()) / f"treasury-actors-{os.getuid()}" / "current-board.json"


def find_board(runtime_folder: str | os.PathLike[str] | None = None) -> SharedMemoryBoard | None:
    """The running system's board, attached for reading, or None.

    Looks at ``<runtime_folder>/board.json`` if a folder is given, else in the folder named by
    ``$TREASURY_RUNTIME``, else at `well_known_record`. A record whose writer is not running or
    whose segment is gone is ignored. The board returned follows a restarted writer.
    """
    return _search(runtime_folder)[0]


def require_board(runtime_folder: str | os.PathLike[str] | None = None) -> SharedMemoryBoard:
    """`find_board`, but raise `BoardNotFoundError` naming where it looked and what it found there."""
    board, notes = _search(runtime_folder)
    if board is None:
        raise BoardNotFoundError(f"no running system's balance board was found (looked in {'; '.join(notes)})")
    return board


def _search(runtime_folder: str | os.PathLike[str] | None) -> tuple[SharedMemoryBoard | None, list[str]]:
    """Try the one record that applies; the board, or None and why, as notes naming the record."""
    if runtime_folder is not None:
        path, source = Path(runtime_folder) / RECORD_NAME, "the runtime folder given"
    elif os.environ.get(ENV_RUNTIME_FOLDER):
        path, source = Path(os.environ[ENV_RUNTIME_FOLDER]) / RECORD_NAME, f"${ENV_RUNTIME_FOLDER}"
    else:
        path, source = well_known_record(), "the well-known record"
    found = _attach_recorded(path)
    if isinstance(found, str):
        return None, [f"{path} ({source}): {found}"]
    found._find_again = functools.partial(_search, runtime_folder)
    return found, []


def _attach_recorded(path: Path) -> SharedMemoryBoard | str:
    """The board ``path`` records, or why it cannot be used."""
    try:
        if path.parent == well_known_record().parent:
            _check_private(path.parent)
        record = json.loads(path.read_text())
        segment, pid = str(record["segment"]), int(record["pid"])
    except FileNotFoundError:
        return "no record"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"unusable record ({error})"
    if not _pid_alive(pid):
        return f"stale record: writer pid {pid} is not running"
    try:
        board = SharedMemoryBoard.attach(segment)
    except FileNotFoundError:
        return f"stale record: segment {segment} is gone"
    except (OSError, ValueError) as error:
        return f"segment {segment} is unusable ({error})"
    if board.owner_pid != pid or _SEQ.unpack_from(board._buf, _STATE_AT)[0] != _OPEN:
        board.close()
        return f"stale record: segment {segment} belongs to pid {board.owner_pid} or is closed"
    return board


def _advertise(board: SharedMemoryBoard, runtime_folder: Path) -> list[Path]:
    """Write the board's record in the runtime folder and the well-known place; the paths written."""
    record = json.dumps({
        "segment": board.name, "pid": board.owner_pid, "capacity": board.capacity, "layout": LAYOUT_VERSION,
        "runtime_folder": str(runtime_folder.resolve()), "created_at": time.time(),
    })
    written = []
    for path in (runtime_folder / RECORD_NAME, well_known_record()):
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.parent == well_known_record().parent:
                _check_private(path.parent)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(record)
            os.replace(temporary, path)
            written.append(path)
        except OSError as error:
            log.warning("balance board {} not recorded at {}: {}", board.name, path, error)
    return written


def _remove_record(path: Path, segment: str) -> None:
    """Remove the record at ``path`` if it still names ``segment`` (a newer writer may have replaced it)."""
    try:
        if json.loads(path.read_text()).get("segment") == segment:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _check_private(folder: Path) -> None:
    """Refuse a folder someone else could have planted or can write into (the fallback lives in /tmp)."""
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} must be a folder owned by uid {os.getuid()} with mode 0700")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _segment_exists(name: str) -> bool:
    try:
        os.close(_posixshmem.shm_open("/" + name, os.O_RDONLY, mode=0o600))
    except FileNotFoundError:
        return False
    return True


def _encode(value: str, size: int, what: str) -> bytes:
    data = str(value).encode()
    if len(data) > size or b"\0" in data or not data:
        raise BoardCapacityError(
            f"{what} {str(value)!r} does not fit the shared-memory board: it takes {len(data)} bytes of UTF-8, "
            f"the board holds 1..{size} bytes with no NUL"
        )
    return data


def _decode(field: bytes, kind: Callable[[str], Any]) -> Any:
    text = field.rstrip(b"\0").decode()
    try:
        return kind(text)
    except ValueError:
        return text  # a name this reader's enum does not know yet: keep the writer's spelling


def _words_of(buffer: memoryview | mmap.mmap) -> ctypes.Array[ctypes.c_uint64]:
    """The writable ``buffer`` as an array of uint64, by address: holding no export of the buffer, it never
    stops the segment from being unmapped (the board drops it before it closes the segment)."""
    first = ctypes.c_char.from_buffer(buffer)
    address = ctypes.addressof(first)
    del first
    return (ctypes.c_uint64 * (len(buffer) // 8)).from_address(address)


def _row_values(buffer: memoryview | mmap.mmap, offset: int) -> tuple[int, float, float, tuple[float, ...]]:
    """The row's slot count, credit limit, updated_at and slots (torn unless its sequence says otherwise)."""
    count, credit, updated = _META.unpack_from(buffer, offset + _META_AT)
    return count, credit, updated, _SLOT_STRUCTS[count].unpack_from(buffer, offset + _SLOTS_AT) if count <= MAX_SLOTS else ()


def _new_view(previous: BalanceView | None, key: _Key, slots: tuple[float, ...], credit: float,
              updated: float) -> BalanceView:
    """A view of a row read from the board: the previous copy with its values replaced, which is half
    the cost of building one (the writer's view was validated when it was made)."""
    if previous is None:
        return BalanceView(exchange=key[0], account=key[1], currency=key[2], slots=slots, credit_limit=credit,
                           updated_at=updated)
    view: BalanceView = previous.__copy__()  # type: ignore[attr-defined]  # msgspec's C-level shallow copy
    msgspec.structs.force_setattr(view, "slots", slots)  # still private to this function: nobody saw it yet
    msgspec.structs.force_setattr(view, "credit_limit", credit)
    msgspec.structs.force_setattr(view, "updated_at", updated)
    return view


def _describe_key(key: _Key) -> str:
    exchange, account, currency = key
    return f"{exchange}.{account} {currency}"


def _describe(view: BalanceView) -> str:
    return _describe_key((view.exchange, view.account, view.currency))
