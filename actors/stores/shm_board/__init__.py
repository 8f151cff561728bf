"""The balance board in POSIX shared memory: one writer process publishes, any process on the host reads lock-free.

One mechanism per module: `layout` (limits, offsets, the sequence-lock words), `board` (the
`SharedMemoryBoard` itself), `records` (where a writer advertises its board) and `discovery`
(`find_board` / `require_board`). Import from this package.
"""

from actors.stores.shm_board.board import SharedMemoryBoard
from actors.stores.shm_board.discovery import find_board, require_board
from actors.stores.shm_board.layout import (
    ACCOUNT_BYTES,
    DEFAULT_CAPACITY,
    HEADER_SIZE,
    LAYOUT_VERSION,
    MAX_CAPACITY,
    MAX_EXCHANGES,
    MAX_SLOTS,
    BoardCapacityError,
    BoardClosedError,
    BoardNotFoundError,
    BoardReadOnlyError,
)
from actors.stores.shm_board.records import (
    ENV_RUNTIME_FOLDER,
    RECORD_NAME,
    well_known_record,
)

__all__ = [
    "ACCOUNT_BYTES",
    "DEFAULT_CAPACITY",
    "ENV_RUNTIME_FOLDER",
    "HEADER_SIZE",
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
