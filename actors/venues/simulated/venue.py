"""`SimulatedVenue`: the simulated exchange world behind the `Venue` and `TradingVenue` interfaces.

It holds the one lock and applies the faults; the books (`audit`), transfers, orders and markets
it is made of are plain bookkeeping in their own modules.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
from collections.abc import Callable, Iterator, Mapping

from actors.venues.base import Subscription, VenueTimeout
from actors.venues.simulated.amounts import EPSILON, account_name, rounded
from actors.venues.simulated.audit import Books, Movement, MovementKind
from actors.venues.simulated.faults import Faults
from actors.venues.simulated.market import Market, MarketSpec
from actors.venues.simulated.orders import Orders
from actors.venues.simulated.transfers import Route, Transfers
from messages.common import Currency, Exchange, currency_code, exchange_name
from messages.trading import Fill, Order, OrderStatus, OrderType, Side, Ticker
from messages.venue import Deposit, TransferResult
from supervisor.clock import Clock, Repeating, call_every

__all__ = ["SimulatedVenue"]

_Key = tuple[Exchange, str]


class SimulatedVenue:
    """A simulated world of exchanges and accounts that implements `actors.venues.base.Venue`.

    Same-exchange transfers are instant; cross-exchange transfers are on-chain withdrawals,
    debited at once and credited ``route.delay`` seconds later (on the injected clock) minus
    ``route.fee``. Settlement is lazy: every call first credits what has fallen due. A repeated
    ``client_id`` returns the first transfer's current state and never moves money twice; a
    refused transfer is recorded too, so a retry needs a new ``client_id``.

    Every exchange trades every configured market at the world's one price, stepped by timers
    on the injected clock (``ManualClock.advance`` drives prices and fills). Open orders hold
    their funds: transfers and new orders can use only what is not held. Fills are pushed to
    `subscribe_fills` callbacks, never while the venue's lock is held; keep callbacks quick
    (they run on the clock's timer thread or the caller's thread). Call `close` to stop the timers.

    Thread safe (one lock). Deterministic: every random draw comes from ``random.Random(seed)``,
    so the same seed and the same calls give the same results.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 0,
        balances: Mapping[tuple[Exchange, str], Mapping[Currency, float]] | None = None,
        routes: Mapping[tuple[Exchange, Exchange], Route] | None = None,
        default_route: Route = Route(),  # noqa: B008 - Route is frozen
        markets: Mapping[str, MarketSpec] | None = None,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.faults = Faults(clock, self._lock)
        rng = random.Random(seed)
        transfer_rng = random.Random(rng.getrandbits(64))
        self._books = Books()
        world = {
            name.lower(): Market(name.lower(), spec, rng, clock.now()) for name, spec in sorted((markets or {}).items())
        }
        self._orders = Orders(self._books, world, clock, self.faults, self._lock)
        self._transfers = Transfers(
            self._books, clock, transfer_rng, routes or {}, default_route, self._orders.available
        )
        for (exchange, account), currencies in (balances or {}).items():
            self.add_account(exchange, account)
            for currency, amount in currencies.items():
                if not (math.isfinite(amount) and amount >= 0):
                    raise ValueError(
                        f"opening balance of {currency} on {exchange}.{account} must be >= 0, got {amount!r}"
                    )
                if amount > 0:
                    with self._lock:
                        self._books.move(
                            MovementKind.OPENING,
                            (exchange_name(exchange), account),
                            currency_code(currency),
                            amount,
                            clock.now(),
                            note="opening balance",
                        )
        self._tickers: list[Repeating] = [
            call_every(clock, market.spec.tick, lambda now, name=name: self._on_tick(name, now))  # type: ignore[misc]
            for name, market in world.items()
        ]

    def close(self) -> None:
        """Stop the market timers: prices freeze and resting orders no longer fill."""
        for ticker in self._tickers:
            ticker.cancel()

    # --- accounts -------------------------------------------------------------------------

    def add_account(self, exchange: Exchange, account: str) -> None:
        """Open an empty account (nothing happens if it exists)."""
        key = (exchange_name(exchange), account)
        with self._lock:
            self._books.open(key)
            self._transfers.open(key)

    # --- the Venue interface --------------------------------------------------------------

    def fetch_balance(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        """Every currency the account has held, with its balance now."""
        with self._call("fetch_balance"):
            balances = self._books.account(exchange, account)
            if self.faults._take_racing_snapshot():
                self._transfers.arrive_early((exchange_name(exchange), account))
                self._race_fill((exchange_name(exchange), account))
            return dict(balances)

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
        """Move money (see the class docstring). Refusals come back with status ``failed``."""
        with self._call("transfer"):
            result = self._transfers.results.get(client_id)
            if result is None:
                source, destination = (
                    (exchange_name(from_exchange), from_account),
                    (exchange_name(to_exchange), to_account),
                )
                result = self._transfers.new(client_id, source, destination, currency_code(currency), amount)
                self._transfers.results[client_id] = result
            if self.faults._take_timeout("transfer"):
                raise VenueTimeout(f"simulated timeout after transfer {client_id} ({result.status})")
            return result

    def fetch_transfer(self, client_id: str) -> TransferResult | None:
        """The transfer made with ``client_id`` as it stands now, or None if never seen."""
        with self._call("fetch_transfer"):
            return self._transfers.results.get(client_id)

    def clock_skew(self, exchange: Exchange) -> float:
        """Nil: the simulated venue stamps its events with the desk's own clock."""
        return 0.0

    def fetch_deposits(self, exchange: Exchange, account: str) -> list[Deposit]:
        """Money credited to the account so far (deposits and arrived transfers), oldest first."""
        with self._call("fetch_deposits"):
            self._books.account(exchange, account)
            return list(self._transfers.deposits[(exchange, account)])

    # --- trading ----------------------------------------------------------------------------

    def fetch_ticker(self, market: str) -> Ticker:
        """The market's bid, ask and last price now."""
        with self._call("fetch_ticker"):
            return self._orders.market(market).ticker()

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
        """Place an order. A limit order fills when the touch reaches ``price``, at most the market's
        depth per tick (at the touch if it can fill at once, else at its price); a market order
        fills at once, in levels of ``depth`` with seeded slippage. Refusals (unknown account or
        market, a bad quantity or price, too little free money) come back with status
        ``rejected`` and a reason. A repeated ``client_order_id`` returns the existing order."""
        with self._call("create_order"):
            order_id = self._orders.client_orders.get(client_order_id) if client_order_id is not None else None
            if order_id is None:
                now = self._clock.now()
                limit = OrderType(order_type) is OrderType.LIMIT and price is not None and math.isfinite(price)
                order = Order(
                    order_id=f"O{next(self._orders.order_ids)}",
                    exchange=exchange_name(exchange),
                    account=account,
                    market=market.lower(),
                    side=Side(side),
                    order_type=OrderType(order_type),
                    quantity=rounded(quantity) if math.isfinite(quantity) else 0.0,
                    status=OrderStatus.OPEN,
                    price=rounded(price) if limit else None,  # type: ignore[arg-type]
                    client_order_id=client_order_id,
                    created_at=now,
                    updated_at=now,
                )
                order_id = self._orders.place(order, quantity, price).order_id
            if self.faults._take_timeout("create_order"):
                raise VenueTimeout(f"simulated timeout after create_order {order_id}")
            return self._orders.orders[order_id]

    def cancel_order(self, order_id: str) -> Order:
        """Cancel an open order (what was filled stays filled); a finished order is returned as it is."""
        with self._call("cancel_order"):
            order = self._orders.order(order_id)
            if order.status is OrderStatus.OPEN and order.price is not None and self.faults._take_racing_cancel():
                order = self._orders.fill_resting(order)
            if order.status is OrderStatus.OPEN:
                order = self._orders.finish(order, OrderStatus.CANCELED, "canceled by the caller")
            if self.faults._take_timeout("cancel_order"):
                raise VenueTimeout(f"simulated timeout after cancel_order {order_id} ({order.status})")
            return order

    def fetch_order(self, order_id: str) -> Order:
        """The order as it stands now."""
        with self._call("fetch_order"):
            return self._orders.order(order_id)

    def fetch_open_orders(self, exchange: Exchange, account: str) -> list[Order]:
        """The account's open orders, oldest first."""
        with self._call("fetch_open_orders"):
            self._books.account(exchange, account)
            return [order for order in self._orders.open() if (order.exchange, order.account) == (exchange, account)]

    def fetch_order_by_client_id(self, exchange: Exchange, account: str, client_order_id: str) -> Order | None:
        """The account's order placed with ``client_order_id`` as it stands now, or None if there is none."""
        with self._call("fetch_order_by_client_id"):
            self._books.account(exchange, account)
            order_id = self._orders.client_orders.get(client_order_id)
            order = self._orders.orders.get(order_id) if order_id is not None else None
            if order is None or (order.exchange, order.account) != (exchange, account):
                return None
            return order

    def fetch_fills(self, exchange: Exchange, account: str, since: float) -> list[Fill]:
        """The account's fills with ``timestamp >= since``, oldest first (pushed or not)."""
        with self._call("fetch_fills"):
            self._books.account(exchange, account)
            return [fill for fill in self._orders.fills.get((exchange, account), []) if fill.timestamp >= since]

    def subscribe_fills(
        self, exchange: Exchange, account: str, callback: Callable[[Fill], None]
    ) -> Subscription[tuple[Exchange, str]]:
        """Push every later fill of the account to ``callback`` (each `Fill` has a unique ``trade_id``)."""
        with self._call("subscribe_fills"):
            key = (exchange_name(exchange), account)
            self._books.account(*key)
            return self._orders.subscribe(key, callback)

    # --- operator and test helpers (never faulted) ----------------------------------------

    def deposit(
        self, exchange: Exchange, account: str, currency: Currency, amount: float, note: str = "external"
    ) -> Deposit:
        """Money entering the world: credit ``amount`` to the account and record a `Deposit`."""
        if not (math.isfinite(amount) and rounded(amount) > 0):
            raise ValueError(f"a deposit must be a positive amount, got {amount!r}")
        key = (exchange_name(exchange), account)
        with self._lock:
            self._transfers.settle_due()
            self._books.account(*key)
            self._books.move(MovementKind.DEPOSIT, key, currency_code(currency), amount, self._clock.now(), note=note)
            return self._transfers.record_deposit(key, currency_code(currency), rounded(amount), self._clock.now())

    def external_adjust(self, exchange: Exchange, account: str, currency: Currency, delta: float, note: str) -> None:
        """Money appearing (``delta`` > 0) or vanishing without the desk's knowledge, such as an
        unseen fee. No `Deposit` is recorded. It cannot take a balance below zero."""
        if not math.isfinite(delta):
            raise ValueError(f"an adjustment must be finite, got {delta!r}")
        key = (exchange_name(exchange), account)
        with self._lock:
            self._transfers.settle_due()
            balance = self._books.account(*key).get(currency_code(currency), 0.0)
            if balance + rounded(delta) < -EPSILON:
                raise ValueError(f"adjusting {account_name(*key)} {currency} by {delta} would leave {balance + delta}")
            self._books.move(MovementKind.EXTERNAL, key, currency_code(currency), delta, self._clock.now(), note=note)

    def all_balances(self) -> dict[tuple[Exchange, str], dict[Currency, float]]:
        """Every account's balances now, keyed by (exchange, account)."""
        with self._lock:
            self._transfers.settle_due()
            return {key: dict(balances) for key, balances in self._books.balances.items()}

    def settle(self) -> None:
        """Credit every transfer due at ``clock.now()`` (every call does this first anyway)."""
        with self._lock:
            self._transfers.settle_due()

    def audit(self) -> list[Movement]:
        """Every balance change so far, in order."""
        with self._lock:
            self._transfers.settle_due()
            return list(self._books.audit)

    def lost_pushes(self) -> list[Fill]:
        """Fills that happened but whose push was lost (`Faults.drop_next_fill_push`, or nobody subscribed), oldest first."""
        with self._lock:
            return list(self._orders.lost_pushes)

    def in_flight(self, currency: Currency) -> float:
        """Money debited by pending withdrawals and not yet credited (net of fees)."""
        with self._lock:
            self._transfers.settle_due()
            return self._transfers.in_flight(currency_code(currency))

    def fees_collected(self, currency: Currency) -> float:
        """Transfer and trading fees the venue has taken in ``currency``."""
        with self._lock:
            self._transfers.settle_due()
            return self._books.fees.get(currency_code(currency), 0.0)

    def conservation_error(self) -> dict[Currency, float]:
        """Per currency: balances + in flight + fees - money that entered from outside
        (opening balances, deposits, external adjustments, and the world's side of every trade).

        Every value is ~0 (well under a cent) when the venue created and lost nothing.
        """
        with self._lock:
            self._transfers.settle_due()
            books, transfers = self._books, self._transfers
            held = books.held()
            currencies = set(held) | set(books.fees) | set(books.external) | transfers.in_flight_currencies()
            return {
                currency: held.get(currency, 0.0)
                + transfers.in_flight(currency)
                + books.fees.get(currency, 0.0)
                - books.external.get(currency, 0.0)
                for currency in sorted(currencies)
            }

    # --- internals ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _call(self, method: str) -> Iterator[None]:
        """One faultable venue call: latency, then under the lock settle and apply faults."""
        self.faults._wait_latency()
        try:
            with self._lock:
                self._transfers.settle_due()
                self.faults._raise_if_failing(method)
                yield
                self.faults._crash_if_aimed(method, after=True)
        finally:
            self._orders.deliver_pushes()

    def _race_fill(self, key: _Key) -> None:
        """The account's oldest resting order fills now (an event racing a balance snapshot)."""
        for order in self._orders.open():
            if (order.exchange, order.account) == key and order.price is not None:
                self._orders.fill_resting(order)
                return

    def _on_tick(self, name: str, now: float) -> None:
        """A market's timer: step the price, fill the resting orders it reaches, push the fills."""
        try:
            with self._lock:
                self._transfers.settle_due()
                self._orders.tick(name, now)
        finally:
            self._orders.deliver_pushes()
