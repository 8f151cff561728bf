"""The follow-up named by a task's or chain's ``extra``: an actor to notify, a chain, or a registered handler.

``extra`` forms:
- ``"actor:NAME"``  tell actor NAME the result message,
- ``"chain:ID:HOP"`` tell the chain executor (a hop of chain ID finished),
- ``"NAME"``        call the handler registered under NAME (in the executor's process),
- ``None`` / ``""``  nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from loguru import logger

__all__ = ["FollowUps", "chain_extra", "parse_chain_extra"]


def chain_extra(chain_id: str, hop: int) -> str:
    """The ``extra`` of the task for hop ``hop`` of chain ``chain_id``."""
    return f"chain:{chain_id}:{hop}"


def parse_chain_extra(extra: str | None) -> tuple[str, int] | None:
    """(chain_id, hop) for a chain hop's ``extra``, else None."""
    if not extra or not extra.startswith("chain:"):
        return None
    chain_id, sep, hop = extra[len("chain:") :].rpartition(":")
    if not sep or not chain_id or not hop.isdigit():
        return None
    return chain_id, int(hop)


class FollowUps:
    """Runs the follow-up an ``extra`` names, given how to tell actors and the registered handlers."""

    def __init__(
        self,
        tell: Callable[[str, Any], None],
        handlers: Mapping[str, Callable[[Any], None]] | None = None,
        chains: str = "chains",
    ) -> None:
        self._tell = tell
        self._handlers = dict(handlers or {})
        self._chains = chains

    def run(self, extra: str | None, result: Any) -> str:
        """Carry out the follow-up for ``extra`` with ``result``; returns what was done (for logs)."""
        if not extra:
            return "none"
        if extra.startswith("actor:"):
            target = extra[len("actor:") :]
            self._tell(target, result)
            return f"told {target}"
        if parse_chain_extra(extra) is not None:
            self._tell(self._chains, result)
            return f"told {self._chains}"
        handler = self._handlers.get(extra)
        if handler is None:
            logger.bind(actor="followups").info("no follow-up registered for extra {!r}", extra)
            return "unregistered"
        try:
            handler(result)
        except Exception:  # user code: the money already moved, so log and carry on
            logger.bind(actor="followups").exception("follow-up {!r} raised", extra)
            return "handler failed"
        return f"ran {extra}"
