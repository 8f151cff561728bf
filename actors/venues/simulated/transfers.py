"""Money moving between accounts of the simulated world: instant inside an exchange, on chain across
exchanges (debited at once, credited after the route's delay minus its fee), and the deposits it records."""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import msgspec
from loguru import logger

from actors.venues.simulated.amounts import EPSILON, account_name, rounded
from actors.venues.simulated.audit import Books, MovementKind
from messages.common import Currency, Exchange, exchange_name
from messages.venue import Deposit, TransferResult, TransferStatus
from supervisor.clock import Clock

__all__ = ["Route", "Transfers"]

_Key = tuple[Exchange, str]


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


class Transfers:
    """Every transfer by client id (refusals too), the on-chain ones still in flight, and each account's deposits.

    Plain bookkeeping over the venue's `Books`; the venue holds its lock around every call.
    ``available(key, currency)`` is what an account may spend (its balance less what open orders hold).
    """

    def __init__(
        self,
        books: Books,
        clock: Clock,
        rng: random.Random,
        routes: Mapping[tuple[Exchange, Exchange], Route],
        default_route: Route,
        available: Callable[[_Key, Currency], float],
    ) -> None:
        self._books = books
        self._clock = clock
        self._rng = rng
        self._routes = {(exchange_name(a), exchange_name(b)): route for (a, b), route in routes.items()}
        self._default_route = default_route
        self._available = available
        self.results: dict[str, TransferResult] = {}
        self.arrivals: list[tuple[float, int, str]] = []  # (due, order, client_id) of pending transfers
        self.deposits: dict[_Key, list[Deposit]] = {}
        self._arrival_order = itertools.count()
        self._deposit_ids = itertools.count(1)

    def open(self, key: _Key) -> None:
        self.deposits.setdefault(key, [])

    def new(self, client_id: str, source: _Key, destination: _Key, currency: Currency, amount: float) -> TransferResult:
        """Make (or refuse) a transfer never seen before."""
        now = self._clock.now()
        cross = source[0] != destination[0]
        route = (
            self._routes.get((source[0], destination[0]), self._default_route) if cross else Route(delay=0.0, fee=0.0)
        )
        fee = rounded(route.fee)
        result = TransferResult(
            client_id=client_id,
            status=TransferStatus.FAILED,
            from_exchange=source[0],
            from_account=source[1],
            to_exchange=destination[0],
            to_account=destination[1],
            currency=currency,
            amount=rounded(amount) if math.isfinite(amount) else 0.0,
            fee=fee,
            created_at=now,
        )
        reason = self._refusal(result, amount)
        if reason:
            logger.info("simulated venue refused transfer {}: {}", client_id, reason)
            return msgspec.structs.replace(result, reason=reason)
        net = rounded(result.amount - fee)
        self._books.move(MovementKind.DEBIT, source, currency, -net, now, client_id=client_id)
        if fee > 0:
            self._books.move(MovementKind.FEE, source, currency, -fee, now, client_id=client_id)
        if not cross:
            self._books.move(MovementKind.CREDIT, destination, currency, net, now, client_id=client_id)
            self.record_deposit(destination, currency, net, now, client_id=client_id, source=source)
            return msgspec.structs.replace(result, status=TransferStatus.OK, completed_at=now)
        delay = route.delay
        if route.jitter:
            delay *= 1 + route.jitter * self._rng.uniform(-1.0, 1.0)
        heapq.heappush(self.arrivals, (now + delay, next(self._arrival_order), client_id))
        logger.debug(
            "simulated venue: {} {} {} -> {} in flight for {:.1f} s",
            client_id,
            net,
            currency,
            account_name(*destination),
            delay,
        )
        return msgspec.structs.replace(result, status=TransferStatus.PENDING)

    def _refusal(self, result: TransferResult, requested: float) -> str:
        """Why the transfer cannot be made, or "" when it can."""
        for exchange, account in ((result.from_exchange, result.from_account), (result.to_exchange, result.to_account)):
            if (exchange, account) not in self._books.balances:
                return f"unknown account {account_name(exchange, account)}"
        if (result.from_exchange, result.from_account) == (result.to_exchange, result.to_account):
            return "source and destination are the same account"
        if not (math.isfinite(requested) and result.amount > 0):
            return f"amount must be a positive number, got {requested!r}"
        if result.fee >= result.amount:
            return f"fee {result.fee} {result.currency} is not less than the amount {result.amount}"
        available = self._available((result.from_exchange, result.from_account), result.currency)
        if result.amount > available + EPSILON:
            return f"insufficient funds: {result.amount} {result.currency} wanted, {available} available"
        return ""

    def settle_due(self) -> None:
        """Credit every on-chain transfer whose arrival time has come."""
        now = self._clock.now()
        while self.arrivals and self.arrivals[0][0] <= now:
            due, _, client_id = heapq.heappop(self.arrivals)
            self._arrive(client_id, due)

    def _arrive(self, client_id: str, due: float) -> None:
        pending = self.results[client_id]
        destination = (pending.to_exchange, pending.to_account)
        net = rounded(pending.amount - pending.fee)
        self._books.move(MovementKind.CREDIT, destination, pending.currency, net, due, client_id=client_id)
        source = (pending.from_exchange, pending.from_account)
        self.record_deposit(destination, pending.currency, net, due, client_id=client_id, source=source)
        self.results[client_id] = msgspec.structs.replace(pending, status=TransferStatus.OK, completed_at=due)
        logger.debug("simulated venue: transfer {} arrived at {}", client_id, account_name(*destination))

    def arrive_early(self, key: _Key) -> None:
        """The oldest transfer on its way to ``key`` arrives now (an event racing a balance snapshot)."""
        for entry in sorted(self.arrivals):
            pending = self.results[entry[2]]
            if (pending.to_exchange, pending.to_account) == key:
                self.arrivals.remove(entry)
                heapq.heapify(self.arrivals)
                self._arrive(entry[2], self._clock.now())
                return

    def in_flight(self, currency: Currency) -> float:
        """Money debited by pending withdrawals of ``currency`` and not yet credited (net of fees)."""
        total = 0.0
        for _, _, client_id in self.arrivals:
            pending = self.results[client_id]
            if pending.currency == currency:
                total += rounded(pending.amount - pending.fee)
        return rounded(total)

    def in_flight_currencies(self) -> set[Currency]:
        return {self.results[client_id].currency for _, _, client_id in self.arrivals}

    def record_deposit(
        self,
        key: _Key,
        currency: Currency,
        amount: float,
        at: float,
        *,
        client_id: str | None = None,
        source: _Key | None = None,
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
        self.deposits[key].append(deposit)
        return deposit
