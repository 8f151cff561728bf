"""The control thread: one thread that runs supervision events one at a time, in the order posted.

Both supervisors (threads in `Runtime`, OS processes in `ProcessRuntime`) make every decision on
one of these, so the tree's state has a single writer; anyone may `post`, and observers
`wait_until` a condition re-checked after every event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

__all__ = ["ControlThread"]


class ControlThread:
    """Runs posted ``handler(*args)`` events in order; a handler that raises calls ``on_failure``."""

    def __init__(self, name: str, on_failure: Callable[[BaseException], None]) -> None:
        self._events: SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = SimpleQueue()
        self._changed = threading.Condition()
        self._on_failure = on_failure
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def post(self, handler: Callable[..., Any], *args: Any) -> None:
        self._events.put((handler, args))

    def finish(self) -> None:
        """Stop after the events already posted (call from a handler to end the thread)."""
        self._events.put(None)

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True from `start` until the thread has run its last event."""
        return self._thread.is_alive()

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    @property
    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def notify_changed(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds, re-checking after each event; False on timeout."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def _run(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                break
            handler, args = event
            try:
                handler(*args)
            except Exception as error:  # a bug in the supervisor itself: it decides what to do
                self._on_failure(error)
            self.notify_changed()
        self.notify_changed()
