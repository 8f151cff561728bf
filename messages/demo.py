"""Messages of the built-in demo's own actors (a desk's strategies would define theirs in their package)."""

from __future__ import annotations

from messages.base import Message

__all__ = ["DemoTick"]


class DemoTick(Message, frozen=True):
    """Time for a demo strategy or the demo treasurer to act."""
