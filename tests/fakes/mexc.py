"""A fake MEXC spot v3 REST API (mexcdevelop.github.io/apidocs/spot_v3_en): signed query strings
(HMAC-SHA256 ``signature``, ``X-MEXC-APIKEY`` header), ``{"code": ..., "msg": ...}`` errors, transfers
between a key's spot and futures wallets (the futures balances on the contract API) and the universal
transfer between a master account and its sub-accounts, each with its history.

(About 470 lines, over the usual 400: every MEXC endpoint the adapter calls, in MEXC's own shapes.)"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from tests.fakes.book import FakeBook, FakeOrder, FakeTrade, FakeWithdrawal, Market, Refused
from tests.fakes.http import FakeHttpExchange, Request

_ERRORS = {
    "insufficient_funds": (30004, "Insufficient position"),
    "unknown_order": (-2013, "Order does not exist."),
    "invalid": (30002, "invalid order"),
    "unknown_key": (10072, "Api key info invalid"),
    "permission_denied": (700007, "No permission to access the endpoint"),
}
_STATUS = {"open": "NEW", "closed": "FILLED", "canceled": "CANCELED"}


def _s(value: float) -> str:
    return f"{value:.10f}".rstrip("0").rstrip(".") or "0"


class FakeMexc(FakeHttpExchange):
    """MEXC spot with ``markets`` (symbol id -> `Market`, assets by their codes) and API keys added
    with `add_key` (requests are checked against the HMAC signature, as MEXC does)."""

    def __init__(self, now: Callable[[], float], markets: dict[str, Market] | None = None) -> None:
        super().__init__()
        self.book = FakeBook(
            now,
            markets
            or {
                "BTCUSD": Market(
                    "BTC", "USD", bid=59990.0, ask=60010.0, price_decimals=2, lot_decimals=6, min_amount=0.0001
                )
            },
        )
        self.secrets: dict[str, str] = {}
        self.sub_accounts: dict[str, str] = {}  # sub-account name -> API key
        self.master: str | None = None  # the master account's API key: the only one a universal transfer takes
        self.universal_transfers: list[tuple[str, str, dict[str, Any]]] = []  # (from key, to key, record)
        self.wallet_transfers: list[tuple[str, dict[str, Any]]] = []  # (API key, record) between its wallets

    def add_key(self, api_key: str, balances: dict[str, float] | None = None) -> str:
        secret = hashlib.sha256(api_key.encode()).hexdigest()
        self.secrets[api_key] = secret
        self.book.add_key(api_key, balances)
        return secret

    def rate_limit_answer(self) -> tuple[int, Any]:
        return 429, {"code": 429, "msg": "Too Many Requests"}

    def handle(self, request: Request) -> tuple[int, Any]:
        route = f"{request.method} {request.path}"
        handler = _ROUTES.get(route)
        if handler is None:
            return 404, {"code": 404, "msg": f"no route {route}"}
        try:
            if handler.__name__.startswith("private_"):
                key = self._authenticate(request)
                return 200, handler(self, key, request.query)
            if handler.__name__.startswith("contract_"):
                return 200, handler(self, self._authenticate_contract(request), request.query)
            return 200, handler(self, request.query)
        except Refused as refusal:
            code, msg = _ERRORS.get(refusal.code, (700001, str(refusal)))
            return 400, {"code": code, "msg": msg}

    def _authenticate(self, request: Request) -> str:
        key = request.headers.get("X-MEXC-APIKEY", "")
        secret = self.secrets.get(key)
        if secret is None:
            raise Refused("unknown_key")
        signed, _, signature = request.raw_query.rpartition("&signature=")
        expected = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        if signature != expected:
            raise Refused("unknown_key")
        return key

    def _authenticate_contract(self, request: Request) -> str:
        """The futures (contract) API's signature: HMAC of API key + ``Request-Time`` + the query."""
        key = request.headers.get("ApiKey", "")
        secret = self.secrets.get(key)
        signed = key + request.headers.get("Request-Time", "") + request.raw_query
        if (
            secret is None
            or request.headers.get("Signature")
            != hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        ):
            raise Refused("unknown_key")
        return key

    # --- public -------------------------------------------------------------------------------------

    def public_exchange_info(self, query: dict[str, str]) -> dict[str, Any]:
        symbols = [
            {
                "symbol": sid,
                "status": "1",
                "baseAsset": m.base,
                "baseAssetPrecision": str(m.lot_decimals),
                "quoteAsset": m.quote,
                "quoteAssetPrecision": str(m.price_decimals),
                "orderTypes": ["LIMIT", "MARKET"],
                "baseCommissionPrecision": "2",
                "quoteCommissionPrecision": "4",
                "quoteOrderQtyMarketAllowed": True,
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "permissions": ["SPOT"],
                "filters": [],
                "baseSizePrecision": _s(m.min_amount),
                "maxQuoteAmount": "5000000",
                "makerCommission": _s(m.fee_rate),
                "takerCommission": _s(m.fee_rate),
                "quoteAmountPrecision": "1",
            }
            for sid, m in self.book.markets.items()
        ]
        return {
            "timezone": "CST",
            "serverTime": int(self.book.now() * 1000),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def public_contract_detail(self, query: dict[str, str]) -> dict[str, Any]:
        return {"success": True, "code": 0, "data": []}

    def public_ticker(self, query: dict[str, str]) -> dict[str, Any]:
        m = self.book.markets.get(query.get("symbol", ""))
        if m is None:
            raise Refused("invalid")
        mid = _s((m.bid + m.ask) / 2)
        return {
            "symbol": query["symbol"],
            "priceChange": "0",
            "priceChangePercent": "0",
            "prevClosePrice": mid,
            "lastPrice": mid,
            "bidPrice": _s(m.bid),
            "bidQty": "1",
            "askPrice": _s(m.ask),
            "askQty": "1",
            "openPrice": mid,
            "highPrice": _s(m.ask),
            "lowPrice": _s(m.bid),
            "volume": "10",
            "quoteVolume": "600000",
            "openTime": int(self.book.now() * 1000) - 86_400_000,
            "closeTime": int(self.book.now() * 1000),
        }

    # --- private ---------------------------------------------------------------------------------------

    def private_currencies(self, key: str, query: dict[str, str]) -> list[dict[str, Any]]:
        assets = sorted({a for m in self.book.markets.values() for a in (m.base, m.quote)} | {"USDT", "USDC"})
        return [
            {
                "coin": a,
                "name": a,
                "networkList": [
                    {
                        "coin": a,
                        "depositEnable": True,
                        "withdrawEnable": True,
                        "name": a,
                        "network": "TRC20",
                        "netWork": "TRX",
                        "withdrawFee": _s(self.book.withdraw_fees.get(a, 0.0)),
                        "withdrawMin": "10",
                        "withdrawMax": "1000000",
                        "withdrawIntegerMultiple": None,
                        "sameAddress": False,
                        "contract": "",
                        "withdrawTips": None,
                        "depositTips": None,
                    }
                ],
            }
            for a in assets
        ]

    def private_account(self, key: str, query: dict[str, str]) -> dict[str, Any]:
        balances = [
            {"asset": a, "free": _s(v - self.book.held(key, a)), "locked": _s(self.book.held(key, a))}
            for a, v in self.book.wallet(key).items()
        ]
        return {
            "makerCommission": None,
            "takerCommission": None,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "updateTime": None,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
        }

    def _order(self, o: FakeOrder) -> dict[str, Any]:
        return {
            "symbol": o.symbol,
            "orderId": o.id,
            "orderListId": -1,
            "clientOrderId": o.client_id,
            "price": _s(o.price or 0),
            "origQty": _s(o.amount),
            "executedQty": _s(o.filled),
            "cummulativeQuoteQty": _s(o.cost),
            "status": _STATUS[o.status],
            "timeInForce": None,
            "type": o.type.upper(),
            "side": o.side.upper(),
            "stopPrice": None,
            "icebergQty": None,
            "time": int(o.opened * 1000),
            "updateTime": int((o.closed or o.opened) * 1000),
            "isWorking": True,
            "origQuoteOrderQty": "0",
        }

    def private_new_order(self, key: str, query: dict[str, str]) -> dict[str, Any]:
        price = float(query["price"]) if "price" in query else None
        order = self.book.place(
            key,
            query["symbol"],
            query["side"].lower(),
            query["type"].lower(),
            float(query["quantity"]),
            price,
            query.get("newClientOrderId"),
        )
        return {
            "symbol": order.symbol,
            "orderId": order.id,
            "orderListId": -1,
            "price": _s(order.price or 0),
            "origQty": _s(order.amount),
            "type": order.type.upper(),
            "side": order.side.upper(),
            "transactTime": int(order.opened * 1000),
        }

    def private_get_order(self, key: str, query: dict[str, str]) -> dict[str, Any]:
        if "origClientOrderId" in query:
            for o in self.book.orders.values():
                if o.key == key and o.client_id == query["origClientOrderId"]:
                    return self._order(o)
            raise Refused("unknown_order")
        return self._order(self.book.order(key, query.get("orderId", "")))

    def private_cancel_order(self, key: str, query: dict[str, str]) -> dict[str, Any]:
        return self._order(self.book.cancel(key, query.get("orderId", "")))

    def private_open_orders(self, key: str, query: dict[str, str]) -> list[dict[str, Any]]:
        return [
            self._order(o)
            for o in self.book.orders.values()
            if o.key == key and o.status == "open" and o.symbol == query.get("symbol")
        ]

    def private_all_orders(self, key: str, query: dict[str, str]) -> list[dict[str, Any]]:
        return [self._order(o) for o in self.book.orders.values() if o.key == key and o.symbol == query.get("symbol")]

    def _trade(self, t: FakeTrade) -> dict[str, Any]:
        m = self.book.markets[t.symbol]
        return {
            "symbol": t.symbol,
            "id": t.id,
            "orderId": t.order_id,
            "orderListId": -1,
            "price": _s(t.price),
            "qty": _s(t.amount),
            "quoteQty": _s(t.amount * t.price),
            "commission": _s(t.fee),
            "commissionAsset": m.quote,
            "time": int(t.time * 1000),
            "isBuyer": t.side == "buy",
            "isMaker": False,
            "isBestMatch": True,
            "isSelfTrade": False,
            "clientOrderId": None,
        }

    def private_my_trades(self, key: str, query: dict[str, str]) -> list[dict[str, Any]]:
        start = int(query.get("startTime", 0)) / 1000
        return [
            self._trade(t)
            for t in self.book.trades
            if t.key == key and t.symbol == query.get("symbol") and t.time >= start
        ]

    def private_withdraw(self, key: str, query: dict[str, str]) -> dict[str, Any]:
        entry = self.book.withdraw(key, query["coin"], float(query["amount"]), query["address"])
        return {"id": entry.id}

    def _side(self, name: str | None) -> str:
        """The API key of a universal transfer's side: a sub-account by name, the master when unnamed."""
        key = self.master if name is None else self.sub_accounts.get(name)
        if key is None:
            raise Refused("invalid", f"unknown account {name}")
        return key

    def private_universal_transfer(self, key: str, query: dict[str, str]) -> list[dict[str, Any]]:
        """Between the master and its sub-accounts (spot wallets); only the master's key may ask."""
        if key != self.master:
            raise Refused("permission_denied")
        source, destination = self._side(query.get("fromAccount")), self._side(query.get("toAccount"))
        if source == destination or (query.get("fromAccountType"), query.get("toAccountType")) != ("SPOT", "SPOT"):
            raise Refused("invalid")
        transfer_id = self.book.transfer(source, destination, query["asset"], float(query["amount"]))
        record = {
            "tranId": transfer_id,
            "fromAccount": query.get("fromAccount", "master"),
            "toAccount": query.get("toAccount", "master"),
            "clientTranId": None,
            "asset": query["asset"],
            "amount": query["amount"],
            "fromAccountType": "SPOT",
            "toAccountType": "SPOT",
            "fromSymbol": None,
            "toSymbol": None,
            "status": "SUCCESS",
            "timestamp": int(self.book.now() * 1000),
        }
        self.universal_transfers.append((source, destination, record))
        return [{"tranId": transfer_id}]

    def private_universal_transfer_history(self, key: str, query: dict[str, str]) -> list[dict[str, Any]]:
        if key != self.master:
            raise Refused("permission_denied")
        source, destination = self._side(query.get("fromAccount")), self._side(query.get("toAccount"))
        start = int(query.get("startTime", 0))
        return [
            record
            for from_key, to_key, record in self.universal_transfers
            if (from_key, to_key) == (source, destination) and record["timestamp"] >= start
        ]

    def _wallet_key(self, key: str, kind: str | None) -> str:
        """The book key of one of ``key``'s wallets: ``SPOT`` is the key's own, ``FUTURES`` beside it."""
        if kind == "SPOT":
            return key
        if kind == "FUTURES":
            self.book.add_key(f"{key}:FUTURES")
            return f"{key}:FUTURES"
        raise Refused("invalid", f"unknown account type {kind}")

    def private_wallet_transfer(self, key: str, query: dict[str, str]) -> dict[str, Any]:
        """Between the spot and futures wallets of one key (``POST /api/v3/capital/transfer``)."""
        kinds = (query.get("fromAccountType"), query.get("toAccountType"))
        source, destination = self._wallet_key(key, kinds[0]), self._wallet_key(key, kinds[1])
        if source == destination:
            raise Refused("invalid")
        transfer_id = self.book.transfer(source, destination, query["asset"], float(query["amount"]))
        record = {
            "tranId": transfer_id,
            "clientTranId": None,
            "asset": query["asset"],
            "amount": query["amount"],
            "fromAccountType": kinds[0],
            "toAccountType": kinds[1],
            "symbol": None,
            "status": "SUCCESS",
            "timestamp": int(self.book.now() * 1000),
        }
        self.wallet_transfers.append((key, record))
        return {"tranId": transfer_id}

    def private_wallet_transfer_history(self, key: str, query: dict[str, str]) -> dict[str, Any]:
        kinds = (query.get("fromAccountType"), query.get("toAccountType"))
        rows = [
            r
            for owner, r in self.wallet_transfers
            if owner == key
            and (r["fromAccountType"], r["toAccountType"]) == kinds
            and r["timestamp"] >= int(query.get("startTime", 0))
        ]
        return {"rows": rows, "total": len(rows)}

    def contract_assets(self, key: str, query: dict[str, str]) -> dict[str, Any]:
        """The futures wallet's balances (``GET /api/v1/private/account/assets``)."""
        wallet = self.book.balances.get(f"{key}:FUTURES", {})
        data = [
            {
                "currency": asset,
                "positionMargin": 0,
                "availableBalance": amount,
                "cashBalance": amount,
                "frozenBalance": 0,
                "equity": amount,
                "unrealized": 0,
                "bonus": 0,
            }
            for asset, amount in wallet.items()
        ]
        return {"success": True, "code": 0, "data": data}

    def _withdrawal(self, w: FakeWithdrawal) -> dict[str, Any]:
        return {
            "id": w.id,
            "txId": None,
            "coin": w.asset,
            "network": "TRX",
            "address": w.address,
            "amount": _s(w.amount + w.fee),
            "transferType": 0,
            "status": {"pending": 4, "ok": 7, "failed": 8}[w.status],
            "transactionFee": _s(w.fee),
            "confirmNo": None,
            "applyTime": int(w.time * 1000),
            "remark": "",
            "memo": None,
        }

    def private_withdraw_history(self, key: str, query: dict[str, str]) -> list[dict[str, Any]]:
        return [
            self._withdrawal(w) for w in self.book.withdrawals if w.key == key and query.get("coin") in (None, w.asset)
        ]

    def private_deposit_history(self, key: str, query: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "amount": _s(amount),
                "coin": asset,
                "network": "TRX",
                "status": 5,
                "address": "deposit-address",
                "txId": f"0x{ref}",
                "insertTime": int(at * 1000),
                "unlockConfirm": "1",
                "confirmTimes": "1",
                "memo": None,
            }
            for ref, asset, amount, at in self.book.deposits[key]
        ]


_ROUTES: dict[str, Callable[..., Any]] = {
    "GET /api/v3/exchangeInfo": FakeMexc.public_exchange_info,
    "GET /api/v1/contract/detail": FakeMexc.public_contract_detail,
    "GET /api/v3/ticker/24hr": FakeMexc.public_ticker,
    "GET /api/v3/capital/config/getall": FakeMexc.private_currencies,
    "GET /api/v3/account": FakeMexc.private_account,
    "POST /api/v3/order": FakeMexc.private_new_order,
    "GET /api/v3/order": FakeMexc.private_get_order,
    "DELETE /api/v3/order": FakeMexc.private_cancel_order,
    "GET /api/v3/openOrders": FakeMexc.private_open_orders,
    "GET /api/v3/allOrders": FakeMexc.private_all_orders,
    "GET /api/v3/myTrades": FakeMexc.private_my_trades,
    "POST /api/v3/capital/withdraw": FakeMexc.private_withdraw,
    "GET /api/v3/capital/withdraw/history": FakeMexc.private_withdraw_history,
    "GET /api/v3/capital/deposit/hisrec": FakeMexc.private_deposit_history,
    "POST /api/v3/capital/transfer": FakeMexc.private_wallet_transfer,
    "GET /api/v3/capital/transfer": FakeMexc.private_wallet_transfer_history,
    "GET /api/v1/private/account/assets": FakeMexc.contract_assets,
    "POST /api/v3/capital/sub-account/universalTransfer": FakeMexc.private_universal_transfer,
    "GET /api/v3/capital/sub-account/universalTransfer": FakeMexc.private_universal_transfer_history,
}
