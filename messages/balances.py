"""Balance gateway commands and views: allocate, release, adjust, reconcile, the board's rows.

A ledger is per (exchange, account, currency) with ``strategy_count`` slots: slot 0 is the
total, slot 1 the main strategy (the pool), slots 2.. one per sub-strategy; always
``slot0 == sum(slots 1..)``. Commands that name no exchange/account go to the gateway's
default account.
"""

from __future__ import annotations

import enum
from typing import ClassVar

import msgspec

from messages.base import Message
from messages.common import Account, Currency, Exchange

__all__ = [
    "Adjust",
    "Allocate",
    "BalanceView",
    "Balances",
    "LedgerCorrection",
    "Booking",
    "FundsReserved",
    "GetBalances",
    "LedgerReset",
    "MovementBooked",
    "Reconcile",
    "Reconciled",
    "Release",
    "ReleaseFunds",
    "ReserveFunds",
    "VenueMovement",
]


class Allocate(Message, frozen=True):
    """Move ``amount`` from the pool (slot 1) to sub-strategy slot ``index``. Answer: `BalanceView` or `Rejected`."""

    currency: Currency
    index: int
    amount: float
    strategy: str = ""
    exchange: Exchange | None = None
    account: Account | None = None


class Release(Message, frozen=True):
    """Move ``amount`` from sub-strategy slot ``index`` back to the pool. Answer: `BalanceView` or `Rejected`."""

    currency: Currency
    index: int
    amount: float
    strategy: str = ""
    exchange: Exchange | None = None
    account: Account | None = None


class Adjust(Message, frozen=True):
    """Move slot ``index`` (0 = the total) by the signed ``delta``; the pool absorbs it.

    Sent by a strategy or the operator after a trade or a transfer the desk did not make (the
    transfer executor books its own legs with the actor-only `VenueMovement`). ``ref`` makes it
    idempotent: an Adjust whose ``ref`` was already applied is acknowledged and changes nothing.
    ``occurred_at`` is when the change happened at the venue: one from before the ledger's last
    venue snapshot (start, restart or reconcile) is already counted in it, one during that
    snapshot's fetch is held until a re-fetch says whether it is.
    """

    currency: Currency
    delta: float
    index: int = 0
    strategy: str = ""
    exchange: Exchange | None = None
    account: Account | None = None
    ref: str | None = None
    occurred_at: float | None = None


class VenueMovement(Message, frozen=True):
    """Told by the transfer executor: one leg of a transfer moved the venue balance of an account by ``delta``.

    Actor-only (a client cannot book money the venue did not move). ``ref`` makes it idempotent;
    ``occurred_at`` (the venue's time of the move) places it against the ledger's snapshots: one
    from before the last snapshot is counted in it, one during the snapshot's fetch is held until
    a re-fetch says. Answer: `MovementBooked` with the same ``correlation_id``.
    """

    actor_only: ClassVar[bool] = True

    exchange: Exchange
    account: Account
    currency: Currency
    delta: float
    ref: str
    occurred_at: float | None = None
    correlation_id: str = ""


class ReserveFunds(Message, frozen=True):
    """Told by the transfer executor before it sends: hold ``amount`` of the pool for transfer ``ref``
    so no allocate takes it meanwhile. Answer: `FundsReserved` with the same ``correlation_id``."""

    actor_only: ClassVar[bool] = True

    exchange: Exchange
    account: Account
    currency: Currency
    amount: float
    ref: str
    correlation_id: str = ""


class FundsReserved(Message, frozen=True):
    """The gateway's answer to `ReserveFunds`: ``ok``, or why not (``reason``)."""

    actor_only: ClassVar[bool] = True

    ref: str
    correlation_id: str
    ok: bool
    reason: str = ""


class ReleaseFunds(Message, frozen=True):
    """Told by the transfer executor: transfer ``ref`` was not made; its reservation ends."""

    actor_only: ClassVar[bool] = True

    ref: str


class Booking(enum.StrEnum):
    """What the gateway did with a `VenueMovement`."""

    APPLIED = "applied"  # the ledger moved
    COUNTED = "counted"  # the last snapshot already had it
    REPEAT = "repeat"  # its ref was booked already
    HELD = "held"  # it happened during a snapshot's fetch: held until a re-fetch says
    REFUSED = "refused"  # unknown account or currency, or the ledger refused it (``reason``)


class MovementBooked(Message, frozen=True):
    """The gateway's answer to a `VenueMovement`."""

    actor_only: ClassVar[bool] = True

    ref: str
    correlation_id: str
    outcome: Booking
    reason: str = ""


class BalanceView(Message, frozen=True):
    """One ledger as published on the balance board (and the answer to a successful command)."""

    actor_only: ClassVar[bool] = True  # an answer: no actor takes one from a client

    exchange: Exchange
    account: Account
    currency: Currency
    slots: tuple[float, ...]
    credit_limit: float = 0.0
    updated_at: float = 0.0

    @property
    def total(self) -> float:
        return self.slots[0]

    @property
    def pool(self) -> float:
        return self.slots[1]

    @property
    def available(self) -> float:
        """What can still be allocated: the pool plus the credit limit."""
        return self.slots[1] + self.credit_limit


class GetBalances(Message, frozen=True):
    """Ask for the ledgers, optionally only one exchange / account / currency. Answer: `Balances`."""

    exchange: Exchange | None = None
    account: Account | None = None
    currency: Currency | None = None


class LedgerCorrection(msgspec.Struct, frozen=True):
    """How often reconciles corrected one ledger (``account`` is ``exchange.account``) since the
    gateway started, and by how much in all (the sum of each correction's size)."""

    account: str
    currency: Currency
    count: int
    amount: float


class Balances(Message, frozen=True):
    """The ledgers asked for; ``unconfirmed``: venue changes held until a re-fetch says whether the
    last snapshot counts them (account and ref, with their deltas): not yet in any total;
    ``corrections``: what reconciles corrected, per ledger."""

    actor_only: ClassVar[bool] = True

    views: list[BalanceView]
    unconfirmed: list[str] = msgspec.field(default_factory=list)
    corrections: tuple[LedgerCorrection, ...] = ()


class Reconcile(Message, frozen=True):
    """Compare every ledger with the venue's REST balances and correct the totals. Answer: `Reconciled`."""


class Reconciled(Message, frozen=True):
    """How many ledgers a reconcile corrected, and how many it had to reset."""

    actor_only: ClassVar[bool] = True

    checked: int
    corrected: int
    reset: int


class LedgerReset(Message, frozen=True):
    """Told to every strategy: the ledger was reset, your slot is empty, request your capital again."""

    actor_only: ClassVar[bool] = True

    exchange: Exchange
    account: Account
    currency: Currency
    reason: str
