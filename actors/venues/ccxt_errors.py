"""ccxt's exceptions as the venue's own errors, with every secret scrubbed from their text.

A read that fails for the network is `VenueUnavailable` (nothing happened); a write (an order,
a withdrawal, a transfer) that fails for the network may have happened, so it is `VenueTimeout`.
A rate-limit answer is `VenueRejected` either way: the exchange refused before acting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from actors.venues.base import VenueError, VenueRejected, VenueTimeout, VenueUnavailable
from actors.venues.ccxt_lib import ccxt

__all__ = ["Redactor", "is_refusal", "venue_error"]

_SIGNED = re.compile(r"(signature|sign|api[-_]?key|api[-_]?sign|secret)=[^&\s\"']+", re.IGNORECASE)


class Redactor:
    """Removes the given secrets (and any ``signature=...`` in a URL) from a text."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _SIGNED.sub(lambda m: f"{m.group(1)}=***", text)


def is_refusal(error: Exception) -> bool:
    """True when the exchange answered and refused the business of the call (nothing happened):
    too little money, an invalid order or address, an unknown symbol, a missing permission."""
    return isinstance(error, ccxt().ExchangeError) and not isinstance(error, ccxt().OrderNotFound)


def venue_error(error: Exception, what: str, *, write: bool, redact: Redactor) -> VenueError:
    """The `VenueError` to raise for ccxt's ``error`` during ``what`` (its text redacted)."""
    text = f"{what}: {type(error).__name__}: {redact(str(error))}"
    if isinstance(error, ccxt().RateLimitExceeded | ccxt().DDoSProtection):
        return VenueRejected(f"rate limited: {text}")
    if isinstance(error, ccxt().NetworkError):
        if write:
            return VenueTimeout(f"no certain answer (it may have happened): {text}")
        if isinstance(error, ccxt().RequestTimeout):
            return VenueTimeout(text)
        return VenueUnavailable(text)
    if isinstance(error, ccxt().BaseError):
        return VenueRejected(text)
    return VenueError(text)
