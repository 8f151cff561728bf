"""A fake Lighter REST API (apidocs.lighter.xyz): ``/api/v1/sendTx`` taking the signed create and
cancel transactions lighter-sdk's signer makes, ``nextNonce``, accounts, order books, orders and
trades. Answers carry every field of the SDK's generated models (Lighter's OpenAPI schema)."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable
from typing import Any

import pydantic

from tests.fakes.book import FakeBook, FakeOrder, FakeTrade, Market, Refused
from tests.fakes.http import FakeHttpExchange, Request

TX_CREATE_ORDER = 14
TX_CANCEL_ORDER = 15
_ENUM = re.compile(r"must be one of enum values \((.+?)\)")


def shape(model: type[pydantic.BaseModel], **values: Any) -> dict[str, Any]:
    """A JSON object ``model`` accepts: ``values`` plus a plain default for every other required
    field (nested models filled the same way; enum fields take their first allowed value)."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key in values or not info.is_required():
            continue
        data[key] = _default(info.annotation)
    data.update(values)
    for _ in range(len(data) + 1):
        try:
            model.model_validate(data)
            return data
        except pydantic.ValidationError as error:
            fixed = False
            for problem in error.errors():
                found = _ENUM.search(str(problem.get("msg", "")))
                if found and len(problem["loc"]) == 1:
                    data[str(problem["loc"][0])] = eval(f"[{found.group(1)}]")[0]  # the SDK's own enum literals
                    fixed = True
            if not fixed:
                raise
    return data


def _default(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _default(typing.get_args(annotation)[0])
    if origin in (list, typing.List):  # noqa: UP006
        return []
    if origin in (dict, typing.Dict):  # noqa: UP006
        return {}
    if origin is typing.Union:
        return _default(next(a for a in typing.get_args(annotation) if a is not type(None)))
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return shape(annotation)
    return {int: 0, str: "0", bool: False, float: 0.0}.get(annotation)


def _s(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"


class FakeLighter(FakeHttpExchange):
    """Lighter with order books ``markets`` (market index -> `Market`, quoted in USDC) and
    accounts added with `add_account` (account index, its API key index). Positions are kept
    like spot balances of the base asset; collateral is the USDC balance."""

    def __init__(self, now: Callable[[], float], markets: dict[int, Market] | None = None) -> None:
        super().__init__()
        markets = markets or {
            1: Market(
                "BTC",
                "USDC",
                bid=59990.0,
                ask=60010.0,
                fee_rate=0.0,
                lot_decimals=5,
                price_decimals=1,
                min_amount=0.0001,
            )
        }
        self.market_ids = {str(i): m for i, m in markets.items()}
        self.book = FakeBook(now, dict(self.market_ids))
        self.api_keys: dict[int, int] = {}  # account index -> API key index
        self.nonces: dict[tuple[int, int], int] = {}
        self.client_orders: dict[tuple[int, int], str] = {}  # (account, client order index) -> order id

    def add_account(self, account_index: int, api_key_index: int, balances: dict[str, float] | None = None) -> None:
        self.api_keys[account_index] = api_key_index
        self.book.add_key(str(account_index), balances)

    def rate_limit_answer(self) -> tuple[int, Any]:
        return 429, {"code": 23000, "message": "Too Many Requests!"}

    def handle(self, request: Request) -> tuple[int, Any]:
        route = request.path.removeprefix("/api/v1/")
        try:
            handler = getattr(self, f"api_{route}")
        except AttributeError:
            return 404, {"code": 404, "message": f"no route {request.path}"}
        try:
            return 200, handler(request)
        except Refused as refusal:
            return 400, {"code": 21000, "message": f"{refusal.code}: {refusal}"}

    def _account(self, request: Request, value: str | int | None) -> int:
        """The account a request is for; an authenticated read must carry that account's token."""
        index = int(value or -1)
        if index not in self.api_keys:
            raise Refused("unknown_key", f"account {index} not found")
        token = request.headers.get("authorization")
        if token is not None and token.split(":")[1:3] != [str(index), str(self.api_keys[index])]:
            raise Refused("unknown_key", "invalid auth token")
        return index

    # --- public -----------------------------------------------------------------------------------

    def api_nextNonce(self, request: Request) -> dict[str, Any]:
        key = (int(request.query["account_index"]), int(request.query["api_key_index"]))
        return {"code": 200, "nonce": self.nonces.get(key, 0)}

    def api_orderBookDetails(self, request: Request) -> dict[str, Any]:
        from lighter.models.perps_order_book_detail import PerpsOrderBookDetail

        details = [
            shape(
                PerpsOrderBookDetail,
                symbol=m.base,
                market_id=int(i),
                market_type="perp",
                status="active",
                taker_fee="0.0000",
                maker_fee="0.0000",
                min_base_amount=_s(m.min_amount),
                min_quote_amount="10",
                size_decimals=m.lot_decimals,
                price_decimals=m.price_decimals,
                supported_size_decimals=m.lot_decimals,
                supported_price_decimals=m.price_decimals,
                last_trade_price=(m.bid + m.ask) / 2,
            )
            for i, m in self.market_ids.items()
            if request.query.get("market_id") in (None, i)
        ]
        return {"code": 200, "order_book_details": details, "spot_order_book_details": []}

    def api_orderBookOrders(self, request: Request) -> dict[str, Any]:
        m = self.market_ids[request.query["market_id"]]

        def level(price: float) -> dict[str, Any]:
            return {
                "order_index": 0,
                "order_id": "0",
                "owner_account_index": 0,
                "initial_base_amount": "1",
                "remaining_base_amount": "1",
                "price": _s(price),
                "order_expiry": 0,
                "transaction_time": 0,
            }

        return {"code": 200, "total_asks": 1, "asks": [level(m.ask)], "total_bids": 1, "bids": [level(m.bid)]}

    def api_account(self, request: Request) -> dict[str, Any]:
        from lighter.models.account_position import AccountPosition
        from lighter.models.detailed_account import DetailedAccount

        index = self._account(request, request.query.get("value"))
        wallet = self.book.wallet(str(index))
        positions = [
            shape(
                AccountPosition,
                market_id=int(i),
                symbol=m.base,
                sign=1 if wallet.get(m.base, 0) >= 0 else -1,
                position=_s(abs(wallet.get(m.base, 0.0))),
                avg_entry_price="0",
            )
            for i, m in self.market_ids.items()
        ]
        collateral = _s(wallet.get("USDC", 0.0))
        account = shape(
            DetailedAccount,
            code=0,
            account_index=index,
            index=index,
            l1_address="0x0",
            collateral=collateral,
            available_balance=_s(self.book.free(str(index), "USDC")),
            positions=positions,
        )
        return {"code": 200, "total": 1, "accounts": [account], "next_cursor": ""}

    # --- transactions ------------------------------------------------------------------------------

    def api_sendTx(self, request: Request) -> dict[str, Any]:
        tx_type, info = int(request.form["tx_type"]), json.loads(request.form["tx_info"])
        account, api_key = int(info["AccountIndex"]), int(info["ApiKeyIndex"])
        if self.api_keys.get(account) != api_key:
            raise Refused("unknown_key", "invalid api key index")
        if not info.get("Sig"):
            raise Refused("invalid", "missing signature")
        self.nonces[(account, api_key)] = int(info["Nonce"]) + 1
        if tx_type == TX_CREATE_ORDER:
            self._create(account, info)
        elif tx_type == TX_CANCEL_ORDER:
            self.book.cancel(str(account), self._order_id(account, int(info["Index"])))
        else:
            raise Refused("invalid", f"tx type {tx_type} not supported by the fake")
        return {
            "code": 200,
            "message": '{"ratelimit": "didn\'t use volume quota"}',
            "tx_hash": f"{account:04x}{info['Nonce']:08x}",
            "predicted_execution_time_ms": 1,
        }

    def _create(self, account: int, info: dict[str, Any]) -> None:
        market_id = str(info["MarketIndex"])
        m = self.market_ids[market_id]
        amount = int(info["BaseAmount"]) / 10**m.lot_decimals
        price = int(info["Price"]) / 10**m.price_decimals
        side = "sell" if info["IsAsk"] else "buy"
        key = (account, int(info["ClientOrderIndex"]))
        if key in self.client_orders:
            raise Refused("invalid", "duplicate client order index")
        market = int(info["Type"]) == 1
        if market and ((side == "buy" and price < m.ask) or (side == "sell" and price > m.bid)):
            raise Refused("invalid", "too much slippage")
        order = self.book.place(
            str(account),
            market_id,
            side,
            "market" if market else "limit",
            amount,
            None if market else price,
            str(key[1]),
        )
        self.client_orders[key] = order.id

    def _order_id(self, account: int, order_index: int) -> str:
        return f"O{order_index:06d}"

    # --- authenticated reads ------------------------------------------------------------------------

    def _order(self, o: FakeOrder) -> dict[str, Any]:
        from lighter.models.order import Order

        m = self.market_ids[o.symbol]
        index = int(o.id[1:])
        status = {"open": "open", "closed": "filled", "canceled": "canceled"}[o.status]
        return shape(
            Order,
            order_index=index,
            client_order_index=int(o.client_id or 0),
            order_id=str(index),
            client_order_id=o.client_id or "0",
            market_index=int(o.symbol),
            owner_account_index=int(o.key),
            initial_base_amount=_s(o.amount),
            price=_s(o.price or (o.cost / o.filled if o.filled else 0)),
            remaining_base_amount=_s(o.amount - o.filled),
            is_ask=o.side == "sell",
            filled_base_amount=_s(o.filled),
            filled_quote_amount=_s(o.cost),
            side="ask" if o.side == "sell" else "bid",
            type=o.type,
            time_in_force="immediate-or-cancel" if o.type == "market" else "good-till-time",
            status=status,
            trigger_status="na",
            timestamp=int(o.opened),
            created_at=int(o.opened * 1000),
            updated_at=int((o.closed or o.opened) * 1000),
            market_symbol=m.base,
            market_kind="perps",
        )

    def _orders(self, request: Request, active: bool) -> dict[str, Any]:
        account = self._account(request, request.query.get("account_index"))
        market = request.query.get("market_id")
        orders = [
            self._order(o)
            for o in self.book.orders.values()
            if o.key == str(account) and (o.status == "open") == active and market in (None, o.symbol)
        ]
        return {"code": 200, "orders": orders, "next_cursor": ""}

    def api_accountActiveOrders(self, request: Request) -> dict[str, Any]:
        return self._orders(request, True)

    def api_accountInactiveOrders(self, request: Request) -> dict[str, Any]:
        return self._orders(request, False)

    def _trade(self, t: FakeTrade) -> dict[str, Any]:
        from lighter.models.trade import Trade

        m = self.market_ids[t.symbol]
        order = int(t.order_id[1:])
        mine, other = int(t.key), 0
        ask, bid = (mine, other) if t.side == "sell" else (other, mine)
        return shape(
            Trade,
            trade_id=int(t.id[1:]),
            trade_id_str=t.id[1:],
            tx_hash=t.id,
            type="trade",
            market_id=int(t.symbol),
            size=_s(t.amount),
            price=_s(t.price),
            usd_amount=_s(t.amount * t.price),
            ask_id=order if t.side == "sell" else 0,
            bid_id=order if t.side == "buy" else 0,
            ask_account_id=ask,
            bid_account_id=bid,
            is_maker_ask=t.side != "sell",
            timestamp=int(t.time * 1000),
            market_symbol=m.base,
            market_kind="perps",
        )

    def api_trades(self, request: Request) -> dict[str, Any]:
        account = self._account(request, request.query.get("account_index"))
        market = request.query.get("market_id")
        trades = [self._trade(t) for t in self.book.trades if t.key == str(account) and market in (None, t.symbol)]
        return {"code": 200, "next_cursor": "", "trades": trades}
