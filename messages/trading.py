"""Trading facts shared by the venue, the gateway and the hedge accounts: sides and fills."""

from __future__ import annotations

import enum
from typing import ClassVar

from messages.base import Message
from messages.common import Account, Currency, Exchange, currency_code

__all__ = ["Fill", "Order", "OrderStatus", "OrderType", "Side", "Ticker", "split_market"]


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


def split_market(market: str) -> tuple[Currency, Currency]:
    """``"btc/usd"`` -> (Currencies.BTC, Currencies.USD); ValueError naming the market otherwise."""
    base, sep, quote = market.lower().partition("/")
    if not sep:
        raise ValueError(f"market must look like 'btc/usd', got {market!r}")
    try:
        return currency_code(base), currency_code(quote)
    except ValueError:
        raise ValueError(f"unknown currency in market {market!r}") from None


class Fill(Message, frozen=True):
    """An execution on a venue account: ``quantity`` of the base bought or sold at ``price``.

    A buy adds ``quantity`` base and costs ``quantity * price`` quote; a sell the reverse.
    ``fee`` is charged in ``fee_currency`` (the quote currency when None).
    ``trade_id`` is the venue's id for this execution (a fill reported twice has the same id).
    """

    actor_only: ClassVar[bool] = True

    exchange: Exchange
    account: Account
    market: str
    side: Side
    quantity: float
    price: float
    trade_id: str
    order_id: str
    fee: float = 0.0
    fee_currency: Currency | None = None
    timestamp: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        split_market(self.market)
        if self.quantity <= 0 or self.price <= 0:
            raise ValueError(f"a fill needs a positive quantity and price, got {self.quantity} @ {self.price}")

    @property
    def base(self) -> Currency:
        return split_market(self.market)[0]

    @property
    def quote(self) -> Currency:
        return split_market(self.market)[1]


class OrderType(enum.StrEnum):
    LIMIT = "limit"  # rests until the price reaches ``price``
    MARKET = "market"  # fills at once at the touch, with slippage


class OrderStatus(enum.StrEnum):
    OPEN = "open"  # accepted and not finished: may be partially filled (``filled`` > 0)
    FILLED = "filled"  # the whole quantity was filled
    CANCELED = "canceled"  # stopped before it was filled; ``filled`` says how much was
    REJECTED = "rejected"  # refused; nothing was filled. ``reason`` says why


class Order(Message, frozen=True):
    """An order as the venue knows it now: ``filled`` of ``quantity`` at ``average_price``.

    ``price`` is the limit price (None for a market order); ``fee`` is in the quote currency.
    ``client_order_id`` is the caller's id: a venue never places two orders with the same one.
    """

    order_id: str
    exchange: Exchange
    account: Account
    market: str
    side: Side
    order_type: OrderType
    quantity: float
    status: OrderStatus
    price: float | None = None
    filled: float = 0.0
    average_price: float | None = None
    fee: float = 0.0
    client_order_id: str | None = None
    reason: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def remaining(self) -> float:
        return max(0.0, round(self.quantity - self.filled, 8))


class Ticker(Message, frozen=True):
    """The best bid and ask of a market, and the last traded price, at ``timestamp``."""

    market: str
    bid: float
    ask: float
    last: float
    timestamp: float
