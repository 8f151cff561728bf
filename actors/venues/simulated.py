"""The simulated exchange world: one seeded, deterministic `Venue` with exchanges, accounts and markets.

Used for paper trading, demos and tests. It moves money, trades on seeded random-walk prices,
pushes fills like a websocket, injects faults on demand and audits every balance change, so
a test can prove that no money was created or lost.
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import itertools
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import msgspec
from loguru import logger

from actors.venues.base import Subscription, VenueRejected, VenueTimeout, VenueUnavailable
from messages.common import AccountRef, Currency, Exchange
from messages.trading import Fill, Order, OrderStatus, OrderType, Side, Ticker, split_market
from messages.venue import Deposit, TransferResult, TransferStatus
from supervisor.clock import Clock, Repeating, call_every

__all__ = ["Faults", "MarketSpec", "Movement", "MovementKind", "Route", "SimulatedVenue", "Subscription"]

_DECIMALS = 8  # every movement is rounded to 1e-8
_EPSILON = 1e-9  # tolerance when comparing rounded amounts

# The calls a fault can hit: the `Venue` interface and the trading calls.
_FAULTABLE = frozenset(
    {
        "fetch_balance",
        "transfer",
        "fetch_transfer",
        "fetch_deposits",
        "fetch_ticker",
        "create_order",
        "cancel_order",
        "fetch_order",
        "fetch_open_orders",
        "fetch_order_by_client_id",
        "fetch_fills",
        "subscribe_fills",
    }
)
_TIMES_OUT_AFTER_MOVING = frozenset({"transfer", "create_order"})


def _round(amount: float) -> float:
    return round(amount, _DECIMALS)


@dataclass(frozen=True)
class Route:
    """How an on-chain withdrawal between two exchanges behaves.

    ``delay`` seconds until the money arrives, a flat ``fee`` in the transferred currency,
    and ``jitter``: the delay varies by up to that fraction of itself (drawn from the seed).
    """

    delay: float = 60.0
    fee: float = 1.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.delay) and self.delay >= 0):
            raise ValueError(f"route delay must be >= 0 seconds, got {self.delay!r}")
        if not (math.isfinite(self.fee) and self.fee >= 0):
            raise ValueError(f"route fee must be >= 0, got {self.fee!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"route jitter must be a fraction in [0, 1], got {self.jitter!r}")


@dataclass(frozen=True)
class MarketSpec:
    """How one market behaves: its starting ``price`` and a seeded random walk stepped every ``tick``
    seconds, each step moving the price by ``volatility`` (relative standard deviation).

    ``spread`` is (ask - bid) / mid. A resting order fills at most ``depth`` base per tick; a market
    order takes ``depth`` per level, each level up to ``slippage_bps`` worse than the one before.
    ``fee_bps`` is charged on every fill, in the quote currency.
    """

    price: float
    volatility: float = 0.001
    tick: float = 1.0
    spread: float = 0.0005
    depth: float = 1.0
    slippage_bps: float = 5.0
    fee_bps: float = 10.0

    def __post_init__(self) -> None:
        for name in ("price", "tick", "depth"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"market {name} must be > 0, got {value!r}")
        for name in ("volatility", "slippage_bps", "fee_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"market {name} must be >= 0, got {value!r}")
        if not 0 <= self.spread < 1:
            raise ValueError(f"market spread must be a fraction in [0, 1), got {self.spread!r}")


class MovementKind(enum.StrEnum):
    """What caused a balance change. ``opening``, ``deposit``, ``external`` and ``trade`` bring money
    into (or take it out of) the world; ``fee`` and ``trade_fee`` go to the venue; the rest move
    money inside it."""

    OPENING = "opening"  # a balance given to the constructor
    DEPOSIT = "deposit"  # `SimulatedVenue.deposit`: money entering from outside
    EXTERNAL = "external"  # `SimulatedVenue.external_adjust`: a change the desk did not make
    DEBIT = "debit"  # a transfer leaving its source (net of the fee)
    FEE = "fee"  # a transfer's fee, taken from the source
    CREDIT = "credit"  # a transfer reaching its destination
    TRADE = "trade"  # one leg of a fill: base or quote exchanged with the world's counterparty
    TRADE_FEE = "trade_fee"  # a fill's fee, in the quote currency


_EXTERNAL_KINDS = frozenset({MovementKind.OPENING, MovementKind.DEPOSIT, MovementKind.EXTERNAL, MovementKind.TRADE})
_FEE_KINDS = frozenset({MovementKind.FEE, MovementKind.TRADE_FEE})


class Movement(msgspec.Struct, frozen=True):
    """One balance change in the venue's audit: ``delta`` of ``currency`` on ``exchange``/``account``.

    ``seq`` orders the audit; ``at`` is the simulated time the change took effect.
    """

    seq: int
    at: float
    kind: MovementKind
    exchange: Exchange
    account: str
    currency: Currency
    delta: float
    client_id: str | None = None
    note: str = ""


class _Rejection:
    __slots__ = ("method", "remaining")

    def __init__(self, method: str | None, remaining: int) -> None:
        self.method = method
        self.remaining = remaining


class Faults:
    """The trouble a `SimulatedVenue` is told to make: rejections, timeouts, outages, latency,
    and replayed or lost fill pushes.

    Reach it as ``venue.faults``; each fault is consumed by the calls it hits, in call order,
    so a run is repeatable. An outage is checked first (it consumes nothing), then rejections.
    Operator helpers (``deposit``, ``settle``, ``audit``...) and the market's own ticks are
    never faulted: prices move and resting orders fill during an outage.
    """

    def __init__(self, clock: Clock, lock: threading.Lock) -> None:
        self._clock = clock
        self._lock = lock
        self._rejections: list[_Rejection] = []
        self._timeouts: dict[str, int] = {}
        self._outage_until: float | None = None
        self._latency = 0.0
        self._duplicate_fills = 0
        self._dropped_pushes = 0

    def reject_next(self, n: int = 1, method: str | None = None) -> None:
        """The next ``n`` calls (of ``method`` only, when named) raise `VenueRejected` and do nothing."""
        if method is not None and method not in _FAULTABLE:
            raise ValueError(f"cannot fault {method!r}: choose one of {sorted(_FAULTABLE)}")
        _check_count(n)
        with self._lock:
            self._rejections.append(_Rejection(method, n))
        logger.info("simulated venue: rejecting the next {} {} call(s)", n, method or "venue")

    def timeout_after_move_next(self, n: int = 1, method: str = "transfer") -> None:
        """The next ``n`` ``transfer`` (or ``create_order``) calls do their work and record it under
        the caller's id, then raise `VenueTimeout` instead of answering."""
        if method not in _TIMES_OUT_AFTER_MOVING:
            raise ValueError(f"cannot time out {method!r} after moving: choose one of {sorted(_TIMES_OUT_AFTER_MOVING)}")
        _check_count(n)
        with self._lock:
            self._timeouts[method] = self._timeouts.get(method, 0) + n
        logger.info("simulated venue: the next {} {} call(s) time out after moving money", n, method)

    def outage(self, seconds: float) -> None:
        """Every call raises `VenueUnavailable` until the clock passes now + ``seconds``."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"an outage lasts >= 0 seconds, got {seconds!r}")
        with self._lock:
            self._outage_until = self._clock.now() + seconds
        logger.info("simulated venue: outage for {} s", seconds)

    def latency(self, seconds: float) -> None:
        """Each call blocks ``seconds`` of real time before it runs (a slow network); 0 disables."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"latency must be >= 0 seconds, got {seconds!r}")
        with self._lock:
            self._latency = seconds

    def duplicate_next_fill(self, n: int = 1) -> None:
        """The next ``n`` pushed fills are pushed twice, with the same ``trade_id`` (a websocket replay)."""
        _check_count(n)
        with self._lock:
            self._duplicate_fills += n

    def drop_next_fill_push(self, n: int = 1) -> None:
        """The next ``n`` pushed fills are lost on the way (the trade happens; `fetch_order` shows it)."""
        _check_count(n)
        with self._lock:
            self._dropped_pushes += n

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._rejections.clear()
            self._timeouts.clear()
            self._outage_until = None
            self._latency = 0.0
            self._duplicate_fills = 0
            self._dropped_pushes = 0

    # The venue calls these while holding its lock.

    def _wait_latency(self) -> None:
        if self._latency > 0:
            time.sleep(self._latency)

    def _raise_if_failing(self, method: str) -> None:
        if self._outage_until is not None:
            if self._clock.now() < self._outage_until:
                raise VenueUnavailable(f"simulated outage: {method} unavailable until {self._outage_until:.3f}")
            self._outage_until = None
        for rejection in self._rejections:
            if rejection.method in (None, method):
                rejection.remaining -= 1
                if rejection.remaining == 0:
                    self._rejections.remove(rejection)
                raise VenueRejected(f"simulated rejection of {method}")

    def _take_timeout(self, method: str) -> bool:
        if not self._timeouts.get(method):
            return False
        self._timeouts[method] -= 1
        return True

    def _copies_of_next_push(self) -> int:
        """How many times the next fill is pushed: 0 (lost), 1, or 2 (replayed)."""
        if self._dropped_pushes:
            self._dropped_pushes -= 1
            return 0
        if self._duplicate_fills:
            self._duplicate_fills -= 1
            return 2
        return 1


def _check_count(n: int) -> None:
    if n < 1:
        raise ValueError(f"a fault count must be >= 1, got {n!r}")


class _Market:
    """One market's state: the seeded mid-price walk, the touch, the last traded price."""

    def __init__(self, name: str, spec: MarketSpec, seeds: random.Random, now: float) -> None:
        self.name = name
        self.base, self.quote = split_market(name)
        self.spec = spec
        self.price_rng = random.Random(seeds.getrandbits(64))  # the price path depends on time only
        self.trade_rng = random.Random(seeds.getrandbits(64))  # slippage depends on the order flow
        self.mid = spec.price
        self.last = spec.price
        self.timestamp = now

    @property
    def bid(self) -> float:
        return _round(self.mid * (1 - self.spec.spread / 2))

    @property
    def ask(self) -> float:
        return _round(self.mid * (1 + self.spec.spread / 2))

    def step(self, now: float) -> None:
        """One tick of the walk; the rest of the world trades at the new mid."""
        self.mid = _round(self.mid * math.exp(self.spec.volatility * self.price_rng.gauss(0.0, 1.0)))
        self.last = self.mid
        self.timestamp = now

    def touch(self, side: Side) -> float:
        """The price a taker on ``side`` gets now: the ask for a buy, the bid for a sell."""
        return self.ask if side is Side.BUY else self.bid

    def reaches(self, order: Order) -> bool:
        """Has the touch reached a limit order's price?"""
        assert order.price is not None
        return self.ask <= order.price if order.side is Side.BUY else self.bid >= order.price

    def sweep(self, side: Side, quantity: float) -> list[tuple[float, float]]:
        """A market order's fills as (quantity, price): ``depth`` per level, each level worse."""
        levels: list[tuple[float, float]] = []
        step = 1 + self.spec.slippage_bps / 10_000
        touch = self.touch(side)
        remaining = quantity
        while remaining > _EPSILON:
            size = _round(min(remaining, self.spec.depth))
            worse = step ** (len(levels) + self.trade_rng.random())
            levels.append((size, _round(touch * worse if side is Side.BUY else touch / worse)))
            remaining = _round(remaining - size)
        return levels

    def fee(self, cost: float) -> float:
        return _round(cost * self.spec.fee_bps / 10_000)

    def ticker(self) -> Ticker:
        return Ticker(market=self.name, bid=self.bid, ask=self.ask, last=self.last, timestamp=self.timestamp)


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
        self._rng = random.Random(seed)
        self._transfer_rng = random.Random(self._rng.getrandbits(64))
        self._routes = {(Exchange(a), Exchange(b)): route for (a, b), route in (routes or {}).items()}
        self._default_route = default_route
        self._balances: dict[tuple[Exchange, str], dict[Currency, float]] = {}
        self._deposits: dict[tuple[Exchange, str], list[Deposit]] = {}
        self._transfers: dict[str, TransferResult] = {}
        self._arrivals: list[tuple[float, int, str]] = []  # (due, order, client_id) of pending transfers
        self._audit: list[Movement] = []
        self._fees: dict[Currency, float] = {}
        self._external: dict[Currency, float] = {}
        self._arrival_order = itertools.count()
        self._deposit_ids = itertools.count(1)
        self._markets = {name.lower(): _Market(name.lower(), spec, self._rng, clock.now()) for name, spec in sorted((markets or {}).items())}
        self._orders: dict[str, Order] = {}
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._client_orders: dict[str, str] = {}  # client_order_id -> order_id
        self._fills: list[Fill] = []  # every fill, oldest first
        self._open_orders: dict[str, list[str]] = {name: [] for name in self._markets}  # per market, oldest first
        self._subscriptions: dict[tuple[Exchange, str], list[Subscription[tuple[Exchange, str]]]] = {}
        self._pushes: deque[tuple[Subscription[tuple[Exchange, str]], Fill]] = deque()
        self._push_lock = threading.Lock()  # held by the one thread delivering pushes
        for (exchange, account), currencies in (balances or {}).items():
            self.add_account(exchange, account)
            for currency, amount in currencies.items():
                if not (math.isfinite(amount) and amount >= 0):
                    raise ValueError(f"opening balance of {currency} on {exchange}.{account} must be >= 0, got {amount!r}")
                if amount > 0:
                    with self._lock:
                        self._move(MovementKind.OPENING, (Exchange(exchange), account), Currency(currency), amount, note="opening balance")
        self._tickers: list[Repeating] = [
            call_every(clock, market.spec.tick, lambda now, name=name: self._on_tick(name, now))  # type: ignore[misc]
            for name, market in self._markets.items()
        ]

    def close(self) -> None:
        """Stop the market timers: prices freeze and resting orders no longer fill."""
        for ticker in self._tickers:
            ticker.cancel()

    # --- accounts -------------------------------------------------------------------------

    def add_account(self, exchange: Exchange, account: str) -> None:
        """Open an empty account (nothing happens if it exists)."""
        key = (Exchange(exchange), account)
        with self._lock:
            self._balances.setdefault(key, {})
            self._deposits.setdefault(key, [])

    def _account(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        balances = self._balances.get((exchange, account))
        if balances is None:
            raise VenueRejected(f"unknown account {_name(exchange, account)}")
        return balances

    # --- the Venue interface --------------------------------------------------------------

    def fetch_balance(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        """Every currency the account has held, with its balance now."""
        with self._call("fetch_balance"):
            return dict(self._account(exchange, account))

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
            result = self._transfers.get(client_id)
            if result is None:
                source, destination = (Exchange(from_exchange), from_account), (Exchange(to_exchange), to_account)
                result = self._new_transfer(client_id, source, destination, Currency(currency), amount)
                self._transfers[client_id] = result
            if self.faults._take_timeout("transfer"):
                raise VenueTimeout(f"simulated timeout after transfer {client_id} ({result.status})")
            return result

    def fetch_transfer(self, client_id: str) -> TransferResult | None:
        """The transfer made with ``client_id`` as it stands now, or None if never seen."""
        with self._call("fetch_transfer"):
            return self._transfers.get(client_id)

    def fetch_deposits(self, exchange: Exchange, account: str) -> list[Deposit]:
        """Money credited to the account so far (deposits and arrived transfers), oldest first."""
        with self._call("fetch_deposits"):
            self._account(exchange, account)
            return list(self._deposits[(exchange, account)])

    # --- trading ----------------------------------------------------------------------------

    def fetch_ticker(self, market: str) -> Ticker:
        """The market's bid, ask and last price now."""
        with self._call("fetch_ticker"):
            return self._market(market).ticker()

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
            order_id = self._client_orders.get(client_order_id) if client_order_id is not None else None
            if order_id is None:
                now = self._clock.now()
                limit = OrderType(order_type) is OrderType.LIMIT and price is not None and math.isfinite(price)
                order = Order(
                    order_id=f"O{next(self._order_ids)}",
                    exchange=Exchange(exchange),
                    account=account,
                    market=market.lower(),
                    side=Side(side),
                    order_type=OrderType(order_type),
                    quantity=_round(quantity) if math.isfinite(quantity) else 0.0,
                    status=OrderStatus.OPEN,
                    price=_round(price) if limit else None,  # type: ignore[arg-type]
                    client_order_id=client_order_id,
                    created_at=now,
                    updated_at=now,
                )
                order_id = self._place(order, quantity, price).order_id
            if self.faults._take_timeout("create_order"):
                raise VenueTimeout(f"simulated timeout after create_order {order_id}")
            return self._orders[order_id]

    def cancel_order(self, order_id: str) -> Order:
        """Cancel an open order (what was filled stays filled); a finished order is returned as it is."""
        with self._call("cancel_order"):
            order = self._order(order_id)
            if order.status is OrderStatus.OPEN:
                order = self._finish(order, OrderStatus.CANCELED, "canceled by the caller")
            return order

    def fetch_order(self, order_id: str) -> Order:
        """The order as it stands now."""
        with self._call("fetch_order"):
            return self._order(order_id)

    def fetch_open_orders(self, exchange: Exchange, account: str) -> list[Order]:
        """The account's open orders, oldest first."""
        with self._call("fetch_open_orders"):
            self._account(exchange, account)
            return [order for order in self._open() if (order.exchange, order.account) == (exchange, account)]

    def fetch_order_by_client_id(self, exchange: Exchange, account: str, client_order_id: str) -> Order | None:
        """The account's order placed with ``client_order_id``, or None if never seen."""
        with self._call("fetch_order_by_client_id"):
            self._account(exchange, account)
            order_id = self._client_orders.get(client_order_id)
            order = self._orders.get(order_id) if order_id is not None else None
            return order if order is not None and (order.exchange, order.account) == (exchange, account) else None

    def fetch_fills(self, exchange: Exchange, account: str, since: float) -> list[Fill]:
        """The account's fills with ``timestamp >= since``, oldest first."""
        with self._call("fetch_fills"):
            self._account(exchange, account)
            return [f for f in self._fills if (f.exchange, f.account) == (exchange, account) and f.timestamp >= since]

    def subscribe_fills(self, exchange: Exchange, account: str, callback: Callable[[Fill], None]) -> Subscription[tuple[Exchange, str]]:
        """Push every later fill of the account to ``callback`` (each `Fill` has a unique ``trade_id``)."""
        with self._call("subscribe_fills"):
            key = (Exchange(exchange), account)
            self._account(*key)
            subscription = Subscription(key, _name(*key), callback, self._unsubscribe)
            self._subscriptions.setdefault(key, []).append(subscription)
            return subscription

    # --- operator and test helpers (never faulted) ----------------------------------------

    def deposit(self, exchange: Exchange, account: str, currency: Currency, amount: float, note: str = "external") -> Deposit:
        """Money entering the world: credit ``amount`` to the account and record a `Deposit`."""
        if not (math.isfinite(amount) and _round(amount) > 0):
            raise ValueError(f"a deposit must be a positive amount, got {amount!r}")
        key = (Exchange(exchange), account)
        with self._lock:
            self._settle_due()
            self._account(*key)
            self._move(MovementKind.DEPOSIT, key, Currency(currency), amount, note=note)
            return self._record_deposit(key, Currency(currency), _round(amount), self._clock.now())

    def external_adjust(self, exchange: Exchange, account: str, currency: Currency, delta: float, note: str) -> None:
        """Money appearing (``delta`` > 0) or vanishing without the desk's knowledge, such as an
        unseen fee. No `Deposit` is recorded. It cannot take a balance below zero."""
        if not math.isfinite(delta):
            raise ValueError(f"an adjustment must be finite, got {delta!r}")
        key = (Exchange(exchange), account)
        with self._lock:
            self._settle_due()
            balance = self._account(*key).get(Currency(currency), 0.0)
            if balance + _round(delta) < -_EPSILON:
                raise ValueError(f"adjusting {_name(*key)} {currency} by {delta} would leave {balance + delta}")
            self._move(MovementKind.EXTERNAL, key, Currency(currency), delta, note=note)

    def all_balances(self) -> dict[tuple[Exchange, str], dict[Currency, float]]:
        """Every account's balances now, keyed by (exchange, account)."""
        with self._lock:
            self._settle_due()
            return {key: dict(balances) for key, balances in self._balances.items()}

    def settle(self) -> None:
        """Credit every transfer due at ``clock.now()`` (every call does this first anyway)."""
        with self._lock:
            self._settle_due()

    def audit(self) -> list[Movement]:
        """Every balance change so far, in order."""
        with self._lock:
            self._settle_due()
            return list(self._audit)

    def in_flight(self, currency: Currency) -> float:
        """Money debited by pending withdrawals and not yet credited (net of fees)."""
        with self._lock:
            self._settle_due()
            return self._in_flight(Currency(currency))

    def fees_collected(self, currency: Currency) -> float:
        """Transfer and trading fees the venue has taken in ``currency``."""
        with self._lock:
            self._settle_due()
            return self._fees.get(Currency(currency), 0.0)

    def conservation_error(self) -> dict[Currency, float]:
        """Per currency: balances + in flight + fees - money that entered from outside
        (opening balances, deposits, external adjustments, and the world's side of every trade).

        Every value is ~0 (well under a cent) when the venue created and lost nothing.
        """
        with self._lock:
            self._settle_due()
            held: dict[Currency, float] = {}
            for balances in self._balances.values():
                for currency, amount in balances.items():
                    held[currency] = held.get(currency, 0.0) + amount
            currencies = set(held) | set(self._fees) | set(self._external)
            currencies |= {self._transfers[client_id].currency for _, _, client_id in self._arrivals}
            return {
                currency: held.get(currency, 0.0)
                + self._in_flight(currency)
                + self._fees.get(currency, 0.0)
                - self._external.get(currency, 0.0)
                for currency in sorted(currencies)
            }

    # --- internals (the caller holds the lock) --------------------------------------------

    @contextlib.contextmanager
    def _call(self, method: str) -> Iterator[None]:
        """One faultable venue call: latency, then under the lock settle and apply faults."""
        self.faults._wait_latency()
        try:
            with self._lock:
                self._settle_due()
                self.faults._raise_if_failing(method)
                yield
        finally:
            self._deliver_pushes()

    def _new_transfer(
        self, client_id: str, source: tuple[Exchange, str], destination: tuple[Exchange, str], currency: Currency, amount: float
    ) -> TransferResult:
        now = self._clock.now()
        cross = source[0] != destination[0]
        route = self._routes.get((source[0], destination[0]), self._default_route) if cross else Route(delay=0.0, fee=0.0)
        fee = _round(route.fee)
        result = TransferResult(
            client_id=client_id,
            status=TransferStatus.FAILED,
            from_exchange=source[0],
            from_account=source[1],
            to_exchange=destination[0],
            to_account=destination[1],
            currency=currency,
            amount=_round(amount) if math.isfinite(amount) else 0.0,
            fee=fee,
            created_at=now,
        )
        reason = self._refusal(result, amount)
        if reason:
            logger.info("simulated venue refused transfer {}: {}", client_id, reason)
            return msgspec.structs.replace(result, reason=reason)
        net = _round(result.amount - fee)
        self._move(MovementKind.DEBIT, source, currency, -net, client_id=client_id)
        if fee > 0:
            self._move(MovementKind.FEE, source, currency, -fee, client_id=client_id)
        if not cross:
            self._move(MovementKind.CREDIT, destination, currency, net, client_id=client_id)
            self._record_deposit(destination, currency, net, now, client_id=client_id, source=source)
            return msgspec.structs.replace(result, status=TransferStatus.OK, completed_at=now)
        delay = route.delay
        if route.jitter:
            delay *= 1 + route.jitter * self._transfer_rng.uniform(-1.0, 1.0)
        heapq.heappush(self._arrivals, (now + delay, next(self._arrival_order), client_id))
        logger.debug("simulated venue: {} {} {} -> {} in flight for {:.1f} s", client_id, net, currency, _name(*destination), delay)
        return msgspec.structs.replace(result, status=TransferStatus.PENDING)

    def _refusal(self, result: TransferResult, requested: float) -> str:
        """Why the transfer cannot be made, or "" when it can."""
        for exchange, account in ((result.from_exchange, result.from_account), (result.to_exchange, result.to_account)):
            if (exchange, account) not in self._balances:
                return f"unknown account {_name(exchange, account)}"
        if (result.from_exchange, result.from_account) == (result.to_exchange, result.to_account):
            return "source and destination are the same account"
        if not (math.isfinite(requested) and result.amount > 0):
            return f"amount must be a positive number, got {requested!r}"
        if result.fee >= result.amount:
            return f"fee {result.fee} {result.currency} is not less than the amount {result.amount}"
        available = self._available((result.from_exchange, result.from_account), result.currency)
        if result.amount > available + _EPSILON:
            return f"insufficient funds: {result.amount} {result.currency} wanted, {available} available"
        return ""

    def _settle_due(self) -> None:
        now = self._clock.now()
        while self._arrivals and self._arrivals[0][0] <= now:
            due, _, client_id = heapq.heappop(self._arrivals)
            pending = self._transfers[client_id]
            destination = (pending.to_exchange, pending.to_account)
            net = _round(pending.amount - pending.fee)
            self._move(MovementKind.CREDIT, destination, pending.currency, net, client_id=client_id, at=due)
            source = (pending.from_exchange, pending.from_account)
            self._record_deposit(destination, pending.currency, net, due, client_id=client_id, source=source)
            self._transfers[client_id] = msgspec.structs.replace(pending, status=TransferStatus.OK, completed_at=due)
            logger.debug("simulated venue: transfer {} arrived at {}", client_id, _name(*destination))

    def _in_flight(self, currency: Currency) -> float:
        total = 0.0
        for _, _, client_id in self._arrivals:
            pending = self._transfers[client_id]
            if pending.currency == currency:
                total += _round(pending.amount - pending.fee)
        return _round(total)

    def _move(
        self,
        kind: MovementKind,
        key: tuple[Exchange, str],
        currency: Currency,
        delta: float,
        *,
        client_id: str | None = None,
        note: str = "",
        at: float | None = None,
    ) -> None:
        delta = _round(delta)
        balances = self._balances[key]
        balances[currency] = _round(balances.get(currency, 0.0) + delta)
        if kind in _EXTERNAL_KINDS:
            self._external[currency] = _round(self._external.get(currency, 0.0) + delta)
        elif kind in _FEE_KINDS:
            self._fees[currency] = _round(self._fees.get(currency, 0.0) - delta)
        self._audit.append(
            Movement(
                seq=len(self._audit) + 1,
                at=self._clock.now() if at is None else at,
                kind=kind,
                exchange=key[0],
                account=key[1],
                currency=currency,
                delta=delta,
                client_id=client_id,
                note=note,
            )
        )

    def _record_deposit(
        self,
        key: tuple[Exchange, str],
        currency: Currency,
        amount: float,
        at: float,
        *,
        client_id: str | None = None,
        source: tuple[Exchange, str] | None = None,
    ) -> Deposit:
        deposit = Deposit(
            deposit_id=f"dep-{next(self._deposit_ids)}",
            exchange=key[0],
            account=key[1],
            currency=currency,
            amount=amount,
            credited_at=at,
            client_id=client_id,
            from_exchange=source[0] if source else None,
            from_account=source[1] if source else None,
        )
        self._deposits[key].append(deposit)
        return deposit

    # --- trading internals (the caller holds the lock, except where said) -------------------

    def _market(self, market: str) -> _Market:
        found = self._markets.get(market.lower())
        if found is None:
            raise VenueRejected(f"unknown market {market}")
        return found

    def _order(self, order_id: str) -> Order:
        order = self._orders.get(order_id)
        if order is None:
            raise VenueRejected(f"unknown order {order_id}")
        return order

    def _open(self) -> Iterator[Order]:
        for order_ids in self._open_orders.values():
            for order_id in order_ids:
                yield self._orders[order_id]

    def _held(self, key: tuple[Exchange, str], currency: Currency) -> float:
        """What the account's open orders hold of ``currency``: what they could still spend."""
        held = 0.0
        for order in self._open():
            if (order.exchange, order.account) != key:
                continue
            market = self._markets[order.market]
            if order.side is Side.SELL and market.base == currency:
                held += order.remaining
            elif order.side is Side.BUY and market.quote == currency:
                assert order.price is not None
                cost = order.remaining * order.price
                held += cost + market.fee(cost)
        return _round(held)

    def _available(self, key: tuple[Exchange, str], currency: Currency) -> float:
        return _round(self._balances[key].get(currency, 0.0) - self._held(key, currency))

    def _place(self, order: Order, quantity: float, price: float | None) -> Order:
        """Record a new order, then reject it, fill it at once, or rest it (``quantity`` and
        ``price`` are what the caller asked, before rounding)."""
        self._orders[order.order_id] = order
        if order.client_order_id is not None:
            self._client_orders[order.client_order_id] = order.order_id
        levels: list[tuple[float, float]] = []
        reason = self._order_refusal(order, quantity, price)
        if not reason and order.order_type is OrderType.MARKET:
            levels = self._markets[order.market].sweep(order.side, order.quantity)
            reason = self._unaffordable(order, levels)
        elif not reason:
            reason = self._unaffordable(order, [(order.quantity, order.price)])  # type: ignore[list-item]
        if reason:
            logger.info("simulated venue rejected order {} on {}: {}", order.order_id, _name(order.exchange, order.account), reason)
            return self._finish(order, OrderStatus.REJECTED, reason)
        if order.order_type is OrderType.MARKET:
            for size, level_price in levels:
                order = self._fill(order, size, level_price)
            return order
        self._open_orders[order.market].append(order.order_id)
        book = self._markets[order.market]
        if book.reaches(order):  # marketable on arrival: a taker at the touch
            order = self._fill(order, min(order.remaining, book.spec.depth), book.touch(order.side))
        return order

    def _order_refusal(self, order: Order, quantity: float, price: float | None) -> str:
        """Why the order cannot be placed (funds aside), or "" when it can."""
        if (order.exchange, order.account) not in self._balances:
            return f"unknown account {_name(order.exchange, order.account)}"
        if order.market not in self._markets:
            return f"unknown market {order.market}"
        if not (math.isfinite(quantity) and order.quantity > 0):
            return f"quantity must be a positive number, got {quantity!r}"
        if order.order_type is OrderType.LIMIT and not (order.price is not None and order.price > 0):
            return f"a limit order needs a positive price, got {price!r}"
        return ""

    def _unaffordable(self, order: Order, levels: list[tuple[float, float]]) -> str:
        """Why the account cannot pay for ``levels`` of (quantity, price), or "" when it can."""
        market = self._markets[order.market]
        if order.side is Side.SELL:
            currency, needed = market.base, order.quantity
        else:
            cost = sum(_round(size * level_price) for size, level_price in levels)
            currency, needed = market.quote, cost + market.fee(cost)
        available = self._available((order.exchange, order.account), currency)
        if needed > available + _EPSILON:
            return f"insufficient funds: {_round(needed)} {currency} needed, {available} available"
        return ""

    def _fill(self, order: Order, size: float, price: float) -> Order:
        """Execute ``size`` of the order at ``price``: move the balances, audit, queue the push."""
        market = self._markets[order.market]
        key = (order.exchange, order.account)
        cost = _round(size * price)
        fee = market.fee(cost)
        base_delta, quote_delta = (size, -cost) if order.side is Side.BUY else (-size, cost)
        balances = self._balances[key]
        if balances.get(market.base, 0.0) + base_delta < -_EPSILON or balances.get(market.quote, 0.0) + quote_delta - fee < -_EPSILON:
            return self._finish(order, OrderStatus.CANCELED, "insufficient funds at fill (money left the account)")
        now = self._clock.now()
        trade_id = f"T{next(self._trade_ids)}"
        self._move(MovementKind.TRADE, key, market.base, base_delta, client_id=order.order_id, note=trade_id)
        self._move(MovementKind.TRADE, key, market.quote, quote_delta, client_id=order.order_id, note=trade_id)
        if fee > 0:
            self._move(MovementKind.TRADE_FEE, key, market.quote, -fee, client_id=order.order_id, note=trade_id)
        market.last = price
        filled = _round(order.filled + size)
        average = _round(((order.average_price or 0.0) * order.filled + price * size) / filled)
        order = msgspec.structs.replace(order, filled=filled, average_price=average, fee=_round(order.fee + fee), updated_at=now)
        self._orders[order.order_id] = order
        if order.remaining <= _EPSILON:
            order = self._finish(order, OrderStatus.FILLED)
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
        self._fills.append(fill)
        logger.debug("simulated venue: fill {} of {}: {} {} {} @ {}", trade_id, order.order_id, order.side, size, order.market, price)
        self._queue_push(fill)
        return order

    def _finish(self, order: Order, status: OrderStatus, reason: str = "") -> Order:
        order = msgspec.structs.replace(order, status=status, reason=reason, updated_at=self._clock.now())
        self._orders[order.order_id] = order
        open_ids = self._open_orders.get(order.market, [])
        if order.order_id in open_ids:
            open_ids.remove(order.order_id)
        return order

    def _on_tick(self, name: str, now: float) -> None:
        """A market's timer: step the price, fill the resting orders it reaches, push the fills."""
        try:
            with self._lock:
                self._settle_due()
                market = self._markets[name]
                market.step(now)
                for order_id in list(self._open_orders[name]):
                    order = self._orders[order_id]
                    if market.reaches(order):
                        assert order.price is not None
                        self._fill(order, min(order.remaining, market.spec.depth), order.price)
        finally:
            self._deliver_pushes()

    def _queue_push(self, fill: Fill) -> None:
        subscriptions = self._subscriptions.get((fill.exchange, fill.account))
        if not subscriptions:
            return
        copies = self.faults._copies_of_next_push()
        if copies != 1:
            logger.info("simulated venue: fill {} pushed {} time(s) (fault)", fill.trade_id, copies)
        for _ in range(copies):
            self._pushes.extend((subscription, fill) for subscription in subscriptions)

    def _deliver_pushes(self) -> None:
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

    def _unsubscribe(self, subscription: Subscription[tuple[Exchange, str]]) -> None:
        with self._lock:
            subscriptions = self._subscriptions.get(subscription.key, [])
            if subscription in subscriptions:
                subscriptions.remove(subscription)


def _name(exchange: Exchange, account: str) -> str:
    return str(AccountRef(Exchange(exchange), account))
