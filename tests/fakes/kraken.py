"""A fake Kraken spot REST API (docs.kraken.com/api/docs/rest-api): the `{"error": [], "result": ...}`
envelope, form-encoded private POSTs with API-Key / API-Sign headers, Kraken's asset names (XXBT, ZUSD),
and transfers between a master account and its subaccounts (``AccountTransfer``, seen in ``Ledgers``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from tests.fakes.book import FakeBook, FakeOrder, FakeTrade, FakeWithdrawal, Market, Refused
from tests.fakes.http import FakeHttpExchange, Request

_ERRORS = {
    "insufficient_funds": "EOrder:Insufficient funds",
    "unknown_order": "EOrder:Unknown order",
    "invalid": "EGeneral:Invalid arguments",
    "unknown_key": "EAPI:Invalid key",
    "permission_denied": "EGeneral:Permission denied",
}
_ASSETS = {"XXBT": ("XBT", 10), "ZUSD": ("USD", 4), "USDC": ("USDC", 8), "USDT": ("USDT", 8), "XETH": ("ETH", 10)}


def _s(value: float) -> str:
    return f"{value:.10f}".rstrip("0").rstrip(".") or "0"


class FakeKraken(FakeHttpExchange):
    """Kraken with one market per entry of ``markets`` (pair id -> `Market`, assets as Kraken names)
    and API keys added with `add_key` (the secret is checked against API-Sign, as Kraken does)."""

    def __init__(self, now: Callable[[], float], markets: dict[str, Market] | None = None) -> None:
        super().__init__()
        self.book = FakeBook(now, markets or {"XXBTZUSD": Market("XXBT", "ZUSD", bid=59990.0, ask=60010.0)})
        self.secrets: dict[str, str] = {}
        self.withdraw_keys: dict[str, str] = {}  # whitelisted address name -> address
        self.ws_tokens: dict[str, str] = {}  # websocket token -> API key
        self.iibans: dict[str, str] = {}  # IIBAN -> API key, of the master account and its subaccounts
        self.master: str | None = None  # the master account's API key: the only one AccountTransfer takes
        self.ledger: list[tuple[str, str, dict[str, Any]]] = []  # (API key, ledger id, entry)

    def add_key(self, api_key: str, balances: dict[str, float] | None = None) -> str:
        """Open an account under ``api_key``; returns its (base64) secret."""
        secret = base64.b64encode(hashlib.sha256(api_key.encode()).digest()).decode()
        self.secrets[api_key] = secret
        self.book.add_key(api_key, balances)
        return secret

    def rate_limit_answer(self) -> tuple[int, Any]:
        return 200, {"error": ["EAPI:Rate limit exceeded"]}

    def handle(self, request: Request) -> tuple[int, Any]:
        name = request.path.rsplit("/", 1)[-1]
        try:
            if request.path.startswith("/0/public/"):
                return 200, {"error": [], "result": getattr(self, f"public_{name}")(request.query)}
            key = self._authenticate(request)
            return 200, {"error": [], "result": getattr(self, f"private_{name}")(key, request.form)}
        except Refused as refusal:
            return 200, {"error": [_ERRORS.get(refusal.code, "EGeneral:Invalid arguments")]}
        except AttributeError:
            return 404, {"error": ["EGeneral:Unknown method"]}

    def _authenticate(self, request: Request) -> str:
        key = request.headers.get("API-Key", "")
        secret = self.secrets.get(key)
        if secret is None:
            raise Refused("unknown_key")
        nonce = request.form.get("nonce", "")
        digest = hashlib.sha256((nonce + request.body).encode()).digest()
        expected = base64.b64encode(
            hmac.new(base64.b64decode(secret), request.path.encode() + digest, hashlib.sha512).digest()
        ).decode()
        if request.headers.get("API-Sign") != expected:
            raise Refused("unknown_key")
        return key

    # --- public ------------------------------------------------------------------------------

    def public_Assets(self, query: dict[str, str]) -> dict[str, Any]:
        return {
            asset: {
                "aclass": "currency",
                "altname": alt,
                "decimals": decimals,
                "display_decimals": 5,
                "status": "enabled",
            }
            for asset, (alt, decimals) in _ASSETS.items()
        }

    def public_AssetPairs(self, query: dict[str, str]) -> dict[str, Any]:
        pairs = {}
        for pair, m in self.book.markets.items():
            alt = _ASSETS[m.base][0] + _ASSETS[m.quote][0]
            pairs[pair] = {
                "altname": alt,
                "wsname": f"{_ASSETS[m.base][0]}/{_ASSETS[m.quote][0]}",
                "aclass_base": "currency",
                "base": m.base,
                "aclass_quote": "currency",
                "quote": m.quote,
                "lot": "unit",
                "pair_decimals": m.price_decimals,
                "lot_decimals": m.lot_decimals,
                "lot_multiplier": 1,
                "leverage_buy": [],
                "leverage_sell": [],
                "fees": [[0, m.fee_rate * 100]],
                "fees_maker": [[0, m.fee_rate * 100]],
                "fee_volume_currency": "ZUSD",
                "margin_call": 80,
                "margin_stop": 40,
                "ordermin": _s(m.min_amount),
                "costmin": "0.5",
                "status": "online",
            }
        return pairs

    def public_Ticker(self, query: dict[str, str]) -> dict[str, Any]:
        m = self.book.markets.get(query.get("pair", ""))
        if m is None:
            raise Refused("invalid")
        mid = _s((m.bid + m.ask) / 2)
        return {
            query["pair"]: {
                "a": [_s(m.ask), "1", "1.000"],
                "b": [_s(m.bid), "1", "1.000"],
                "c": [mid, "0.1"],
                "v": ["10", "100"],
                "p": [mid, mid],
                "t": [5, 50],
                "l": [_s(m.bid), _s(m.bid)],
                "h": [_s(m.ask), _s(m.ask)],
                "o": mid,
            }
        }

    def public_Time(self, query: dict[str, str]) -> dict[str, Any]:
        return {"unixtime": int(self.book.now()), "rfc1123": ""}

    # --- private -------------------------------------------------------------------------------

    def private_GetWebSocketsToken(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        token = f"ws-{len(self.ws_tokens) + 1}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
        self.ws_tokens[token] = key
        return {"token": token, "expires": 900}

    def private_BalanceEx(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        return {
            asset: {"balance": _s(amount), "hold_trade": _s(self.book.held(key, asset))}
            for asset, amount in self.book.wallet(key).items()
        }

    def private_AddOrder(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        price = float(form["price"]) if "price" in form else None
        order = self.book.place(
            key, form["pair"], form["type"], form["ordertype"], float(form["volume"]), price, form.get("cl_ord_id")
        )
        return {"descr": {"order": f"{order.side} {form['volume']} {form['pair']} @ {order.type}"}, "txid": [order.id]}

    def _order(self, order: FakeOrder) -> dict[str, Any]:
        m = self.book.markets[order.symbol]
        return {
            "refid": None,
            "userref": None,
            "cl_ord_id": order.client_id,
            "status": order.status,
            "reason": None,
            "opentm": order.opened,
            "closetm": order.closed or 0,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": _ASSETS[m.base][0] + _ASSETS[m.quote][0],
                "type": order.side,
                "ordertype": order.type,
                "price": _s(order.price or 0),
                "price2": "0",
                "leverage": "none",
                "order": f"{order.side} {_s(order.amount)} {_ASSETS[m.base][0]}{_ASSETS[m.quote][0]} @ {order.type}"
                + (f" {_s(order.price)}" if order.price else ""),
                "close": "",
            },
            "vol": _s(order.amount),
            "vol_exec": _s(order.filled),
            "cost": _s(order.cost),
            "fee": _s(order.fee),
            "price": _s(order.cost / order.filled) if order.filled else "0",
            "stopprice": "0",
            "limitprice": "0",
            "misc": "",
            "oflags": "fciq",
            "trades": list(order.trades),
        }

    def private_QueryOrders(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        return {txid: self._order(self.book.order(key, txid)) for txid in form["txid"].split(",")}

    def _orders(self, key: str, form: dict[str, str], open_: bool) -> dict[str, Any]:
        return {
            o.id: self._order(o)
            for o in self.book.orders.values()
            if o.key == key and (o.status == "open") == open_ and form.get("cl_ord_id") in (None, o.client_id)
        }

    def private_OpenOrders(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        return {"open": self._orders(key, form, True)}

    def private_ClosedOrders(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        closed = self._orders(key, form, False)
        return {"closed": closed, "count": len(closed)}

    def private_CancelOrder(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        self.book.cancel(key, form["txid"])
        return {"count": 1}

    def _trade(self, trade: FakeTrade) -> dict[str, Any]:
        m = self.book.markets[trade.symbol]
        return {
            "ordertxid": trade.order_id,
            "postxid": "",
            "pair": trade.symbol,
            "time": trade.time,
            "type": trade.side,
            "ordertype": self.book.orders[trade.order_id].type,
            "price": _s(trade.price),
            "cost": _s(trade.amount * trade.price),
            "fee": _s(trade.fee),
            "vol": _s(trade.amount),
            "margin": "0",
            "misc": "",
            "trade_id": int(trade.id[1:]),
            "maker": False,
            "fee_currency": m.quote,
        }

    def private_TradesHistory(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        start = float(form.get("start", 0))
        trades = {t.id: self._trade(t) for t in self.book.trades if t.key == key and t.time >= start}
        return {"trades": trades, "count": len(trades)}

    def private_Withdraw(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        address = self.withdraw_keys.get(form.get("key", ""))
        if address is None:
            return _raise_unknown_withdraw_key()
        entry = self.book.withdraw(key, form["asset"], float(form["amount"]), address)
        return {"refid": entry.id}

    def private_AccountTransfer(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        """Between the master and its subaccounts, named by IIBAN; only the master's key may ask."""
        if key != self.master:
            raise Refused("permission_denied")
        source, destination = self.iibans.get(form.get("from", "")), self.iibans.get(form.get("to", ""))
        if source is None or destination is None or source == destination:
            raise Refused("invalid")
        amount = float(form["amount"])
        transfer_id = self.book.transfer(source, destination, form["asset"], amount)
        for owner, signed in ((source, -amount), (destination, amount)):
            self.ledger.append(
                (
                    owner,
                    self.book.new_id("L"),
                    {
                        "refid": transfer_id,
                        "time": self.book.now(),
                        "type": "transfer",
                        "subtype": "",
                        "aclass": "currency",
                        "asset": form["asset"],
                        "amount": _s(signed),
                        "fee": "0",
                        "balance": _s(self.book.wallet(owner).get(form["asset"], 0.0)),
                    },
                )
            )
        return {"transfer_id": transfer_id, "status": "complete"}

    def private_Ledgers(self, key: str, form: dict[str, str]) -> dict[str, Any]:
        assets = form["asset"].split(",") if form.get("asset") else None
        start = float(form.get("start", 0))
        entries = {
            lid: entry
            for owner, lid, entry in self.ledger
            if owner == key and (assets is None or entry["asset"] in assets) and entry["time"] >= start
        }
        return {"ledger": entries, "count": len(entries)}

    def _withdrawal(self, w: FakeWithdrawal) -> dict[str, Any]:
        return {
            "method": "Tether USD (TRC20)",
            "aclass": "currency",
            "asset": w.asset,
            "refid": w.id,
            "txid": f"0x{w.id}",
            "info": w.address,
            "amount": _s(w.amount),
            "fee": _s(w.fee),
            "time": int(w.time),
            "status": {"pending": "Pending", "ok": "Success", "failed": "Failure"}[w.status],
            "network": "Tron",
        }

    def private_WithdrawStatus(self, key: str, form: dict[str, str]) -> list[dict[str, Any]]:
        return [
            self._withdrawal(w) for w in self.book.withdrawals if w.key == key and form.get("asset") in (None, w.asset)
        ]

    def private_DepositStatus(self, key: str, form: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "method": "Tether USD (TRC20)",
                "aclass": "currency",
                "asset": asset,
                "refid": ref,
                "txid": f"0x{ref}",
                "info": "",
                "amount": _s(amount),
                "fee": "0",
                "time": int(at),
                "status": "Success",
            }
            for ref, asset, amount, at in self.book.deposits[key]
        ]


def _raise_unknown_withdraw_key() -> Any:
    raise Refused("unknown_withdraw_key")


_ERRORS["unknown_withdraw_key"] = "EFunding:Unknown withdraw key"
