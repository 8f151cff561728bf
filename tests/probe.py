"""Test actors and a thread-safe event log that survives actor restarts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from actors.base import Actor
from messages.base import Message


class Note(Message, frozen=True):
    """Record ``text`` in the probe log."""

    text: str


class Crash(Message, frozen=True):
    """Raise while handling this."""

    why: str = "boom"


class Block(Message, frozen=True):
    """Block the handler until the named gate opens."""

    gate: str


class Count(Message, frozen=True):
    """Answer how many Notes this incarnation has seen."""


class Probe:
    """What happened to the test actors, in order, across incarnations and threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # predicates given to wait_for read the log under it
        self._changed = threading.Condition(self._lock)
        self.events: list[tuple[str, ...]] = []
        self.gates: dict[str, threading.Event] = {}

    def record(self, *event: str) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of(self, kind: str, actor: str | None = None) -> list[tuple[str, ...]]:
        with self._lock:
            return [e for e in self.events if e[0] == kind and (actor is None or e[1] == actor)]

    def notes(self, actor: str) -> list[str]:
        return [e[2] for e in self.of("note", actor)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def gate(self, name: str) -> threading.Event:
        with self._lock:
            return self.gates.setdefault(name, threading.Event())


class Recorder(Actor):
    """Logs its lifecycle and every Note to a `Probe`; crashes on `Crash`; blocks on `Block`."""

    def __init__(self, probe: Probe, fail_on_start: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.probe = probe
        self.fail_on_start = fail_on_start
        self.seen = 0

    def on_start(self) -> None:
        self.probe.record("start", self.name)
        if self.fail_on_start is not None and self.fail_on_start():
            raise RuntimeError("cannot start")

    def on_stop(self) -> None:
        self.probe.record("stop", self.name)

    def on_note(self, message: Note) -> str:
        self.seen += 1
        self.probe.record("note", self.name, message.text)
        return message.text

    def on_crash(self, message: Crash) -> None:
        self.probe.record("crash", self.name, message.why)
        raise RuntimeError(message.why)

    def on_block(self, message: Block) -> str:
        self.probe.record("blocked", self.name, message.gate)
        self.probe.gate(message.gate).wait(30)
        return "unblocked"

    def on_count(self, message: Count) -> int:
        return self.seen


def recorder(probe: Probe, **kwargs: Any) -> Callable[[], Recorder]:
    return lambda: Recorder(probe, **kwargs)
