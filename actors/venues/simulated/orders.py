"""Orders of the simulated world: limit orders resting until the price reaches them, market orders sweeping
levels, what open orders hold, and the fills they make, pushed to subscribers like a websocket."""

from __future__ import annotations

import itertools
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator

import msgspec
from loguru import logger

from actors.venues.base import Subscription, VenueRejected
from actors.venues.simulated.amounts import EPSILON, account_name, rounded
from actors.venues.simulated.audit import Books, MovementKind
from actors.venues.simulated.faults import Faults
from actors.venues.simulated.market import Market
from messages.common import Currency, Exchange
from messages.trading import Fill, Order, OrderStatus, OrderType, Side
from supervisor.clock import Clock

__all__ = ["Orders"]

_Key = tuple[Exchange, str]


class Orders:
    """Every order by id (and client order id), the open ones per market, and the fills waiting to be pushed.

    Plain bookkeeping over the venue's `Books`, except `deliver_pushes` (called without the venue's
    lock) and `unsubscribe` (which takes it).
    """

    def __init__(
        self, books: Books, markets: dict[str, Market], clock: Clock, faults: Faults, lock: threading.Lock
    ) -> None:
        self._books = books
        self.markets = markets
        self._clock = clock
        self._faults = faults
        self._lock = lock
        self.orders: dict[str, Order] = {}
        self.order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self.client_orders: dict[str, str] = {}  # client_order_id -> order_id
        self.fills: dict[_Key, list[Fill]] = {}  # every fill per account, oldest first (the trade history)
        self.open_orders: dict[str, list[str]] = {name: [] for name in markets}  # per market, oldest first
        self._subscriptions: dict[_Key, list[Subscription[_Key]]] = {}
        self._pushes: deque[tuple[Subscription[_Key], Fill]] = deque()
        self._push_lock = threading.Lock()  # held by the one thread delivering pushes
        self.lost_pushes: list[Fill] = []  # fills whose push was lost (a fault, or nobody subscribed)

    def market(self, market: str) -> Market:
        found = self.markets.get(market.lower())
        if found is None:
            raise VenueRejected(f"unknown market {market}")
        return found

    def order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise VenueRejected(f"unknown order {order_id}")
        return order

    def open(self) -> Iterator[Order]:
        for order_ids in self.open_orders.values():
            for order_id in order_ids:
                yield self.orders[order_id]

    def held(self, key: _Key, currency: Currency) -> float:
        """What the account's open orders hold of ``currency``: what they could still spend."""
        held = 0.0
        for order in self.open():
            if (order.exchange, order.account) != key:
                continue
            market = self.markets[order.market]
            if order.side is Side.SELL and market.base == currency:
                held += order.remaining
            elif order.side is Side.BUY and market.quote == currency:
                assert order.price is not None
                cost = order.remaining * order.price
                held += cost + market.fee(cost)
        return rounded(held)

    def available(self, key: _Key, currency: Currency) -> float:
        """What the account may spend of ``currency``: its balance less what its open orders hold."""
        return rounded(self._books.balances[key].get(currency, 0.0) - self.held(key, currency))

    def place(self, order: Order, quantity: float, price: float | None) -> Order:
        """Record a new order, then reject it, fill it at once, or rest it (``quantity`` and
        ``price`` are what the caller asked, before rounding)."""
        self.orders[order.order_id] = order
        if order.client_order_id is not None:
            self.client_orders[order.client_order_id] = order.order_id
        levels: list[tuple[float, float]] = []
        reason = self._refusal(order, quantity, price)
        if not reason and order.order_type is OrderType.MARKET:
            levels = self.markets[order.market].sweep(order.side, order.quantity)
            reason = self._unaffordable(order, levels)
        elif not reason:
            reason = self._unaffordable(order, [(order.quantity, order.price)])  # type: ignore[list-item]
        if reason:
            logger.info(
                "simulated venue rejected order {} on {}: {}",
                order.order_id,
                account_name(order.exchange, order.account),
                reason,
            )
            return self.finish(order, OrderStatus.REJECTED, reason)
        if order.order_type is OrderType.MARKET:
            for size, level_price in levels:
                order = self.fill(order, size, level_price)
            return order
        self.open_orders[order.market].append(order.order_id)
        book = self.markets[order.market]
        if book.reaches(order):  # marketable on arrival: a taker at the touch
            order = self.fill(order, min(order.remaining, book.spec.depth), book.touch(order.side))
        return order

    def _refusal(self, order: Order, quantity: float, price: float | None) -> str:
        """Why the order cannot be placed (funds aside), or "" when it can."""
        if (order.exchange, order.account) not in self._books.balances:
            return f"unknown account {account_name(order.exchange, order.account)}"
        if order.market not in self.markets:
            return f"unknown market {order.market}"
        if not (math.isfinite(quantity) and order.quantity > 0):
            return f"quantity must be a positive number, got {quantity!r}"
        if order.order_type is OrderType.LIMIT and not (order.price is not None and order.price > 0):
            return f"a limit order needs a positive price, got {price!r}"
        return ""

    def _unaffordable(self, order: Order, levels: list[tuple[float, float]]) -> str:
        """Why the account cannot pay for ``levels`` of (quantity, price), or "" when it can."""
        market = self.markets[order.market]
        if order.side is Side.SELL:
            currency, needed = market.base, order.quantity
        else:
            cost = sum(rounded(size * level_price) for size, level_price in levels)
            currency, needed = market.quote, cost + market.fee(cost)
        available = self.available((order.exchange, order.account), currency)
        if needed > available + EPSILON:
            return f"insufficient funds: {rounded(needed)} {currency} needed, {available} available"
        return ""

    def fill(self, order: Order, size: float, price: float) -> Order:
        """Execute ``size`` of the order at ``price``: move the balances, audit, queue the push."""
        market = self.markets[order.market]
        key = (order.exchange, order.account)
        cost = rounded(size * price)
        fee = market.fee(cost)
        base_delta, quote_delta = (size, -cost) if order.side is Side.BUY else (-size, cost)
        balances = self._books.balances[key]
        if (
            balances.get(market.base, 0.0) + base_delta < -EPSILON
            or balances.get(market.quote, 0.0) + quote_delta - fee < -EPSILON
        ):
            return self.finish(order, OrderStatus.CANCELED, "insufficient funds at fill (money left the account)")
        now = self._clock.now()
        trade_id = f"T{next(self._trade_ids)}"
        self._books.move(MovementKind.TRADE, key, market.base, base_delta, now, client_id=order.order_id, note=trade_id)
        self._books.move(
            MovementKind.TRADE, key, market.quote, quote_delta, now, client_id=order.order_id, note=trade_id
        )
        if fee > 0:
            self._books.move(
                MovementKind.TRADE_FEE, key, market.quote, -fee, now, client_id=order.order_id, note=trade_id
            )
        market.last = price
        filled = rounded(order.filled + size)
        average = rounded(((order.average_price or 0.0) * order.filled + price * size) / filled)
        order = msgspec.structs.replace(
            order, filled=filled, average_price=average, fee=rounded(order.fee + fee), updated_at=now
        )
        self.orders[order.order_id] = order
        if order.remaining <= EPSILON:
            order = self.finish(order, OrderStatus.FILLED)
        fill = Fill(
            exchange=order.exchange,
            account=order.account,
            market=order.market,
            side=order.side,
            quantity=size,
            price=price,
            trade_id=trade_id,
            order_id=order.order_id,
            fee=fee,
            fee_currency=market.quote,
            timestamp=now,
        )
        self.fills.setdefault((order.exchange, order.account), []).append(fill)
        logger.debug(
            "simulated venue: fill {} of {}: {} {} {} @ {}",
            trade_id,
            order.order_id,
            order.side,
            size,
            order.market,
            price,
        )
        self._queue_push(fill)
        return order

    def fill_resting(self, order: Order) -> Order:
        """Fill a resting order at its price, up to the market's depth (a tick reaching it, or a race)."""
        assert order.price is not None
        return self.fill(order, min(order.remaining, self.markets[order.market].spec.depth), order.price)

    def finish(self, order: Order, status: OrderStatus, reason: str = "") -> Order:
        order = msgspec.structs.replace(order, status=status, reason=reason, updated_at=self._clock.now())
        self.orders[order.order_id] = order
        open_ids = self.open_orders.get(order.market, [])
        if order.order_id in open_ids:
            open_ids.remove(order.order_id)
        return order

    def tick(self, name: str, now: float) -> None:
        """A market's timer: step the price and fill the resting orders it reaches."""
        market = self.markets[name]
        market.step(now)
        for order_id in list(self.open_orders[name]):
            order = self.orders[order_id]
            if market.reaches(order):
                self.fill_resting(order)

    # ---- pushes ------------------------------------------------------------------------------

    def subscribe(self, key: _Key, callback: Callable[[Fill], None]) -> Subscription[_Key]:
        subscription = Subscription(key, account_name(*key), callback, self._unsubscribe)
        self._subscriptions.setdefault(key, []).append(subscription)
        return subscription

    def _queue_push(self, fill: Fill) -> None:
        subscriptions = self._subscriptions.get((fill.exchange, fill.account))
        if not subscriptions:
            self.lost_pushes.append(fill)  # nobody listening: lost like a dropped push
            return
        copies = self._faults._copies_of_next_push()
        if copies == 0:
            self.lost_pushes.append(fill)
        if copies != 1:
            logger.info("simulated venue: fill {} pushed {} time(s) (fault)", fill.trade_id, copies)
        for _ in range(copies):
            self._pushes.extend((subscription, fill) for subscription in subscriptions)

    def deliver_pushes(self) -> None:
        """Call the subscribers of queued fills, in order, without the venue lock (never hold it here).

        One thread delivers at a time; a thread that finds another delivering leaves its fills
        to it, so pushes keep their order and a subscriber that calls the venue cannot deadlock.
        """
        while self._pushes:
            if not self._push_lock.acquire(blocking=False):
                return
            try:
                while self._pushes:
                    subscription, fill = self._pushes.popleft()
                    subscription.deliver(fill)
            finally:
                self._push_lock.release()

    def _unsubscribe(self, subscription: Subscription[_Key]) -> None:
        with self._lock:
            subscriptions = self._subscriptions.get(subscription.key, [])
            if subscription in subscriptions:
                subscriptions.remove(subscription)
