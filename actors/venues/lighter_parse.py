"""Lighter's JSON as the desk's messages: one of its trades as a `Fill`, one of its orders as an
`Order`. REST (the SDK's models, as ``to_dict()``) and the websocket send the same objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from messages.common import Exchange
from messages.trading import Fill, Order, OrderStatus, OrderType, Side, split_market

__all__ = ["fill_of", "order_of"]

_STATUS = {
    "open": OrderStatus.OPEN,
    "in-progress": OrderStatus.OPEN,
    "pending": OrderStatus.OPEN,
    "filled": OrderStatus.FILLED,
}  # every other status (canceled, canceled-post-only, canceled-expired, ...) ended the order


def fill_of(exchange: Exchange, account: str, account_index: int, market: str, raw: Mapping[str, Any]) -> Fill:
    """Trade ``raw`` on ``market`` as the fill of the desk ``account`` (Lighter ``account_index``):
    the buyer's side if the account bid, else the seller's; order ids as the adapter makes them."""
    buyer = raw["bid_account_id"] == account_index
    return Fill(
        exchange=exchange,
        account=account,
        market=market,
        side=Side.BUY if buyer else Side.SELL,
        quantity=float(raw["size"]),
        price=float(raw["price"]),
        trade_id=str(raw["trade_id"]),
        order_id=f"{account}|{raw['market_id']}|{raw['bid_id'] if buyer else raw['ask_id']}",
        fee_currency=split_market(market)[1],
        timestamp=raw["timestamp"] / 1000,
    )


def order_of(
    exchange: Exchange, account: str, market: str, raw: Mapping[str, Any], client_order_id: str | None = None
) -> Order:
    """Order ``raw`` on ``market`` of the desk ``account``, with id ``account|market index|order index``."""
    filled = float(raw["filled_base_amount"])
    quote = float(raw["filled_quote_amount"])
    return Order(
        order_id=f"{account}|{raw['market_index']}|{raw['order_index']}",
        exchange=exchange,
        account=account,
        market=market,
        side=Side.SELL if raw["is_ask"] else Side.BUY,
        order_type=OrderType.MARKET if raw["type"] == "market" else OrderType.LIMIT,
        quantity=float(raw["initial_base_amount"]),
        status=_STATUS.get(raw["status"], OrderStatus.CANCELED),
        price=float(raw["price"]) if raw["type"] == "limit" else None,
        filled=filled,
        average_price=quote / filled if filled else None,
        client_order_id=client_order_id,
        created_at=raw["created_at"] / 1000,
        updated_at=raw["updated_at"] / 1000,
    )
