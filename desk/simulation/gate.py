"""Deterministic turns for real actor threads: one actor handles one message at a time, in an order the seed picks.

`Gate.install(runtime)` gives every actor of a not-yet-started `Runtime` a `GatedMailbox`: its
incarnation may take a message only when the gate grants it a turn. The simulation then runs
the whole desk as a sequence of single handler executions, each picked by the seed among the
actors with mail, so a seed decides every interleaving and a run replays exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from messages.system import Ping
from supervisor.errors import ActorCrashedError
from supervisor.mailbox import STOP, Envelope, Mailbox
from supervisor.runtime import Runtime

__all__ = ["CRASH_SENDER", "Gate", "GatedMailbox", "SettleTimeout"]

CRASH_SENDER = "simulated-crash"
"""A sender no actor has: an actor answering a `Ping` from it raises `UnknownActorError` and crashes."""


class SettleTimeout(RuntimeError):
    """An actor did not finish its turn (or its restart) in time: stuck, deadlocked, or far too slow."""


class GatedMailbox(Mailbox):
    """A `Mailbox` whose consumer takes a message only on a turn granted by its `Gate`.

    The stop request is never gated (so the runtime can always stop an actor), and an open gate
    lets every consumer run freely (how the world is stopped at the end of a run).
    """

    def __init__(self, name: str, gate: Gate) -> None:
        super().__init__(name)
        self._gate = gate
        self._turn = False
        self._idle_generation = -1  # the generation of the consumer waiting for a turn, if any

    def take(self, generation: int) -> Envelope | None:
        with self._lock:
            while True:
                self._answered = self._pinged
                if self._generation != generation:
                    self._idle_generation = -1
                    self._gate.poke()
                    return None
                if self._items and (self._turn or self._gate.is_open or any(e.message is STOP for e in self._items)):
                    self._turn = False
                    self._idle_generation = -1
                    return self._items.popleft()
                self._idle_generation = generation
                self._waiters += 1
                self._gate.poke()
                try:
                    self._nonempty.wait()
                finally:
                    self._waiters -= 1

    @property
    def idle(self) -> bool:
        """The current incarnation is waiting for a turn (or the mailbox is closed for good)."""
        return self.closed or (self._idle_generation == self.generation and not self._turn)

    def head(self) -> Any:
        """The message the next turn handles (None when empty)."""
        with self._lock:
            return self._items[0].message if self._items else None

    def grant_turn(self) -> None:
        with self._lock:
            self._turn = True
            self._nonempty.notify_all()

    def crash_on_head(self, dead_letter: Callable[[Envelope, str], None]) -> Any:
        """Make the next turn a crash while handling the head message: it is dead-lettered (as when the
        actor's process dies holding it) and replaced by a `Ping` whose answer crashes the actor."""
        with self._lock:
            envelope = self._items.popleft()
            self._items.appendleft(Envelope(Ping(nonce=-1), CRASH_SENDER))
        reason = f"{self.name} crashed (simulated) while handling {type(envelope.message).__name__}"
        dead_letter(envelope, reason)
        if envelope.reply_to is not None:
            envelope.reply_to.fail(ActorCrashedError(reason))
        return envelope.message

    def crash_when_idle(self) -> None:
        """Queue, ahead of everything, a `Ping` whose answer crashes the actor (a crash between two messages)."""
        with self._lock:
            self._items.appendleft(Envelope(Ping(nonce=-2), CRASH_SENDER))

    def open_up(self) -> None:
        with self._lock:
            self._nonempty.notify_all()


class Gate:
    """The turn-taker: knows every gated mailbox and waits for the actors to be idle."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.mailboxes: dict[str, GatedMailbox] = {}
        self.is_open = False
        self.timeout = timeout
        self._changed = threading.Condition()

    def install(self, runtime: Runtime) -> None:
        """Give every actor of ``runtime`` (not started yet) a gated mailbox (`Runtime.use_mailbox`)."""
        for name in runtime.names:
            mailbox = GatedMailbox(name, self)
            runtime.use_mailbox(name, mailbox)
            self.mailboxes[name] = mailbox

    def poke(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_idle(self, names: list[str] | None = None) -> None:
        """Block until every (named) actor waits for a turn; `SettleTimeout` naming the busy ones."""
        boxes = [self.mailboxes[n] for n in names] if names is not None else list(self.mailboxes.values())
        deadline = time.monotonic() + self.timeout
        with self._changed:
            while not all(box.idle for box in boxes):
                left = deadline - time.monotonic()
                if left <= 0:
                    busy = sorted(box.name for box in boxes if not box.idle)
                    raise SettleTimeout(f"actors still busy after {self.timeout}s: {', '.join(busy)}")
                self._changed.wait(min(left, 0.05))

    def ready(self) -> list[GatedMailbox]:
        """Actors with mail, waiting for a turn, in name order."""
        return [box for name, box in sorted(self.mailboxes.items()) if len(box) and box.idle and not box.closed]

    def turn(self, box: GatedMailbox) -> None:
        """Let ``box``'s actor handle one message, and wait until it is done (or restarted after a crash)."""
        box.grant_turn()
        self.wait_idle([box.name])

    def open(self) -> None:
        """Stop gating: every actor runs freely from now on (to stop the world)."""
        self.is_open = True
        for box in self.mailboxes.values():
            box.open_up()
