"""The board's shared-memory layout: limits, header and row offsets, the sequence-lock words, name packing.

Every process that maps a board agrees on this and on `LAYOUT_VERSION`; nothing here does I/O."""

from __future__ import annotations

import ctypes
import mmap
import struct
from collections.abc import Callable
from typing import Any

from messages.common import Currency, Exchange

__all__ = [
    "ACCOUNT_BYTES",
    "BoardCapacityError",
    "BoardClosedError",
    "BoardKey",
    "BoardNotFoundError",
    "BoardReadOnlyError",
    "CLOSED",
    "CLOSED_SEQ",
    "CURRENCY_BYTES",
    "DEFAULTS",
    "DEFAULTS_AT",
    "DEFAULTS_SEQ_AT",
    "DEFAULT_CAPACITY",
    "DEFAULT_ENTRY",
    "EXCHANGE_BYTES",
    "HEADER",
    "HEADER_SIZE",
    "KEY",
    "KEY_AT",
    "LAYOUT_VERSION",
    "MAGIC",
    "MAX_CAPACITY",
    "MAX_EXCHANGES",
    "MAX_SLOTS",
    "META",
    "META_AT",
    "OPEN",
    "ROW_COUNT_AT",
    "ROW_SIZE",
    "SEQ",
    "SLOTS_AT",
    "SLOT_STRUCTS",
    "STATE_AT",
    "decode",
    "describe_key",
    "encode",
    "row_values",
    "words_of",
]

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

HEADER = struct.Struct("<8sIIIIQqQQ")
ROW_COUNT_AT, STATE_AT, DEFAULTS_SEQ_AT, DEFAULTS_AT = 24, 40, 48, 64
DEFAULT_ENTRY = struct.Struct(f"<{EXCHANGE_BYTES}s{ACCOUNT_BYTES}s")
DEFAULTS = struct.Struct("<" + f"{EXCHANGE_BYTES}s{ACCOUNT_BYTES}s" * MAX_EXCHANGES)
HEADER_SIZE = DEFAULTS_AT + DEFAULTS.size  # 2624, a multiple of 64

KEY = struct.Struct(f"<{EXCHANGE_BYTES}s{ACCOUNT_BYTES}s{CURRENCY_BYTES}s")
KEY_AT, META_AT, SLOTS_AT = 8, 184, 208
META = struct.Struct("<I4xdd")  # slot count, credit limit, updated_at
ROW_SIZE = 768  # 720 used, padded to whole 64-byte cache lines so rows never share one
SEQ = struct.Struct("Q")  # native: one aligned 8-byte load (__init__ refuses big-endian hosts)
SLOT_STRUCTS = [struct.Struct(f"<{n}d") for n in range(MAX_SLOTS + 1)]

OPEN, CLOSED = 1, 2
CLOSED_SEQ = (1 << 64) - 1  # odd: written into every sequence on close, so readers notice at once

BoardKey = tuple[Exchange, str, Currency]


class BoardCapacityError(ValueError):
    """Something does not fit the shared-memory layout: the board is full, or a name or slot count is too long."""


class BoardClosedError(RuntimeError):
    """The board was closed, or its writer stopped, and no running board replaces it."""


class BoardNotFoundError(RuntimeError, LookupError):
    """No running system's board was found; the message says where it looked and what it found there."""


class BoardReadOnlyError(RuntimeError):
    """Only the process that created a board writes it; an attached board only reads."""


def encode(value: str, size: int, what: str) -> bytes:
    data = str(value).encode()
    if len(data) > size or b"\0" in data or not data:
        raise BoardCapacityError(
            f"{what} {str(value)!r} does not fit the shared-memory board: it takes {len(data)} bytes of UTF-8, "
            f"the board holds 1..{size} bytes with no NUL"
        )
    return data


def decode(field: bytes, kind: Callable[[str], Any]) -> Any:
    text = field.rstrip(b"\0").decode()
    try:
        return kind(text)
    except ValueError:
        return text  # a name this reader's enum does not know yet: keep the writer's spelling


def words_of(buffer: memoryview | mmap.mmap) -> ctypes.Array[ctypes.c_uint64]:
    """The writable ``buffer`` as an array of uint64, by address: holding no export of the buffer, it never
    stops the segment from being unmapped (the board drops it before it closes the segment)."""
    first = ctypes.c_char.from_buffer(buffer)
    address = ctypes.addressof(first)
    del first
    return (ctypes.c_uint64 * (len(buffer) // 8)).from_address(address)


def row_values(buffer: memoryview | mmap.mmap, offset: int) -> tuple[int, float, float, tuple[float, ...]]:
    """The row's slot count, credit limit, updated_at and slots (torn unless its sequence says otherwise)."""
    count, credit, updated = META.unpack_from(buffer, offset + META_AT)
    return (
        count,
        credit,
        updated,
        SLOT_STRUCTS[count].unpack_from(buffer, offset + SLOTS_AT) if count <= MAX_SLOTS else (),
    )


def describe_key(key: BoardKey) -> str:
    exchange, account, currency = key
    return f"{exchange}.{account} {currency}"
