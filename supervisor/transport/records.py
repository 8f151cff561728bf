"""The system record: what a running supervisor process writes about itself in its runtime folder.

Clients (`supervisor.transport.client.find_hub`) and nodes read it to find the hub and the venue.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["SYSTEM_RECORD", "read_system_record", "write_system_record"]

SYSTEM_RECORD = "system.json"


def read_system_record(folder: Path) -> dict[str, Any] | None:
    """What a running supervisor process wrote about itself in its runtime folder (None if not running)."""
    path = folder / SYSTEM_RECORD
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(int(record["pid"]), 0)
    except (ProcessLookupError, KeyError, ValueError, PermissionError):
        return None
    return record  # type: ignore[no-any-return]


def write_system_record(folder: Path, record: dict[str, Any]) -> None:
    """Write ``record`` (it must hold this process's ``pid``) as the folder's system record."""
    (folder / SYSTEM_RECORD).write_text(json.dumps(record))
