"""The writer's records: where a running board is advertised (its runtime folder and a per-user
well-known place), and the liveness checks readers use on a record."""

from __future__ import annotations

import _posixshmem
import json
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from actors.stores.shm_board.layout import (
    LAYOUT_VERSION,
)

if TYPE_CHECKING:
    from actors.stores.shm_board.board import SharedMemoryBoard

log = logger.bind(actor="board")

__all__ = [
    "ENV_RUNTIME_FOLDER",
    "RECORD_NAME",
    "advertise",
    "check_private",
    "pid_alive",
    "remove_record",
    "segment_exists",
    "well_known_record",
]

RECORD_NAME = "board.json"
"""The writer's record in its runtime folder: ``{"segment": ..., "pid": ..., ...}``."""
ENV_RUNTIME_FOLDER = "TREASURY_RUNTIME"
"""Names the runtime folder `find_board` looks in when it is given none."""


def well_known_record() -> Path:
    """Where the last advertised board of this user is recorded.

    ``$XDG_RUNTIME_DIR/treasury-actors/current-board.json``, or without that variable
    ``<temp dir>/treasury-actors-<uid>/current-board.json``; the folder is mode 0700.
    """
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.path.isdir(runtime_dir):
        return Path(runtime_dir) / "treasury-actors" / "current-board.json"
    return Path(tempfile.gettempdir()) / f"treasury-actors-{os.getuid()}" / "current-board.json"


def advertise(board: SharedMemoryBoard, runtime_folder: Path) -> list[Path]:
    """Write the board's record in the runtime folder and the well-known place; the paths written."""
    record = json.dumps(
        {
            "segment": board.name,
            "pid": board.owner_pid,
            "capacity": board.capacity,
            "layout": LAYOUT_VERSION,
            "runtime_folder": str(runtime_folder.resolve()),
            "created_at": time.time(),
        }
    )
    written = []
    for path in (runtime_folder / RECORD_NAME, well_known_record()):
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.parent == well_known_record().parent:
                check_private(path.parent)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(record)
            os.replace(temporary, path)
            written.append(path)
        except OSError as error:
            log.warning("balance board {} not recorded at {}: {}", board.name, path, error)
    return written


def remove_record(path: Path, segment: str) -> None:
    """Remove the record at ``path`` if it still names ``segment`` (a newer writer may have replaced it)."""
    try:
        if json.loads(path.read_text()).get("segment") == segment:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def check_private(folder: Path) -> None:
    """Refuse a folder someone else could have planted or can write into (the fallback lives in /tmp)."""
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} must be a folder owned by uid {os.getuid()} with mode 0700")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def segment_exists(name: str) -> bool:
    try:
        os.close(_posixshmem.shm_open("/" + name, os.O_RDONLY, mode=0o600))
    except FileNotFoundError:
        return False
    return True
