"""The simulated exchange world: one seeded, deterministic `Venue` with several exchanges and accounts.

Used for paper trading, demos and tests. It injects faults on demand and audits every balance
change, so a test can prove that no money was created or lost.
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import msgspec
from loguru import logger

from actors.venues.base import VenueRejected, VenueTimeout, VenueUnavailable
from messages.common import AccountRef, Currency, Exchange
from messages.venue import Deposit, TransferResult, TransferStatus
from supervisor.clock import Clock

__all__ = ["Faults", "Movement", "MovementKind", "Route", "SimulatedVenue"]

_DECIMALS = 8  # every movement is rounded to 1e-8
_EPSILON = 1e-9  # tolerance when comparing rounded amounts

# The calls a fault can hit: the `Venue` interface (and, later, the order calls).
_FAULTABLE = frozenset({"fetch_balance", "transfer", "fetch_transfer", "fetch_deposits"})


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


class MovementKind(enum.StrEnum):
    """What caused a balance change. ``opening``, ``deposit`` and ``external`` bring money into
    (or take it out of) the world; the others move it inside."""

    OPENING = "opening"  # a balance given to the constructor
    DEPOSIT = "deposit"  # `SimulatedVenue.deposit`: money entering from outside
    EXTERNAL = "external"  # `SimulatedVenue.external_adjust`: a change the desk did not make
    DEBIT = "debit"  # a transfer leaving its source (net of the fee)
    FEE = "fee"  # a transfer's fee, taken from the source
    CREDIT = "credit"  # a transfer reaching its destination


_EXTERNAL_KINDS = frozenset({MovementKind.OPENING, MovementKind.DEPOSIT, MovementKind.EXTERNAL})


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
    """The trouble a `SimulatedVenue` is told to make: rejections, timeouts, outages, latency.

    Reach it as ``venue.faults``; each fault is consumed by the calls it hits, in call order,
    so a run is repeatable. An outage is checked first (it consumes nothing), then rejections.
    Operator helpers (``deposit``, ``settle``, ``audit``...) are never faulted.
    """

    def __init__(self, clock: Clock, lock: threading.Lock) -> None:
        self._clock = clock
        self._lock = lock
        self._rejections: list[_Rejection] = []
        self._timeouts_after_move = 0
        self._outage_until: float | None = None
        self._latency = 0.0

    def reject_next(self, n: int = 1, method: str | None = None) -> None:
        """The next ``n`` calls (of ``method`` only, when named) raise `VenueRejected` and do nothing."""
        if method is not None and method not in _FAULTABLE:
            raise ValueError(f"cannot fault {method!r}: choose one of {sorted(_FAULTABLE)}")
        _check_count(n)
        with self._lock:
            self._rejections.append(_Rejection(method, n))
        logger.info("simulated venue: rejecting the next {} {} call(s)", n, method or "venue")

    def timeout_after_move_next(self, n: int = 1) -> None:
        """The next ``n`` ``transfer`` calls do their work and record it, then raise `VenueTimeout`."""
        _check_count(n)
        with self._lock:
            self._timeouts_after_move += n
        logger.info("simulated venue: the next {} transfer(s) time out after moving money", n)

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

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._rejections.clear()
            self._timeouts_after_move = 0
            self._outage_until = None
            self._latency = 0.0

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

    def _take_timeout(self) -> bool:
        if self._timeouts_after_move == 0:
            return False
        self._timeouts_after_move -= 1
        return True


def _check_count(n: int) -> None:
    if n < 1:
        raise ValueError(f"a fault count must be >= 1, got {n!r}")


class SimulatedVenue:
    """A simulated world of exchanges and accounts that implements `actors.venues.base.Venue`.

    Same-exchange transfers are instant; cross-exchange transfers are on-chain withdrawals,
    debited at once and credited ``route.delay`` seconds later (on the injected clock) minus
    ``route.fee``. Settlement is lazy: every call first credits what has fallen due. A repeated
    ``client_id`` returns the first transfer's current state and never moves money twice; a
    refused transfer is recorded too, so a retry needs a new ``client_id``.

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
        for (exchange, account), currencies in (balances or {}).items():
            self.add_account(exchange, account)
            for currency, amount in currencies.items():
                if not (math.isfinite(amount) and amount >= 0):
                    raise ValueError(f"opening balance of {currency} on {exchange}.{account} must be >= 0, got {amount!r}")
                if amount > 0:
                    with self._lock:
                        self._move(MovementKind.OPENING, (Exchange(exchange), account), Currency(currency), amount, note="opening balance")

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
            if self.faults._take_timeout():
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
        """Transfer fees the venue has taken in ``currency``."""
        with self._lock:
            self._settle_due()
            return self._fees.get(Currency(currency), 0.0)

    def conservation_error(self) -> dict[Currency, float]:
        """Per currency: balances + in flight + fees - money that entered from outside.

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
        with self._lock:
            self._settle_due()
            self.faults._raise_if_failing(method)
            yield

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
            self._fees[currency] = _round(self._fees.get(currency, 0.0) + fee)
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
        available = self._balances[(result.from_exchange, result.from_account)].get(result.currency, 0.0)
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


def _name(exchange: Exchange, account: str) -> str:
    return str(AccountRef(Exchange(exchange), account))
