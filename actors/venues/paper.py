"""`PaperVenue`: paper trading on live data (``dry_run``). Market data and balances come from the
real venue; orders and transfers never reach it: they are simulated here, and their effect is
added to the real balances the actors read.

A market order fills at once at the live touch; a limit order rests until a live ticker reaches
its price (checked every ``poll_every`` seconds of the clock and on every order call). A transfer
is instant on one exchange; across exchanges it arrives ``delay`` seconds later minus ``fee``.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable

import msgspec
from loguru import logger

from actors.venues.base import Subscription, TradingVenue, VenueError, VenueRejected
from messages.common import Currency, Exchange
from messages.trading import Fill, Order, OrderStatus, OrderType, Side, Ticker, split_market
from messages.venue import Deposit, TransferResult, TransferStatus
from supervisor.clock import Clock, call_every

__all__ = ["PaperVenue"]


class PaperVenue:
    """Paper trading in front of ``live`` (any `TradingVenue`, usually the `VenueRouter` of real
    adapters). ``fee_bps`` is charged on each fill in the quote currency. Thread safe (one lock)."""

    def __init__(
        self,
        live: TradingVenue,
        clock: Clock,
        *,
        fee_bps: float = 10.0,
        delay: float = 60.0,
        fee: float = 0.0,
        poll_every: float = 2.0,
    ) -> None:
        self.live = live
        self.clock = clock
        self.fee_bps = fee_bps
        self.delay = delay
        self.fee = fee
        self._lock = threading.RLock()
        self._deltas: dict[tuple[Exchange, str], dict[Currency, float]] = {}
        self._orders: dict[str, Order] = {}
        self._by_client: dict[tuple[Exchange, str, str], str] = {}
        self._fills: list[Fill] = []
        self._transfers: dict[str, TransferResult] = {}
        self._deposits: dict[tuple[Exchange, str], list[Deposit]] = {}
        self._subscriptions: dict[tuple[Exchange, str], list[Subscription[tuple[Exchange, str]]]] = {}
        self._ids = itertools.count(1)
        self._timer = call_every(clock, poll_every, lambda _now: self._match_resting())
        self.log = logger.bind(actor="venue.paper")

    def close(self) -> None:
        self._timer.cancel()
        close = getattr(self.live, "close", None)
        if close is not None:
            close()

    def _move(self, key: tuple[Exchange, str], currency: Currency, delta: float) -> None:
        row = self._deltas.setdefault(key, {})
        row[currency] = round(row.get(currency, 0.0) + delta, 10)

    # --- Venue ------------------------------------------------------------------------------------

    def fetch_balance(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        balances = dict(self.live.fetch_balance(exchange, account))
        self._settle()
        with self._lock:
            for currency, delta in self._deltas.get((exchange, account), {}).items():
                balances[currency] = round(balances.get(currency, 0.0) + delta, 10)
        return balances

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
        with self._lock:
            if client_id in self._transfers:
                return self._transfers[client_id]
        now = self.clock.now()
        cross = from_exchange != to_exchange
        fee = self.fee if cross else 0.0
        result = TransferResult(
            client_id=client_id,
            status=TransferStatus.FAILED,
            from_exchange=from_exchange,
            from_account=from_account,
            to_exchange=to_exchange,
            to_account=to_account,
            currency=currency,
            amount=amount if math.isfinite(amount) else 0.0,
            fee=fee,
            created_at=now,
        )
        available = self.fetch_balance(from_exchange, from_account).get(currency, 0.0)
        if not (math.isfinite(amount) and amount > fee):
            result = msgspec.structs.replace(result, reason=f"amount must exceed the fee {fee}, got {amount!r}")
        elif amount > available + 1e-9:
            result = msgspec.structs.replace(
                result, reason=f"insufficient funds: {amount} {currency} wanted, {available} available"
            )
        else:
            with self._lock:
                self._move((from_exchange, from_account), currency, -amount)
                status = TransferStatus.PENDING if cross else TransferStatus.OK
                result = msgspec.structs.replace(result, status=status, completed_at=None if cross else now)
                if not cross:
                    self._credit(result, now)
            self.log.info(
                "paper transfer {}: {} {} {}.{} -> {}.{}",
                client_id,
                amount,
                currency,
                from_exchange,
                from_account,
                to_exchange,
                to_account,
            )
        with self._lock:
            self._transfers[client_id] = result
        return result

    def _credit(self, result: TransferResult, at: float) -> None:
        net = round(result.amount - result.fee, 10)
        key = (result.to_exchange, result.to_account)
        self._move(key, result.currency, net)
        self._deposits.setdefault(key, []).append(
            Deposit(
                deposit_id=f"paper-{result.client_id}",
                exchange=result.to_exchange,
                account=result.to_account,
                currency=result.currency,
                amount=net,
                credited_at=at,
                client_id=result.client_id,
                from_exchange=result.from_exchange,
                from_account=result.from_account,
            )
        )

    def _settle(self) -> None:
        now = self.clock.now()
        with self._lock:
            for client_id, result in list(self._transfers.items()):
                if result.status is TransferStatus.PENDING and now >= result.created_at + self.delay:
                    done = msgspec.structs.replace(result, status=TransferStatus.OK, completed_at=now)
                    self._transfers[client_id] = done
                    self._credit(done, now)

    def fetch_transfer(self, client_id: str) -> TransferResult | None:
        self._settle()
        with self._lock:
            return self._transfers.get(client_id)

    def clock_skew(self, exchange: Exchange) -> float:
        """The live venue's (its deposits and balances carry its stamps)."""
        return self.live.clock_skew(exchange)

    def fetch_deposits(self, exchange: Exchange, account: str) -> list[Deposit]:
        live = self.live.fetch_deposits(exchange, account)
        self._settle()
        with self._lock:
            return sorted([*live, *self._deposits.get((exchange, account), [])], key=lambda d: d.credited_at)

    # --- trading ----------------------------------------------------------------------------------

    def fetch_ticker(self, market: str) -> Ticker:
        return self.live.fetch_ticker(market)

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
        with self._lock:
            known = self._by_client.get((exchange, account, client_order_id)) if client_order_id else None
            if known is not None:
                return self._orders[known]
        now = self.clock.now()
        order = Order(
            order_id=f"paper-{next(self._ids)}",
            exchange=exchange,
            account=account,
            market=market.lower(),
            side=Side(side),
            order_type=OrderType(order_type),
            quantity=quantity if math.isfinite(quantity) else 0.0,
            status=OrderStatus.OPEN,
            price=price if OrderType(order_type) is OrderType.LIMIT else None,
            client_order_id=client_order_id,
            created_at=now,
            updated_at=now,
        )
        reason = self._refusal(order)
        if reason:
            order = msgspec.structs.replace(order, status=OrderStatus.REJECTED, reason=reason)
        with self._lock:
            self._orders[order.order_id] = order
            if client_order_id:
                self._by_client[(exchange, account, client_order_id)] = order.order_id
        if order.status is OrderStatus.OPEN:
            self._match(order.order_id, self.live.fetch_ticker(market))
        return self._orders[order.order_id]

    def _refusal(self, order: Order) -> str:
        if not order.quantity > 0:
            return f"quantity must be a positive number, got {order.quantity!r}"
        if order.order_type is OrderType.LIMIT and not (order.price and order.price > 0):
            return f"a limit order needs a positive price, got {order.price!r}"
        try:
            base, quote = split_market(order.market)
            ticker = self.live.fetch_ticker(order.market)
        except (ValueError, VenueRejected):
            return f"unknown market {order.market}"
        balances = self.fetch_balance(order.exchange, order.account)
        if order.side is Side.SELL and balances.get(base, 0.0) < order.quantity:
            return f"insufficient funds: {order.quantity} {base} needed, {balances.get(base, 0.0)} available"
        cost = order.quantity * (order.price or ticker.ask) * (1 + self.fee_bps / 10_000)
        if order.side is Side.BUY and balances.get(quote, 0.0) < cost:
            return f"insufficient funds: {cost} {quote} needed, {balances.get(quote, 0.0)} available"
        return ""

    def _match(self, order_id: str, ticker: Ticker) -> None:
        """Fill the open order if the live ticker reaches it (a market order always does)."""
        with self._lock:
            order = self._orders[order_id]
            touch = ticker.ask if order.side is Side.BUY else ticker.bid
            reaches = order.order_type is OrderType.MARKET or (
                order.price is not None and (touch <= order.price if order.side is Side.BUY else touch >= order.price)
            )
            if order.status is not OrderStatus.OPEN or not reaches:
                return
            price = touch if order.order_type is OrderType.MARKET else order.price
            assert price is not None
            base, quote = split_market(order.market)
            cost = order.quantity * price
            fee = round(cost * self.fee_bps / 10_000, 8)
            sign = 1 if order.side is Side.BUY else -1
            key = (order.exchange, order.account)
            self._move(key, base, sign * order.quantity)
            self._move(key, quote, -sign * cost - fee)
            now = self.clock.now()
            fill = Fill(
                exchange=order.exchange,
                account=order.account,
                market=order.market,
                side=order.side,
                quantity=order.quantity,
                price=price,
                trade_id=f"paper-T{next(self._ids)}",
                order_id=order.order_id,
                fee=fee,
                fee_currency=quote,
                timestamp=now,
            )
            self._fills.append(fill)
            self._orders[order_id] = msgspec.structs.replace(
                order, status=OrderStatus.FILLED, filled=order.quantity, average_price=price, fee=fee, updated_at=now
            )
            subscriptions = list(self._subscriptions.get(key, ()))
        for subscription in subscriptions:
            subscription.deliver(fill)

    def _match_resting(self) -> None:
        with self._lock:
            resting = [o for o in self._orders.values() if o.status is OrderStatus.OPEN]
        tickers: dict[str, Ticker] = {}
        for order in resting:
            try:
                ticker = tickers.get(order.market) or self.live.fetch_ticker(order.market)
            except VenueError as error:
                self.log.warning("paper: no live price for {} ({})", order.market, error)
                continue
            tickers[order.market] = ticker
            self._match(order.order_id, ticker)

    def cancel_order(self, order_id: str) -> Order:
        order = self.fetch_order(order_id)
        if order.status is OrderStatus.OPEN:
            with self._lock:
                order = self._orders[order_id] = msgspec.structs.replace(
                    order, status=OrderStatus.CANCELED, reason="canceled by the caller", updated_at=self.clock.now()
                )
        return order

    def fetch_order(self, order_id: str) -> Order:
        with self._lock:
            order = self._orders.get(order_id)
        if order is None:
            raise VenueRejected(f"unknown order {order_id}")
        return order

    def fetch_open_orders(self, exchange: Exchange, account: str) -> list[Order]:
        with self._lock:
            return [
                o
                for o in self._orders.values()
                if (o.exchange, o.account) == (exchange, account) and o.status is OrderStatus.OPEN
            ]

    def fetch_order_by_client_id(self, exchange: Exchange, account: str, client_order_id: str) -> Order | None:
        with self._lock:
            order_id = self._by_client.get((exchange, account, client_order_id))
            return None if order_id is None else self._orders[order_id]

    def fetch_fills(self, exchange: Exchange, account: str, since: float) -> list[Fill]:
        with self._lock:
            return [f for f in self._fills if (f.exchange, f.account) == (exchange, account) and f.timestamp >= since]

    def subscribe_fills(
        self, exchange: Exchange, account: str, callback: Callable[[Fill], None]
    ) -> Subscription[tuple[Exchange, str]]:
        key = (exchange, account)
        subscription = Subscription(key, f"paper.{exchange}.{account}", callback, self._unsubscribe)
        with self._lock:
            self._subscriptions.setdefault(key, []).append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription[tuple[Exchange, str]]) -> None:
        with self._lock:
            found = self._subscriptions.get(subscription.key, [])
            if subscription in found:
                found.remove(subscription)
