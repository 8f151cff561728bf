"""The state of one fake exchange, in its own terms: balances per API key, orders, trades,
withdrawals. Market orders fill at once at the touch; limit orders rest until `cross` fills them."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


class Refused(Exception):
    """The exchange refuses the request; ``code`` is a neutral reason the dialect translates."""

    def __init__(self, code: str, text: str = "") -> None:
        super().__init__(text or code)
        self.code = code  # "insufficient_funds" | "unknown_order" | "invalid" | "unknown_key"


@dataclass
class Market:
    base: str
    quote: str
    bid: float
    ask: float
    fee_rate: float = 0.001
    lot_decimals: int = 8
    price_decimals: int = 1
    min_amount: float = 0.0001


@dataclass
class FakeOrder:
    id: str
    key: str
    symbol: str
    side: str
    type: str
    amount: float
    price: float | None
    client_id: str | None
    opened: float
    status: str = "open"  # open | closed | canceled
    filled: float = 0.0
    cost: float = 0.0
    fee: float = 0.0
    closed: float | None = None
    trades: list[str] = field(default_factory=list)


@dataclass
class FakeTrade:
    id: str
    order_id: str
    key: str
    symbol: str
    side: str
    amount: float
    price: float
    fee: float
    time: float


@dataclass
class FakeWithdrawal:
    id: str
    key: str
    asset: str
    amount: float
    fee: float
    address: str
    time: float
    status: str = "pending"  # pending | ok | failed


class FakeBook:
    """One exchange's books. Thread safe (one lock). ``now`` gives the exchange's time in seconds."""

    def __init__(self, now: Callable[[], float], markets: dict[str, Market]) -> None:
        self.now = now
        self.markets = markets
        self.lock = threading.RLock()
        self.balances: dict[str, dict[str, float]] = {}
        self.orders: dict[str, FakeOrder] = {}
        self.trades: list[FakeTrade] = []
        self.withdrawals: list[FakeWithdrawal] = []
        self.deposits: dict[str, list[tuple[str, str, float, float]]] = {}  # key -> (id, asset, amount, time)
        self.withdraw_fees: dict[str, float] = {}
        self.on_trade: list[Callable[[FakeTrade], None]] = []  # told after each trade (a stream pushes it)
        self.on_order: list[Callable[[FakeOrder], None]] = []  # told after an order is placed, fills or ends
        self._ids = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def add_key(self, key: str, balances: dict[str, float] | None = None) -> None:
        with self.lock:
            self.balances.setdefault(key, {}).update(balances or {})
            self.deposits.setdefault(key, [])

    def wallet(self, key: str) -> dict[str, float]:
        if key not in self.balances:
            raise Refused("unknown_key", "invalid key")
        return self.balances[key]

    def held(self, key: str, asset: str) -> float:
        held = 0.0
        for o in self.orders.values():
            if o.key != key or o.status != "open" or o.price is None:
                continue
            m = self.markets[o.symbol]
            if o.side == "buy" and asset == m.quote:
                held += (o.amount - o.filled) * o.price * (1 + m.fee_rate)
            if o.side == "sell" and asset == m.base:
                held += o.amount - o.filled
        return held

    def free(self, key: str, asset: str) -> float:
        return self.wallet(key).get(asset, 0.0) - self.held(key, asset)

    def place(
        self, key: str, symbol: str, side: str, type_: str, amount: float, price: float | None, client_id: str | None
    ) -> FakeOrder:
        with self.lock:
            wallet = self.wallet(key)
            if symbol not in self.markets:
                raise Refused("invalid", f"unknown pair {symbol}")
            m = self.markets[symbol]
            if client_id is not None and any(o.client_id == client_id and o.key == key for o in self.orders.values()):
                raise Refused("invalid", "duplicate client order id")
            if amount < m.min_amount:
                raise Refused("invalid", "order minimum not met")
            touch = m.ask if side == "buy" else m.bid
            at = price if type_ == "limit" and price is not None else touch
            if side == "buy" and self.free(key, m.quote) < amount * at * (1 + m.fee_rate) - 1e-9:
                raise Refused("insufficient_funds", "insufficient funds")
            if side == "sell" and self.free(key, m.base) < amount - 1e-12:
                raise Refused("insufficient_funds", "insufficient funds")
            del wallet
            order = FakeOrder(
                self.new_id("O"),
                key,
                symbol,
                side,
                type_,
                amount,
                price if type_ == "limit" else None,
                client_id,
                self.now(),
            )
            self.orders[order.id] = order
            marketable = (
                type_ == "market"
                or (side == "buy" and price is not None and price >= m.ask)
                or (side == "sell" and price is not None and price <= m.bid)
            )
            if marketable:
                self._fill(order, amount, touch)
            self._changed(order)
            return order

    def _fill(self, order: FakeOrder, amount: float, price: float) -> None:
        m = self.markets[order.symbol]
        wallet = self.balances[order.key]
        cost = amount * price
        fee = round(cost * m.fee_rate, 8)
        sign = 1 if order.side == "buy" else -1
        wallet[m.base] = round(wallet.get(m.base, 0.0) + sign * amount, 10)
        wallet[m.quote] = round(wallet.get(m.quote, 0.0) - sign * cost - fee, 10)
        trade = FakeTrade(
            self.new_id("T"), order.id, order.key, order.symbol, order.side, amount, price, fee, self.now()
        )
        self.trades.append(trade)
        order.filled = round(order.filled + amount, 10)
        order.cost += cost
        order.fee += fee
        order.trades.append(trade.id)
        if order.filled >= order.amount - 1e-12:
            order.status, order.closed = "closed", self.now()
        for listener in self.on_trade:
            listener(trade)

    def cross(self, symbol: str) -> int:
        """Fill every open limit order of ``symbol`` at its price (the market traded through it)."""
        with self.lock:
            open_orders = [o for o in self.orders.values() if o.symbol == symbol and o.status == "open"]
            for order in open_orders:
                assert order.price is not None
                self._fill(order, order.amount - order.filled, order.price)
                self._changed(order)
            return len(open_orders)

    def cross_reached(self, symbol: str) -> int:
        """Fill every open limit order of ``symbol`` the touch has reached (a buy at or above the
        ask, a sell at or below the bid), at its own price; returns how many."""
        with self.lock:
            m = self.markets[symbol]
            reached = [
                o
                for o in self.orders.values()
                if o.symbol == symbol
                and o.status == "open"
                and o.price is not None
                and (o.price >= m.ask if o.side == "buy" else o.price <= m.bid)
            ]
            for order in reached:
                assert order.price is not None
                self._fill(order, order.amount - order.filled, order.price)
            return len(reached)

    def cancel(self, key: str, order_id: str) -> FakeOrder:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order.key != key:
                raise Refused("unknown_order", "unknown order")
            if order.status == "open":
                order.status, order.closed = "canceled", self.now()
                self._changed(order)
            return order

    def _changed(self, order: FakeOrder) -> None:
        for listener in self.on_order:
            listener(order)

    def order(self, key: str, order_id: str) -> FakeOrder:
        order = self.orders.get(order_id)
        if order is None or order.key != key:
            raise Refused("unknown_order", "unknown order")
        return order

    def withdraw(self, key: str, asset: str, amount: float, address: str) -> FakeWithdrawal:
        with self.lock:
            fee = self.withdraw_fees.get(asset, 0.0)
            if self.free(key, asset) < amount - 1e-12:
                raise Refused("insufficient_funds", "insufficient funds")
            if amount <= fee:
                raise Refused("invalid", "amount below fee")
            wallet = self.balances[key]
            wallet[asset] = round(wallet[asset] - amount, 10)
            entry = FakeWithdrawal(self.new_id("W"), key, asset, round(amount - fee, 10), fee, address, self.now())
            self.withdrawals.append(entry)
            return entry

    def transfer(self, key: str, to_key: str, asset: str, amount: float) -> str:
        with self.lock:
            if self.free(key, asset) < amount - 1e-12:
                raise Refused("insufficient_funds", "insufficient funds")
            self.wallet(to_key)
            self.balances[key][asset] = round(self.balances[key][asset] - amount, 10)
            self.balances[to_key][asset] = round(self.balances[to_key].get(asset, 0.0) + amount, 10)
            return self.new_id("X")

    def credit(self, key: str, asset: str, amount: float) -> None:
        """A deposit arriving from outside."""
        with self.lock:
            self.wallet(key)[asset] = round(self.balances[key].get(asset, 0.0) + amount, 10)
            self.deposits[key].append((self.new_id("D"), asset, amount, self.now()))
