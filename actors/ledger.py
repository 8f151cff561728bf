"""The strategy ledger: per exchange account and currency, the total, the pool and one slot per sub-strategy.

Pure bookkeeping (no threads, no I/O), wrapped by the balance gateway actor. Slot 0 is the
total (the account's real balance), slot 1 the main strategy (the pool, unallocated money),
slots 2..N-1 one per sub-strategy. After every operation ``slot0 == sum(slots 1..N-1)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from messages.balances import BalanceView
from messages.common import Currency, Exchange
from messages.trading import Fill, Side

__all__ = [
    "INVARIANT_TOLERANCE",
    "MAX_SLOTS",
    "LedgerError",
    "Reconciliation",
    "StrategyBalance",
    "StrategyLedger",
    "fill_deltas",
    "invariant_error",
]

MAX_SLOTS = 64
"""A ledger has at most 64 slots: the total, the pool and up to 62 sub-strategies."""

INVARIANT_TOLERANCE = 1e-9
"""How far ``slot0`` may drift from ``fsum(slots 1..)``, relative to the ledger's size (see `invariant_error`)."""

TOTAL, POOL = 0, 1


class LedgerError(ValueError):
    """An operation the ledger cannot honour; the text says why. Nothing was changed."""


def invariant_error(slots: tuple[float, ...]) -> float:
    """``|slot0 - sum(slots 1..)|`` relative to ``max(1, max |slot|)``: 0 when the books balance.

    The ledger keeps this at a few ulps (the pool or the total is recomputed from the others
    with `math.fsum` on every operation, so rounding never accumulates).
    """
    scale = max(1.0, max(abs(s) for s in slots))
    return abs(slots[TOTAL] - math.fsum(slots[POOL:])) / scale


def _finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LedgerError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise LedgerError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _positive(amount: float) -> float:
    amount = _finite(amount, "amount")
    if amount <= 0:
        raise LedgerError(f"amount must be positive, got {amount!r}")
    return amount


@dataclass(frozen=True, slots=True)
class StrategyBalance:
    """One currency's slots on one account, and its credit limit. Immutable: operations return a new record.

    ``slots[0]`` is the total, ``slots[1]`` the pool, ``slots[2:]`` the sub-strategies' quotas.
    ``balance + credit_limit`` is what can really be spent (balance -30, credit 50 -> 20).
    """

    currency: Currency
    slots: tuple[float, ...]
    credit_limit: float = 0.0

    @classmethod
    def opened(
        cls, currency: Currency, balance: float, strategy_count: int, credit_limit: float = 0.0
    ) -> StrategyBalance:
        """A fresh record: total = pool = ``balance``, every sub-strategy slot 0 (the seed's ``reset``)."""
        balance = _finite(balance, "balance")
        return cls(currency, (balance, balance) + (0.0,) * (strategy_count - 2), credit_limit)

    @property
    def strategy_count(self) -> int:
        return len(self.slots)

    @property
    def total(self) -> float:
        return self.slots[TOTAL]

    @property
    def pool(self) -> float:
        return self.slots[POOL]

    @property
    def available(self) -> float:
        """What can still be allocated: the pool plus the credit limit."""
        return self.slots[POOL] + self.credit_limit

    def set(self, amount: float, index: int = TOTAL) -> StrategyBalance:
        """Slot ``index`` set to ``amount`` (see `adjust` for who absorbs the change)."""
        amount = _finite(amount, "amount")
        self._check_index(index, lowest=TOTAL)
        return self._moved(index, amount) if index < 2 else self._sub_moved(index, amount)

    def adjust(self, delta: float, index: int = TOTAL) -> StrategyBalance:
        """Slot ``index`` moved by the signed ``delta``.

        Index 0 moves the total and the pool absorbs it; index 1 moves the pool and the total
        follows; a sub-strategy slot moves with the pool absorbing it (the total is unchanged),
        under the same rules as `allocate` / `release`: the pool must have the money and the
        slot cannot go below zero.
        """
        delta = _finite(delta, "delta")
        self._check_index(index, lowest=TOTAL)
        value = self.slots[index] + delta
        return self._moved(index, value) if index < 2 else self._sub_moved(index, value)

    def allocate(self, index: int, amount: float) -> StrategyBalance:
        """``amount`` moved from the pool to sub-strategy slot ``index``; refused beyond pool + credit."""
        amount = _positive(amount)
        self._check_index(index, lowest=2)
        if amount > self.available:
            raise LedgerError(
                f"cannot allocate {amount} {self.currency} to slot {index}: only {self.available} available "
                f"(pool {self.pool} + credit {self.credit_limit})"
            )
        return self._moved(index, self.slots[index] + amount)

    def release(self, index: int, amount: float) -> StrategyBalance:
        """``amount`` moved from sub-strategy slot ``index`` back to the pool; refused beyond what the slot holds."""
        amount = _positive(amount)
        self._check_index(index, lowest=2)
        if amount > self.slots[index]:
            raise LedgerError(
                f"cannot release {amount} {self.currency} from slot {index}: it holds only {self.slots[index]}"
            )
        return self._moved(index, self.slots[index] - amount)

    def _check_index(self, index: int, lowest: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int):
            raise LedgerError(f"index must be an integer, got {index!r}")
        if not lowest <= index < len(self.slots):
            what = "a sub-strategy slot" if lowest == 2 else "a slot"
            raise LedgerError(f"index {index} is not {what}: choose {lowest}..{len(self.slots) - 1}")

    def _sub_moved(self, index: int, value: float) -> StrategyBalance:
        """Sub-strategy slot ``index`` set to ``value``: never below zero, never more than pool + credit added."""
        if value < 0:
            raise LedgerError(f"slot {index} of {self.currency} cannot go below zero (it would be {value})")
        increase = value - self.slots[index]
        if increase > self.available:
            raise LedgerError(
                f"cannot add {increase} {self.currency} to slot {index}: only {self.available} available "
                f"(pool {self.pool} + credit {self.credit_limit})"
            )
        return self._moved(index, value)

    def _moved(self, index: int, value: float) -> StrategyBalance:
        """Slot ``index`` set to ``value``, then rebalanced: index 1 recomputes the total, any other the pool."""
        slots = list(self.slots)
        slots[index] = value
        try:
            if index == POOL:
                slots[TOTAL] = math.fsum(slots[POOL:])
            else:
                slots[POOL] = slots[TOTAL] - math.fsum(slots[2:])
        except OverflowError:
            slots[TOTAL] = math.inf
        if not all(math.isfinite(s) for s in slots):
            raise LedgerError(f"the {self.currency} balance would not be finite after this operation")
        return StrategyBalance(self.currency, tuple(slots), self.credit_limit)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What reconciling one currency against the venue did: the record before and after."""

    currency: Currency
    venue_total: float
    before: StrategyBalance | None  # None: the ledger had not seen this currency
    after: StrategyBalance
    corrected: bool  # the total differed from the venue's figure (beyond float noise)
    reset: bool  # pool + credit went below zero, so the record was reset to the venue's figure


def fill_deltas(fill: Fill) -> dict[Currency, float]:
    """What an execution moves per currency: a buy adds ``quantity`` base and costs ``quantity * price``
    quote, a sell the reverse; the fee is taken in its currency."""
    base, quote = fill.base, fill.quote
    sign = 1.0 if fill.side is Side.BUY else -1.0
    parts: dict[Currency, list[float]] = {base: [sign * fill.quantity], quote: [-sign * fill.quantity * fill.price]}
    if fill.fee:
        parts.setdefault(fill.fee_currency or quote, []).append(-fill.fee)
    return {currency: math.fsum(values) for currency, values in parts.items()}


class StrategyLedger:
    """Every currency's `StrategyBalance` on one exchange account; the seed's operations by name.

    A currency exists once it has been `reset` (the gateway does that from the venue).
    Anything the ledger cannot honour raises `LedgerError` and changes nothing.
    """

    def __init__(
        self,
        exchange: Exchange,
        account: str,
        strategy_count: int = 8,
        credit_limits: Mapping[Currency, float] | None = None,
    ) -> None:
        if isinstance(strategy_count, bool) or not isinstance(strategy_count, int):
            raise LedgerError(f"strategy_count must be an integer, got {strategy_count!r}")
        if not 2 <= strategy_count <= MAX_SLOTS:
            raise LedgerError(
                f"strategy_count must be 2..{MAX_SLOTS} (total, pool, sub-strategies), got {strategy_count}"
            )
        limits = dict(credit_limits or {})
        for currency, limit in limits.items():
            if _finite(limit, f"credit limit of {currency}") < 0:
                raise LedgerError(f"credit limit of {currency} must be >= 0, got {limit!r}")
        self.exchange = exchange
        self.account = account
        self.strategy_count = strategy_count
        self.credit_limits: dict[Currency, float] = {c: float(v) for c, v in limits.items()}
        self._balances: dict[Currency, StrategyBalance] = {}

    def __repr__(self) -> str:
        return f"StrategyLedger({self.exchange}.{self.account}, {sorted(self._balances)})"

    # ---- the seed's operations -------------------------------------------------------------

    def reset(self, currency: Currency, balance: float) -> StrategyBalance:
        """Total = pool = ``balance``; every sub-strategy slot 0. Creates the currency if new."""
        record = StrategyBalance.opened(currency, balance, self.strategy_count, self.credit_limits.get(currency, 0.0))
        self._balances[currency] = record
        return record

    def set(self, currency: Currency, amount: float, index: int = TOTAL) -> StrategyBalance:
        """Slot ``index`` set to ``amount``; the pool absorbs the change (index 1: the total follows)."""
        return self._replace(self.get(currency).set(amount, index))

    def adjust(self, currency: Currency, delta: float, index: int = TOTAL) -> StrategyBalance:
        """Slot ``index`` moved by ``delta`` (a trade or transfer moves the total; the pool absorbs it)."""
        return self._replace(self.get(currency).adjust(delta, index))

    def allocate(self, currency: Currency, index: int, amount: float) -> StrategyBalance:
        """Pool -> sub-strategy slot ``index``; succeeds while pool + credit >= ``amount``."""
        return self._replace(self.get(currency).allocate(index, amount))

    def release(self, currency: Currency, index: int, amount: float) -> StrategyBalance:
        """Sub-strategy slot ``index`` -> pool; at most what the slot holds."""
        return self._replace(self.get(currency).release(index, amount))

    def get(self, currency: Currency) -> StrategyBalance:
        """The whole record for ``currency`` (an immutable snapshot)."""
        record = self._balances.get(currency)
        if record is None:
            known = ", ".join(sorted(self._balances)) or "none"
            raise LedgerError(f"unknown currency '{currency}' on {self.exchange}.{self.account} (known: {known})")
        return record

    def get_balance(self, currency: Currency, index: int = TOTAL) -> float:
        """One slot: 0 = total, 1 = pool, 2.. = a sub-strategy."""
        record = self.get(currency)
        record._check_index(index, lowest=TOTAL)
        return record.slots[index]

    # ---- beyond the seed ----------------------------------------------------------------

    def currencies(self) -> list[Currency]:
        """Every currency the ledger holds, in the order they were first reset."""
        return list(self._balances)

    def view(self, currency: Currency, now: float) -> BalanceView:
        """The record as the balance board shows it, stamped ``now``."""
        record = self.get(currency)
        return BalanceView(
            exchange=self.exchange,
            account=self.account,
            currency=currency,
            slots=record.slots,
            credit_limit=record.credit_limit,
            updated_at=now,
        )

    def reconcile(self, currency: Currency, venue_total: float) -> Reconciliation:
        """Set the total to the venue's figure: sub-strategies keep their slots, the pool absorbs.

        If then pool + credit < 0 the state cannot be repaired and the record is `reset` to the
        venue's figure (every sub-strategy must request its capital again). A currency the
        ledger has not seen is simply reset.
        """
        venue_total = _finite(venue_total, "venue balance")
        before = self._balances.get(currency)
        if before is None:
            return Reconciliation(currency, venue_total, None, self.reset(currency, venue_total), False, False)
        corrected = not math.isclose(
            before.total, venue_total, rel_tol=INVARIANT_TOLERANCE, abs_tol=INVARIANT_TOLERANCE
        )
        after = before.set(venue_total, TOTAL)
        tolerance = INVARIANT_TOLERANCE * max(1.0, abs(venue_total))
        unrepairable = after.available < -tolerance
        if unrepairable:
            after = StrategyBalance.opened(currency, venue_total, self.strategy_count, before.credit_limit)
        self._balances[currency] = after
        return Reconciliation(currency, venue_total, before, after, corrected, unrepairable)

    def apply_fill(self, fill: Fill) -> list[Currency]:
        """Apply an execution to the totals (the pool absorbs): a buy adds ``quantity`` base and
        costs ``quantity * price`` quote, a sell the reverse; the fee is taken in its currency.

        A fill is a fact, not a request: a currency the ledger has not seen starts at zero.
        Returns the currencies it moved. All or nothing.
        """
        if (fill.exchange, fill.account) != (self.exchange, self.account):
            raise LedgerError(f"fill for {fill.exchange}.{fill.account} applied to {self.exchange}.{self.account}")
        updated: dict[Currency, StrategyBalance] = {}
        for currency, delta in fill_deltas(fill).items():
            record = self._balances.get(currency) or StrategyBalance.opened(
                currency, 0.0, self.strategy_count, self.credit_limits.get(currency, 0.0)
            )
            if not math.isfinite(delta):
                raise LedgerError(f"fill {fill.trade_id} would move {currency} by {delta}: not a finite amount")
            updated[currency] = record.adjust(delta, TOTAL)
        self._balances.update(updated)
        return list(updated)

    def _replace(self, record: StrategyBalance) -> StrategyBalance:
        self._balances[record.currency] = record
        return record
