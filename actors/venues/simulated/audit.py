"""Every balance of the simulated world and the audit of every change to it (`Books`), so no cent goes unexplained."""

from __future__ import annotations

import enum

import msgspec

from actors.venues.base import VenueRejected
from actors.venues.simulated.amounts import account_name, rounded
from messages.common import Currency, Exchange

__all__ = ["Books", "Movement", "MovementKind"]


class MovementKind(enum.StrEnum):
    """What caused a balance change. ``opening``, ``deposit``, ``external`` and ``trade`` bring money
    into (or take it out of) the world; ``fee`` and ``trade_fee`` go to the venue; the rest move
    money inside it."""

    OPENING = "opening"  # a balance given to the constructor
    DEPOSIT = "deposit"  # `SimulatedVenue.deposit`: money entering from outside
    EXTERNAL = "external"  # `SimulatedVenue.external_adjust`: a change the desk did not make
    DEBIT = "debit"  # a transfer leaving its source (net of the fee)
    FEE = "fee"  # a transfer's fee, taken from the source
    CREDIT = "credit"  # a transfer reaching its destination
    TRADE = "trade"  # one leg of a fill: base or quote exchanged with the world's counterparty
    TRADE_FEE = "trade_fee"  # a fill's fee, in the quote currency


EXTERNAL_KINDS = frozenset({MovementKind.OPENING, MovementKind.DEPOSIT, MovementKind.EXTERNAL, MovementKind.TRADE})
FEE_KINDS = frozenset({MovementKind.FEE, MovementKind.TRADE_FEE})


class Movement(msgspec.Struct, frozen=True):
    """One balance change in the venue's audit: ``delta`` of ``currency`` on ``exchange``/``account``.

    ``seq`` orders the audit; ``at`` is the simulated time the change took effect.
    """

    seq: int
    at: float
    kind: MovementKind
    exchange: Exchange
    account: str
    currency: Currency
    delta: float
    client_id: str | None = None
    note: str = ""


class Books:
    """Per account and currency the balance, and the audit: one `Movement` per change, in order.

    Plain bookkeeping: the venue holds its lock around every call.
    """

    def __init__(self) -> None:
        self.balances: dict[tuple[Exchange, str], dict[Currency, float]] = {}
        self.audit: list[Movement] = []
        self.fees: dict[Currency, float] = {}
        self.external: dict[Currency, float] = {}

    def open(self, key: tuple[Exchange, str]) -> None:
        self.balances.setdefault(key, {})

    def account(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        """The account's balances; `VenueRejected` for an account that does not exist."""
        balances = self.balances.get((exchange, account))
        if balances is None:
            raise VenueRejected(f"unknown account {account_name(exchange, account)}")
        return balances

    def move(
        self,
        kind: MovementKind,
        key: tuple[Exchange, str],
        currency: Currency,
        delta: float,
        at: float,
        *,
        client_id: str | None = None,
        note: str = "",
    ) -> None:
        """Change a balance by ``delta`` (rounded) and audit it as taking effect ``at``."""
        delta = rounded(delta)
        balances = self.balances[key]
        balances[currency] = rounded(balances.get(currency, 0.0) + delta)
        if kind in EXTERNAL_KINDS:
            self.external[currency] = rounded(self.external.get(currency, 0.0) + delta)
        elif kind in FEE_KINDS:
            self.fees[currency] = rounded(self.fees.get(currency, 0.0) - delta)
        self.audit.append(
            Movement(
                seq=len(self.audit) + 1,
                at=at,
                kind=kind,
                exchange=key[0],
                account=key[1],
                currency=currency,
                delta=delta,
                client_id=client_id,
                note=note,
            )
        )

    def held(self) -> dict[Currency, float]:
        """Per currency, what every account holds together."""
        held: dict[Currency, float] = {}
        for balances in self.balances.values():
            for currency, amount in balances.items():
                held[currency] = held.get(currency, 0.0) + amount
        return held
