"""The actors: one module per job. Each actor's bookkeeping is a plain class beside it."""

from actors.base import Actor

__all__ = ["Actor"]
