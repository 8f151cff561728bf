"""The exchange interface the actors use, named like ccxt so a real adapter can slot in later.

Calls are synchronous, as a REST call is: actors call them from their own thread. Results are
plain message values (`messages.venue`), so a venue can also live in another process.
Business refusals (unknown account, too little money) come back as a `TransferResult` with
status ``failed`` and a reason; infrastructure trouble raises a `VenueError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar, runtime_checkable

import msgspec
from loguru import logger

from messages.common import Currency, Exchange
from messages.trading import Fill, Order, OrderStatus, OrderType, Side, Ticker
from messages.venue import Deposit, TransferResult

K = TypeVar("K")

__all__ = [
    "FillSubscription",
    "MarketRules",
    "refused_order",
    "Subscription",
    "TradingVenue",
    "Venue",
    "VenueError",
    "VenueOutcomeUnknown",
    "VenueRejected",
    "VenueTimeout",
    "VenueUnavailable",
]


class VenueError(Exception):
    """The venue call did not complete normally."""


class VenueRejected(VenueError):
    """The venue refused the call (for example a rate limit); nothing happened. Safe to retry."""


class VenueTimeout(VenueError):
    """No answer in time. The call may or may not have taken effect: ask before doing it again."""


class VenueUnavailable(VenueError):
    """The venue is down (outage); nothing happened."""


class VenueOutcomeUnknown(VenueTimeout):
    """The call timed out and the venue's own history cannot settle it (a withdrawal without a
    client id, not found after the search window): report it unknown and alert; never send again."""


@runtime_checkable
class Venue(Protocol):
    """Balances, transfers and deposits on one or more exchanges."""

    def fetch_balance(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        """Every currency's balance on ``exchange``/``account`` (REST truth)."""
        ...

    def transfer(
        self,
        client_id: str,
        from_exchange: Exchange,
        from_account: str,
        to_exchange: Exchange,
        to_account: str,
        currency: Currency,
        amount: float,
    ) -> TransferResult:
        """Move money. Same exchange: instant (status ok). Across exchanges: an on-chain
        withdrawal, debited at once and credited after a delay minus a fee (status pending).
        A repeated ``client_id`` never moves money twice: it returns the first result."""
        ...

    def fetch_transfer(self, client_id: str) -> TransferResult | None:
        """The transfer made with ``client_id`` as it stands now, or None if the venue never saw it."""
        ...

    def fetch_deposits(self, exchange: Exchange, account: str) -> list[Deposit]:
        """Money credited to ``exchange``/``account`` so far, oldest first."""
        ...

    def clock_skew(self, exchange: Exchange) -> float:
        """How many seconds ``exchange``'s clock may be off the desk's: the times it stamps on
        fills and transfers are trusted to within this margin only (0 where it keeps the desk's clock)."""
        ...


class MarketRules(msgspec.Struct, frozen=True):
    """What a real exchange accepts on a market: the smallest quantity and order value, and the
    steps quantities and prices are rounded to (None where the exchange does not say)."""

    market: str
    min_quantity: float | None = None
    quantity_step: float | None = None
    price_step: float | None = None
    min_cost: float | None = None


class FillSubscription(Protocol):
    """A live fill feed; `cancel` it to stop the pushes."""

    def cancel(self) -> None: ...


class Subscription(Generic[K]):
    """One callback receiving one account's fills, as a venue implementation hands them out.

    ``key`` is what the venue files it under; ``on_cancel`` is how the venue forgets it. A
    callback that raises is logged and does not stop the feed. Venues make these; callers
    only `cancel` them.
    """

    def __init__(
        self, key: K, label: str, callback: Callable[[Fill], None], on_cancel: Callable[[Subscription[K]], None]
    ) -> None:
        self.key = key
        self.label = label
        self._callback = callback
        self._on_cancel = on_cancel
        self.active = True

    def cancel(self) -> None:
        """Stop the pushes (including any already queued and not yet delivered)."""
        self.active = False
        self._on_cancel(self)

    def deliver(self, fill: Fill) -> None:
        if not self.active:
            return
        try:
            self._callback(fill)
        except Exception:
            logger.exception("fill subscriber of {} failed on {}", self.label, fill.trade_id)


@runtime_checkable
class TradingVenue(Venue, Protocol):
    """A venue that also trades: tickers, orders, and fills pushed like a websocket."""

    def fetch_ticker(self, market: str) -> Ticker:
        """Best bid, ask and last price of ``market`` (such as ``"btc/usd"``)."""
        ...

    def create_order(
        self,
        exchange: Exchange,
        account: str,
        market: str,
        side: Side,
        order_type: OrderType,
        quantity: float,
        price: float | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Place an order; a repeated ``client_order_id`` returns the existing order. A refused
        order comes back with status ``rejected`` and a reason."""
        ...

    def cancel_order(self, order_id: str) -> Order: ...

    def fetch_order(self, order_id: str) -> Order: ...

    def fetch_open_orders(self, exchange: Exchange, account: str) -> list[Order]: ...

    def fetch_order_by_client_id(self, exchange: Exchange, account: str, client_order_id: str) -> Order | None:
        """The account's order placed with ``client_order_id`` as it stands now, or None if the venue has none."""
        ...

    def fetch_fills(self, exchange: Exchange, account: str, since: float) -> list[Fill]:
        """The account's fills with ``timestamp >= since``, oldest first (the venue's trade history)."""
        ...

    def subscribe_fills(self, exchange: Exchange, account: str, callback: Callable[[Fill], None]) -> FillSubscription:
        """Push every later fill of the account to ``callback`` (quickly: send a message)."""
        ...


def refused_order(
    order_id: str,
    exchange: Exchange,
    account: str,
    market: str,
    side: Side,
    order_type: OrderType,
    quantity: float,
    price: float | None,
    client_order_id: str | None,
    now: float,
) -> Order:
    """The order an adapter answers with when it refuses a request before sending it (status
    ``rejected``; give the reason with ``msgspec.structs.replace``), as the simulated venue does."""
    return Order(
        order_id=order_id,
        exchange=exchange,
        account=account,
        market=market.lower(),
        side=Side(side),
        order_type=OrderType(order_type),
        quantity=quantity if math.isfinite(quantity) else 0.0,
        status=OrderStatus.REJECTED,
        price=price,
        client_order_id=client_order_id,
        created_at=now,
    )
