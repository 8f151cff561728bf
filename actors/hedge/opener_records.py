"""A's saved records beside its book: each fill awaiting its hedge, its orders, a placement in doubt, manual hedges.

Plain msgspec Structs (and the enums of their states); `OpenerBook` is what changes them.
"""

from __future__ import annotations

import enum

import msgspec

from actors.hedge.legs import EPSILON
from messages.hedge import AFilled
from messages.trading import Side

__all__ = ["Direction", "FillState", "ManualHedge", "PendingHedge", "PlacementInDoubt", "TrackedOrder"]


class Direction(enum.StrEnum):
    """Where A's rounds are heading: opening the long, or closing it."""

    OPEN_LONG = "open"
    CLOSE_LONG = "close"


class FillState(enum.StrEnum):
    """Where a fill of A stands: asked of B, given up by B, or left unhedged by an operator's resume."""

    PENDING = "pending"
    FAILED = "failed"
    RESIDUAL = "residual"


class PendingHedge(msgspec.Struct):
    """A fill of A that B has been asked to hedge (``quantity`` is what this request hedges)."""

    trade_id: str
    order_id: str
    market: str
    side: Side  # A's side; B hedges the opposite
    quantity: float
    price: float
    sent_at: float
    request: int = 1
    timed_out: bool = False
    state: FillState = FillState.PENDING

    def message(self, reply_to: str) -> AFilled:
        """The `AFilled` that asks B to hedge this fill."""
        return AFilled(
            trade_id=self.trade_id,
            order_id=self.order_id,
            market=self.market,
            side=self.side,
            quantity=self.quantity,
            price=self.price,
            reply_to=reply_to,
            request=self.request,
        )


class PlacementInDoubt(msgspec.Struct):
    """A's order placement that timed out: the venue may hold ``client_order_id`` (resolved before acting again)."""

    client_order_id: str
    side: Side
    quantity: float
    since: float


class ManualHedge(msgspec.Struct):
    """A hedge an operator made by hand and booked (`BookManualHedge`), with the venue's reference."""

    reference: str
    quantity: float
    price: float
    fee: float
    trade_ids: list[str]
    at: float


class TrackedOrder(msgspec.Struct):
    """One of A's orders and how much of it is known filled.

    ``seen`` comes from pushed fills; ``covered`` is what A has booked and sent to B (pushed
    fills plus fills the venue reports that were never pushed); ``venue_filled`` is what the
    venue said at the last check.
    """

    order_id: str
    side: Side
    quantity: float
    price: float | None
    placed_at: float
    seen: float = 0.0
    covered: float = 0.0
    venue_filled: float = 0.0
    average_price: float | None = None
    finished: bool = False
    unseen_fills: int = 0
    trade_ids: list[str] = msgspec.field(default_factory=list)  # of the pushed fills booked, to ignore a repeat

    @property
    def settled(self) -> bool:
        """Finished, and every fill the venue reported is booked and sent to B."""
        return self.finished and self.covered >= self.venue_filled - EPSILON
