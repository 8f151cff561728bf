"""`CountingVenue`: any venue, counting the errors its calls raise by kind (what the operator's metrics show)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from actors.venues.base import VenueError

__all__ = ["CountingVenue"]


class CountingVenue:
    """The venue it wraps, call for call, except that every `VenueError` a call raises is counted
    under its class name (``VenueTimeout``, ``VenueUnavailable``, ...) before it reaches the caller.

    Give it where the venue is built; read ``errors()`` from the process that built it.
    """

    def __init__(self, venue: Any) -> None:
        self.venue = venue
        self._errors: Counter[str] = Counter()
        self._lock = threading.Lock()

    def errors(self) -> dict[str, int]:
        """Venue errors so far, by kind."""
        with self._lock:
            return dict(self._errors)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.venue, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        return self._counted(attribute)

    def _counted(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return call(*args, **kwargs)
            except VenueError as error:
                with self._lock:
                    self._errors[type(error).__name__] += 1
                raise

        return counted
