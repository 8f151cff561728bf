"""How the dashboard reaches a running system: asks and tells from outside the tree, in either mode.

`InProcessSource` wraps a `System` (the runtime's own ask); `ProcessSource` wraps a
`ProcessSystem` through a hub `Client` (one socket, so asks are serialised by a lock).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from messages.base import Message
from messages.system import ActorStatus, DeadLetter

__all__ = ["InProcessSource", "ProcessSource", "Source"]


class Source(Protocol):
    """What the dashboard needs of a running system."""

    names: list[str]

    def ask(self, name: str, message: Message, timeout: float = 2.0) -> Any: ...

    def tell(self, name: str, message: Message) -> None: ...

    def actors(self) -> list[ActorStatus]: ...

    def dead_letters(self) -> list[DeadLetter]: ...

    def dead_letter_count(self) -> int: ...

    def venue_errors(self) -> dict[str, int]: ...


class InProcessSource:
    """A `System` in this process: asks go through its runtime like any outside client's."""

    def __init__(self, system: Any) -> None:
        self.system = system
        self.names: list[str] = list(system.names)

    def ask(self, name: str, message: Message, timeout: float = 2.0) -> Any:
        return self.system.runtime.ask(name, message, timeout=timeout)

    def tell(self, name: str, message: Message) -> None:
        self.system.runtime.tell(name, message)

    def actors(self) -> list[ActorStatus]:
        return list(self.system.runtime.status())

    def dead_letters(self) -> list[DeadLetter]:
        return list(self.system.runtime.dead_letters)

    def dead_letter_count(self) -> int:
        return int(self.system.runtime.dead_letter_count)

    def venue_errors(self) -> dict[str, int]:
        """Venue errors by kind, counted where the venue is served (this process, in both modes)."""
        errors: dict[str, int] = self.system.venue.errors()
        return errors


class ProcessSource:
    """A `ProcessSystem` whose supervisor is this process: asks go through the hub, like `bin/run send`."""

    def __init__(self, system: Any, client: Any) -> None:
        self.system = system
        self.client = client
        self.names: list[str] = list(system.names)
        self._lock = threading.Lock()

    def ask(self, name: str, message: Message, timeout: float = 2.0) -> Any:
        with self._lock:
            return self.client.ask(name, message, timeout=timeout)

    def tell(self, name: str, message: Message) -> None:
        with self._lock:
            self.client.tell(name, message)

    def actors(self) -> list[ActorStatus]:
        return list(self.system.actor_statuses())

    def dead_letters(self) -> list[DeadLetter]:
        hub = self.system.hub  # the hub keeps (recipient, sender, reason) per frame it could not deliver
        letters = list(hub.dead_letters) if hub is not None else []
        return [DeadLetter(recipient=r, reason=why, message_type="", sender=s or None) for r, s, why in letters[-200:]]

    def dead_letter_count(self) -> int:
        hub = self.system.hub  # its own, and what each node's runtime reported in its heartbeats
        return hub.dead_letter_count() if hub is not None else 0

    def venue_errors(self) -> dict[str, int]:
        """Venue errors by kind, counted where the venue is served (this process, in both modes)."""
        errors: dict[str, int] = self.system.venue.errors()
        return errors
