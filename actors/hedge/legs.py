"""One leg of the hedge pair: a position and its PnL by average cost; the rounding both books share."""

from __future__ import annotations

import msgspec

from messages.hedge import LegReport
from messages.trading import Side

__all__ = ["EPSILON", "Leg", "rounded"]

EPSILON = 1e-9
"""Quantities closer than this are equal (the venue rounds to 1e-8)."""


def rounded(value: float) -> float:
    """``value`` rounded as the venue rounds quantities (1e-8)."""
    return round(value, 8)


class Leg(msgspec.Struct):
    """One account's position in the base currency (long > 0) and its PnL in the quote, by average cost.

    ``realised`` is gross of ``fees``; ``last_price`` is the last price this leg traded at.
    """

    position: float = 0.0
    average_price: float | None = None
    realised: float = 0.0
    fees: float = 0.0
    last_price: float | None = None

    def trade(self, side: Side, quantity: float, price: float, fee: float = 0.0) -> None:
        """Book ``quantity`` bought or sold at ``price``: closing trades realise PnL against the average."""
        signed = quantity if side is Side.BUY else -quantity
        before, average = self.position, self.average_price or 0.0
        after = rounded(before + signed)
        if abs(before) <= EPSILON or (before > 0) == (signed > 0):  # opening or adding
            self.average_price = (
                (abs(before) * average + quantity * price) / abs(after) if abs(after) > EPSILON else None
            )
        else:  # reducing, closing, or flipping
            closed = min(abs(before), quantity)
            self.realised = rounded(self.realised + closed * (price - average) * (1 if before > 0 else -1))
            if abs(after) <= EPSILON:
                self.average_price = None
            elif (after > 0) != (before > 0):
                self.average_price = price
        self.position = 0.0 if abs(after) <= EPSILON else after
        self.fees = rounded(self.fees + fee)
        self.last_price = price

    def unrealised(self, mark: float | None) -> float:
        """What closing the position at ``mark`` would realise (0 when flat or no mark is known)."""
        if mark is None or self.average_price is None or abs(self.position) <= EPSILON:
            return 0.0
        return rounded(self.position * (mark - self.average_price))

    def report(self, name: str, account: str, mark: float | None) -> LegReport:
        return LegReport(
            name=name,
            account=account,
            position=self.position,
            average_price=self.average_price,
            realised_pnl=self.realised,
            unrealised_pnl=self.unrealised(mark),
            fees=self.fees,
        )
