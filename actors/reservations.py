"""`Reservations`: pool money the gateway holds for a transfer about to be sent, so no allocate takes it meanwhile.

Pure bookkeeping (no threads, no I/O). The transfer executor reads the board, reserves the amount
at the gateway, then sends; the reservation ends when the transfer's source leg is booked, when
the executor releases it (the venue refused), or after ``ttl`` seconds (an executor that died).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["Reservations"]


@dataclass(frozen=True)
class _Hold:
    where: Hashable
    amount: float
    expires_at: float


class Reservations:
    """Holds per ``where`` (an account and currency), each named by a ref (the transfer's client id)."""

    def __init__(self, ttl: float = 60.0) -> None:
        if not (math.isfinite(ttl) and ttl > 0):
            raise ValueError(f"a reservation's ttl must be > 0 seconds, got {ttl!r}")
        self.ttl = ttl
        self._holds: dict[str, _Hold] = {}

    def reserve(self, where: Hashable, ref: str, amount: float, free: float, now: float) -> str:
        """Hold ``amount`` out of ``free`` (the pool); "" when held, else why not. A repeated ref renews its hold."""
        self._expire(now)
        previous = self._holds.pop(ref, None)
        if not (math.isfinite(amount) and amount > 0):
            reason = f"a reservation must be a positive amount, got {amount!r}"
        elif amount > free - self.held(where, now) + 1e-9:
            reason = f"only {free - self.held(where, now)} is free ({self.held(where, now)} of the pool is reserved)"
        else:
            self._holds[ref] = _Hold(where, amount, now + self.ttl)
            return ""
        if previous is not None:
            self._holds[ref] = previous
        return reason

    def release(self, ref: str) -> bool:
        """End the hold named ``ref``; whether there was one."""
        return self._holds.pop(ref, None) is not None

    def held(self, where: Hashable, now: float) -> float:
        """What is reserved out of ``where`` now."""
        self._expire(now)
        return math.fsum(hold.amount for hold in self._holds.values() if hold.where == where)

    def _expire(self, now: float) -> None:
        for ref in [ref for ref, hold in self._holds.items() if hold.expires_at <= now]:
            del self._holds[ref]
