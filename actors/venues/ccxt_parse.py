"""ccxt's unified structures (orders, trades, withdrawals) as the desk's messages, and the desk's
order ids for them (``account|SYMBOL|exchange id``: a cancel or a fetch knows its key and market)."""

from __future__ import annotations

from typing import Any

from actors.venues.base import VenueRejected
from actors.venues.sent import SentTransfer
from messages.common import Currency, Exchange, currency_code
from messages.trading import Fill, Order, OrderStatus, OrderType, Side
from messages.venue import TransferResult, TransferStatus

__all__ = [
    "desk_currency",
    "desk_order_id",
    "fill_of",
    "order_of",
    "split_order_id",
    "transfer_result",
    "transfer_status",
]

_ORDER_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}
_TRANSFER_STATUS = {
    "pending": TransferStatus.PENDING,
    "ok": TransferStatus.OK,
    "failed": TransferStatus.FAILED,
    "canceled": TransferStatus.CANCELED,
}


def desk_currency(code: str | None) -> Currency | None:
    """ccxt's currency code (``"BTC"``) as the desk's currency, None if the desk does not know it."""
    try:
        return currency_code(code.lower()) if code else None
    except ValueError:
        return None


def desk_order_id(account: str, symbol: str, exchange_id: str) -> str:
    return f"{account}|{symbol}|{exchange_id}"


def split_order_id(desk_order_id: str) -> tuple[str, str, str]:
    """(account, symbol, exchange id) of a desk order id; `VenueRejected` if it is not one."""
    account, _, rest = desk_order_id.partition("|")
    symbol, _, exchange_id = rest.rpartition("|")
    if not (account and symbol and exchange_id):
        raise VenueRejected(f"unknown order {desk_order_id}")
    return account, symbol, exchange_id


def order_of(exchange: Exchange, account: str, raw: dict[str, Any], market: str | None = None) -> Order:
    """ccxt's order structure as an `Order` (a ``closed`` order short of its amount was canceled)."""
    symbol = str(raw.get("symbol") or (market or "").upper())
    quantity = float(raw.get("amount") or 0.0)
    filled = float(raw.get("filled") or 0.0)
    status = _ORDER_STATUS.get(str(raw.get("status")), OrderStatus.OPEN)
    if status is OrderStatus.FILLED and filled + 1e-12 < quantity:
        status = OrderStatus.CANCELED
    fee = (raw.get("fee") or {}).get("cost") or 0.0
    stamp = (raw.get("timestamp") or 0) / 1000
    return Order(
        order_id=desk_order_id(account, symbol, str(raw["id"])),
        exchange=exchange,
        account=account,
        market=(market or symbol).lower(),
        side=Side(raw.get("side") or "buy"),
        order_type=OrderType(str(raw["type"]) if raw.get("type") in ("limit", "market") else "limit"),
        quantity=quantity,
        status=status,
        price=float(raw["price"]) if raw.get("type") == "limit" and raw.get("price") else None,
        filled=filled,
        average_price=float(raw["average"]) if raw.get("average") else None,
        fee=float(fee),
        client_order_id=raw.get("clientOrderId") or None,
        created_at=stamp,
        updated_at=(raw.get("lastUpdateTimestamp") or raw.get("timestamp") or 0) / 1000,
    )


def fill_of(exchange: Exchange, account: str, raw: dict[str, Any]) -> Fill:
    """ccxt's trade structure (from REST or a websocket) as a `Fill`."""
    fee = raw.get("fee") or {}
    symbol = str(raw["symbol"])
    return Fill(
        exchange=exchange,
        account=account,
        market=symbol.lower(),
        side=Side(raw["side"]),
        quantity=float(raw["amount"]),
        price=float(raw["price"]),
        trade_id=str(raw["id"]),
        order_id=desk_order_id(account, symbol, str(raw.get("order"))),
        fee=float(fee.get("cost") or 0.0),
        fee_currency=desk_currency(fee.get("currency")),
        timestamp=(raw.get("timestamp") or 0) / 1000,
    )


def transfer_status(raw_status: object) -> TransferStatus:
    """ccxt's transaction status as the desk's (unknown words read as still pending)."""
    return _TRANSFER_STATUS.get(str(raw_status), TransferStatus.PENDING)


def transfer_result(
    sent: SentTransfer, status: TransferStatus | None = None, completed_at: float | None = None
) -> TransferResult:
    """The `TransferResult` of a sent record (``failed`` records fail; others are pending unless told)."""
    if status is None:
        status = TransferStatus.FAILED if sent.state == "failed" else TransferStatus.PENDING
    if completed_at is None and status is TransferStatus.OK:
        completed_at = sent.sent_at
    return TransferResult(
        client_id=sent.client_id,
        status=status,
        from_exchange=sent.from_exchange,
        from_account=sent.from_account,
        to_exchange=sent.to_exchange,
        to_account=sent.to_account,
        currency=sent.currency,
        amount=sent.amount,
        fee=sent.fee,
        reason=sent.reason,
        created_at=sent.sent_at,
        completed_at=completed_at,
    )
