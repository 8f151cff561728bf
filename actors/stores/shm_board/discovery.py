"""Finding the running system's board from the writer's record (see `records`)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from loguru import logger

from actors.stores.shm_board.board import SharedMemoryBoard
from actors.stores.shm_board.layout import (
    OPEN,
    SEQ,
    STATE_AT,
    BoardNotFoundError,
)
from actors.stores.shm_board.records import (
    ENV_RUNTIME_FOLDER,
    RECORD_NAME,
    check_private,
    pid_alive,
    well_known_record,
)

__all__ = ["find_board", "require_board"]

log = logger.bind(actor="board")


def find_board(runtime_folder: str | os.PathLike[str] | None = None) -> SharedMemoryBoard | None:
    """The running system's board, attached for reading, or None.

    Looks at ``<runtime_folder>/board.json`` if a folder is given, else in the folder named by
    ``$TREASURY_RUNTIME``, else at `well_known_record`. A record whose writer is not running or
    whose segment is gone is ignored. The board returned follows a restarted writer.
    """
    return search(runtime_folder)[0]


def require_board(runtime_folder: str | os.PathLike[str] | None = None) -> SharedMemoryBoard:
    """`find_board`, but raise `BoardNotFoundError` naming where it looked and what it found there."""
    board, notes = search(runtime_folder)
    if board is None:
        raise BoardNotFoundError(f"no running system's balance board was found (looked in {'; '.join(notes)})")
    return board


def search(runtime_folder: str | os.PathLike[str] | None) -> tuple[SharedMemoryBoard | None, list[str]]:
    """Try the one record that applies; the board, or None and why, as notes naming the record."""
    if runtime_folder is not None:
        path, source = Path(runtime_folder) / RECORD_NAME, "the runtime folder given"
    elif os.environ.get(ENV_RUNTIME_FOLDER):
        path, source = Path(os.environ[ENV_RUNTIME_FOLDER]) / RECORD_NAME, f"${ENV_RUNTIME_FOLDER}"
    else:
        path, source = well_known_record(), "the well-known record"
    found = attach_recorded(path)
    if isinstance(found, str):
        return None, [f"{path} ({source}): {found}"]
    found._find_again = functools.partial(search, runtime_folder)
    return found, []


def attach_recorded(path: Path) -> SharedMemoryBoard | str:
    """The board ``path`` records, or why it cannot be used."""
    try:
        if path.parent == well_known_record().parent:
            check_private(path.parent)
        record = json.loads(path.read_text())
        segment, pid = str(record["segment"]), int(record["pid"])
    except FileNotFoundError:
        return "no record"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"unusable record ({error})"
    if not pid_alive(pid):
        return f"stale record: writer pid {pid} is not running"
    try:
        board = SharedMemoryBoard.attach(segment)
    except FileNotFoundError:
        return f"stale record: segment {segment} is gone"
    except (OSError, ValueError) as error:
        return f"segment {segment} is unusable ({error})"
    if board.owner_pid != pid or SEQ.unpack_from(board._buf, STATE_AT)[0] != OPEN:
        board.close()
        return f"stale record: segment {segment} belongs to pid {board.owner_pid} or is closed"
    return board
