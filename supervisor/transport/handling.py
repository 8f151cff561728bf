"""What a node incarnation is handling, in a small memory-mapped file the supervisor reads when it dies.

One file per incarnation (``<folder>/<name>.<pid>``), one slot per path mail arrives by (slot 0:
the hub; then one per peer of a direct link, in the order of the deployment's names). A slot is
three unsigned 64-bit integers: the sender's incarnation, the last sequence number *done* on that
path and the one being *handled*. The node writes ``handling`` just before the actor takes a
delivery and ``done`` once it is finished with it: plain memory writes into a shared mapping, no
system call, and still there for another process to read after a kill -9. A delivery is then
exactly one of: done (``seq <= done``), the one that was being handled (``seq == handling >
done``: a dead letter), or not started (everything after it, in order, for the next incarnation).
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HANDLING_FOLDER", "HandlingFile", "SlotState", "direct_socket", "handling_path", "read_handling"]

HANDLING_FOLDER = "handling"
"""The sub-folder of a runtime folder where node incarnations keep their handling files."""

_SLOT = struct.Struct("<QQQ")


@dataclass(frozen=True)
class SlotState:
    incarnation: int
    done: int
    handling: int

    def was_handling(self, seq: int) -> bool:
        return seq == self.handling and self.handling > self.done


def handling_path(folder: Path, name: str, incarnation: int) -> Path:
    return folder / f"{name}.{incarnation}"


def direct_socket(folder: Path, incarnation: int) -> Path:
    """Where node incarnation ``incarnation`` listens for direct links (`supervisor.transport.direct`)."""
    return folder / f"{incarnation}.sock"


class HandlingFile:
    """The writer's side (the node). ``slots``: how many paths (1 + the peers that may link directly)."""

    def __init__(self, path: Path, slots: int) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, _SLOT.size * slots)
            self._map = mmap.mmap(fd, _SLOT.size * slots)
        finally:
            os.close(fd)
        self.slots = slots

    def handling(self, slot: int, seq: int) -> None:
        struct.pack_into("<Q", self._map, slot * _SLOT.size + 16, seq)

    def done(self, slot: int, seq: int) -> None:
        struct.pack_into("<Q", self._map, slot * _SLOT.size + 8, seq)

    def reset(self, slot: int, incarnation: int) -> None:
        """A new sender incarnation on ``slot``: its sequence numbers start again."""
        _SLOT.pack_into(self._map, slot * _SLOT.size, incarnation, 0, 0)

    def close(self, remove: bool = True) -> None:
        self._map.close()
        if remove:
            self.path.unlink(missing_ok=True)


def read_handling(path: Path) -> list[SlotState] | None:
    """The slots a dead (or stopped) incarnation left, or None if it left no file; the file is removed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    return [SlotState(*_SLOT.unpack_from(data, i)) for i in range(0, len(data) - _SLOT.size + 1, _SLOT.size)]
