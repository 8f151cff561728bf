"""The balance gateway: the single writer of balances, a thin actor around one `StrategyLedger` per account.

It resets the ledgers from the venue at start, answers allocate / release / adjust, applies
fills locally, reconciles against the venue on `Reconcile`, and publishes every change to
the balance board.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from actors.base import Actor
from actors.ledger import LedgerError, Reconciliation, StrategyBalance, StrategyLedger
from actors.venues.base import Venue, VenueError
from messages.balances import (
    Adjust,
    Allocate,
    Balances,
    BalanceView,
    GetBalances,
    LedgerReset,
    Reconcile,
    Reconciled,
    Release,
)
from messages.common import Currency, Exchange
from messages.system import Rejected
from messages.trading import Fill
from actors.stores.board import BalanceBoard
from supervisor.clock import Timer
from supervisor.errors import UnknownActorError

__all__ = ["Gateway", "GatewayAccount"]

_AccountKey = tuple[Exchange, str]


@dataclass(frozen=True)
class GatewayAccount:
    """One exchange account the gateway keeps a ledger for (configuration, plain data).

    ``currencies`` are opened even when the venue reports none of them; every currency the
    venue reports is opened too. ``credit_limits`` count as available money per currency.
    """

    exchange: Exchange
    account: str
    strategy_count: int = 8
    credit_limits: Mapping[Currency, float] = field(default_factory=dict)
    currencies: tuple[Currency, ...] = ()

    def __str__(self) -> str:
        return f"{self.exchange.value}.{self.account}"


class _Recent:
    """The last ``limit`` keys seen, oldest forgotten first: remembers which refs and trades were applied."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._keys: dict[Hashable, None] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def add(self, key: Hashable) -> None:
        self._keys[key] = None
        if len(self._keys) > self._limit:
            del self._keys[next(iter(self._keys))]


def _name(key: _AccountKey) -> str:
    return f"{key[0].value}.{key[1]}"


class Gateway(Actor):
    """The balance gateway. Give it to a ChildSpec named ``"gateway"``; address it by that name.

    ``accounts``: the first account listed for an exchange is that exchange's default; the
    first account overall is where commands naming no exchange go. ``strategies`` maps a
    sub-strategy slot index to the actor told `LedgerReset` when its slot is emptied.
    Answers: `BalanceView` or `Rejected` (commands), `Balances` (fills, `GetBalances`),
    `Reconciled`. An account whose venue is down at start is retried on every `Reconcile` and
    every ``retry_delay`` seconds; commands for it are rejected until then.
    """

    def __init__(
        self,
        venue: Venue,
        board: BalanceBoard,
        accounts: Sequence[GatewayAccount],
        strategies: Mapping[int, str] | None = None,
        *,
        retry_delay: float = 5.0,
        remember: int = 10_000,
    ) -> None:
        super().__init__()
        if not accounts:
            raise ValueError("the gateway needs at least one account")
        if not retry_delay > 0:
            raise ValueError(f"retry_delay must be > 0 seconds, got {retry_delay!r}")
        self.venue = venue
        self.board = board
        self.strategies = dict(strategies or {})
        self.retry_delay = retry_delay
        self._accounts: dict[_AccountKey, GatewayAccount] = {}
        self._defaults: dict[Exchange, str] = {}
        for spec in accounts:
            key = (spec.exchange, spec.account)
            if key in self._accounts:
                raise ValueError(f"account {spec} is listed twice")
            StrategyLedger(spec.exchange, spec.account, spec.strategy_count, spec.credit_limits)  # validates
            self._accounts[key] = spec
            self._defaults.setdefault(spec.exchange, spec.account)
        self._default: _AccountKey = (accounts[0].exchange, accounts[0].account)
        self._ledgers: dict[_AccountKey, StrategyLedger] = {}
        self._unavailable: dict[_AccountKey, str] = {}  # account -> why it is not initialised
        self._views: dict[tuple[Exchange, str, Currency], BalanceView] = {}
        self._refs = _Recent(remember)  # (exchange, account, currency, ref) of applied Adjusts
        self._trades = _Recent(remember)  # (exchange, account, trade_id) of applied fills
        # When each ledger's last venue snapshot was taken (before the fetch): a change that
        # happened at the venue strictly earlier is already counted in it.
        self._as_of: dict[_AccountKey, float] = {}
        self._retry: Timer | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def on_start(self) -> None:
        for exchange, account in self._defaults.items():
            self.board.set_default_account(exchange, account)
        for key in self._accounts:
            self._initialise(key)
        self._retry_later()

    def on_stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()

    # ---- commands --------------------------------------------------------------------------

    def on_allocate(self, message: Allocate) -> BalanceView | Rejected:
        return self._command(message, lambda ledger: ledger.allocate(message.currency, message.index, message.amount))

    def on_release(self, message: Release) -> BalanceView | Rejected:
        return self._command(message, lambda ledger: ledger.release(message.currency, message.index, message.amount))

    def on_adjust(self, message: Adjust) -> BalanceView | Rejected:
        def adjust(ledger: StrategyLedger) -> StrategyBalance | None:
            applied = (ledger.exchange, ledger.account, message.currency, message.ref)
            if message.ref is not None and applied in self._refs:
                ledger.get(message.currency)  # an unknown currency is still refused
                self.log.info("adjust {} was already applied; ignoring the repeat", message.ref)
                return None
            if self._already_counted(ledger, message.occurred_at):
                ledger.get(message.currency)
                self.log.info("adjust {} happened before the last venue snapshot of {}.{}: already counted",
                              message.ref or message.delta, ledger.exchange.value, ledger.account)
                return None
            record = ledger.adjust(message.currency, message.delta, message.index)
            if message.ref is not None:
                self._refs.add(applied)
            if record.available < 0:
                self.log.warning(
                    "{}.{} {}: pool + credit is {} after adjust {}; the next reconcile resets it unless the venue differs",
                    ledger.exchange.value, ledger.account, message.currency, record.available, message.delta,
                )
            return record

        return self._command(message, adjust)

    def _command(
        self,
        message: Allocate | Release | Adjust,
        operation: Callable[[StrategyLedger], StrategyBalance | None],
    ) -> BalanceView | Rejected:
        """Run ``operation`` on the addressed ledger; publish and answer the view, or reject with the reason."""
        kind = type(message).__name__
        try:
            ledger = self._ledger(message.exchange, message.account)
            record = operation(ledger)
        except LedgerError as error:
            reason = str(error)
            self.log.warning("{} refused ({}): {}", kind, message.strategy or "no strategy named", reason)
            return self.reply(Rejected(reason=reason, message_type=kind))  # type: ignore[return-value]
        if record is None:
            view = self._views[(ledger.exchange, ledger.account, message.currency)]
        else:
            view = self._publish(ledger, message.currency)
            self.log.info("{} by {}: {}.{} {} slots {}", kind, message.strategy or "?", ledger.exchange.value,
                          ledger.account, message.currency, list(view.slots))
        return self.reply(view)  # type: ignore[return-value]  # told back to a strategy that told us

    # ---- fills -----------------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> Balances | Rejected:
        """Apply an execution locally (no venue call); a trade already applied is ignored."""
        key = (fill.exchange, fill.account)
        trade = (fill.exchange, fill.account, fill.trade_id)
        try:
            ledger = self._ledger(fill.exchange, fill.account)
            if trade in self._trades or self._already_counted(ledger, fill.timestamp or None):
                self.log.info("fill {} on {} is already counted; ignoring it", fill.trade_id, _name(key))
                return Balances(views=[v for c in (fill.base, fill.quote) if (v := self._views.get((*key, c)))])
            moved = ledger.apply_fill(fill)
        except LedgerError as error:
            self.log.warning("fill {} not applied: {}", fill.trade_id, error)
            return Rejected(reason=str(error), message_type="Fill")
        self._trades.add(trade)
        return Balances(views=[self._publish(ledger, currency) for currency in moved])

    # ---- reconciliation ----------------------------------------------------------------------

    def on_reconcile(self, message: Reconcile) -> Reconciled:
        """Correct every total to the venue's figure; initialise accounts that are not yet."""
        self._retry = None
        checked = corrected = reset = 0
        for key in self._accounts:
            ledger = self._ledgers.get(key)
            if ledger is None:
                self._initialise(key)
                continue
            snapshot_at = self.clock.now()
            try:
                balances = self.venue.fetch_balance(*key)
            except VenueError as error:
                self.log.warning("reconcile of {} skipped: the venue did not answer ({})", _name(key), error)
                continue
            self._as_of[key] = snapshot_at
            for currency in dict.fromkeys([*ledger.currencies(), *balances]):
                try:
                    result = ledger.reconcile(currency, balances.get(currency, 0.0))
                except LedgerError as error:
                    self.log.error("reconcile of {} {} skipped: {}", _name(key), currency, error)
                    continue
                checked += 1
                corrected += result.corrected
                reset += result.reset
                self._report(ledger, result)
                if result.before != result.after:
                    self._publish(ledger, currency)
        self._retry_later()
        return Reconciled(checked=checked, corrected=corrected, reset=reset)

    def _report(self, ledger: StrategyLedger, result: Reconciliation) -> None:
        """Log a reconciliation's correction (before/after) and, when it had to reset, alert and tell the strategies."""
        where = f"{ledger.exchange.value}.{ledger.account} {result.currency}"
        before, after = result.before, result.after
        if before is None:
            self.log.info("reconcile: {} opened from the venue at {}", where, after.total)
            return
        if result.corrected:
            self.log.warning(
                "reconcile: {} total {} -> {} (venue); pool {} -> {}; sub-strategies kept {}",
                where, before.total, result.venue_total, before.pool, before.set(result.venue_total).pool,
                list(before.slots[2:]),
            )
        if result.reset:
            reason = (
                f"{where} cannot be repaired: with the venue's total {result.venue_total} the pool would be "
                f"{before.set(result.venue_total).pool} with credit {before.credit_limit}; the ledger was reset"
            )
            self.log.critical("ALERT {}: slots before {}, after {}; every strategy must request its capital again",
                              reason, list(before.slots), list(after.slots))
            self._tell_strategies(ledger, [result.currency], reason)

    # ---- queries -----------------------------------------------------------------------------

    def on_get_balances(self, message: GetBalances) -> Balances:
        return Balances(
            views=[
                view
                for (exchange, account, currency), view in self._views.items()
                if message.exchange in (None, exchange)
                and message.account in (None, account)
                and message.currency in (None, currency)
            ]
        )

    # ---- internals ---------------------------------------------------------------------------

    def _ledger(self, exchange: Exchange | None, account: str | None) -> StrategyLedger:
        """The initialised ledger a message addresses (defaults filled in), or `LedgerError` saying why not."""
        exchange = self._default[0] if exchange is None else exchange
        if account is None:
            account = self._defaults.get(exchange)
            if account is None:
                raise LedgerError(f"unknown exchange {exchange.value} (the gateway keeps {self._known()})")
        key = (exchange, account)
        if key not in self._accounts:
            raise LedgerError(f"unknown account {_name(key)} (the gateway keeps {self._known()})")
        ledger = self._ledgers.get(key)
        if ledger is None:
            raise LedgerError(
                f"{_name(key)} is not initialised: the venue could not be reached "
                f"({self._unavailable.get(key, 'not tried yet')}); it is retried on the next Reconcile"
            )
        return ledger

    def _known(self) -> str:
        return ", ".join(_name(key) for key in self._accounts)

    def _initialise(self, key: _AccountKey) -> bool:
        """Reset the account's ledger from the venue, publish it and tell the strategies; False if the venue is down."""
        spec = self._accounts[key]
        snapshot_at = self.clock.now()
        try:
            balances = self.venue.fetch_balance(*key)
        except VenueError as error:
            self._unavailable[key] = f"{type(error).__name__}: {error}"
            self.log.error("cannot initialise {} from the venue: {}; commands for it are refused until it is",
                           _name(key), error)
            return False
        ledger = StrategyLedger(spec.exchange, spec.account, spec.strategy_count, spec.credit_limits)
        currencies = list(dict.fromkeys([*spec.currencies, *balances]))
        for currency in currencies:
            ledger.reset(currency, balances.get(currency, 0.0))
            self._publish(ledger, currency)
        self._ledgers[key] = ledger
        self._as_of[key] = snapshot_at
        self._unavailable.pop(key, None)
        self.log.info("{} initialised from the venue: {}", _name(key),
                      {c.value: ledger.get_balance(c) for c in currencies})
        self._tell_strategies(ledger, currencies, f"{_name(key)} was reset from the venue's balances")
        return True

    def _already_counted(self, ledger: StrategyLedger, occurred_at: float | None) -> bool:
        """Whether a venue change at ``occurred_at`` is already in the ledger's last venue snapshot."""
        as_of = self._as_of.get((ledger.exchange, ledger.account))
        return occurred_at is not None and as_of is not None and occurred_at < as_of

    def _retry_later(self) -> None:
        """While an account is not initialised, send ourselves a `Reconcile` after ``retry_delay``."""
        if self._unavailable and self._retry is None:
            self._retry = self.send_later(self.retry_delay, self.name, Reconcile())

    def _publish(self, ledger: StrategyLedger, currency: Currency) -> BalanceView:
        view = ledger.view(currency, self.clock.now())
        self._views[(ledger.exchange, ledger.account, currency)] = view
        self.board.publish(view)
        return view

    def _tell_strategies(self, ledger: StrategyLedger, currencies: Iterable[Currency], reason: str) -> None:
        """Tell every strategy with a slot on ``ledger`` that its slot is empty: request your capital again."""
        for currency in currencies:
            for index, name in sorted(self.strategies.items()):
                if not 2 <= index < ledger.strategy_count:
                    continue
                notice = LedgerReset(exchange=ledger.exchange, account=ledger.account, currency=currency, reason=reason)
                try:
                    self.tell(name, notice)
                except UnknownActorError as error:
                    self.log.error("cannot tell strategy {} (slot {}) about the reset: {}", name, index, error)
