"""Actors for the direct-link tests (`tests/test_direct_links.py`), run in node processes.

`Sender` tells its peer each word of a `Note` as a Note of its own, in order. `Keeper` appends
every Note it handles to a log file (its process, the stamped sender, the text); on the word
"block" it first logs that it is handling it, then waits on a FIFO the test never opens.
"""

from __future__ import annotations

import os

from actors.base import Actor
from tests.probe import Note


class Sender(Actor):
    def __init__(self, peer: str) -> None:
        super().__init__()
        self.peer = peer

    def on_note(self, message: Note) -> None:
        for word in message.text.split():
            self.tell(self.peer, Note(text=word))


class Keeper(Actor):
    def __init__(self, log: str, fifo: str) -> None:
        super().__init__()
        self.path, self.fifo = log, fifo

    def _log(self, what: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{os.getpid()} {self.sender} {what}\n".encode())
        finally:
            os.close(fd)

    def on_note(self, message: Note) -> None:
        if message.text == "block":
            self._log("handling-block")
            with open(self.fifo) as fifo:  # blocks until a writer opens it: never, in these tests
                fifo.read()
        self._log(message.text)


class FailsToStart(Actor):
    """An actor whose on_start always raises: its node must never say hello."""

    def on_start(self) -> None:
        raise RuntimeError("cannot start")
