"""The balance gateway: the single writer of balances, a thin actor around one `StrategyLedger` per account.

(~550 lines: commands, fills, reconciliation, reservations and the snapshot-window rule all touch
the same ledgers and views; the bookkeeping itself lives in `actors.ledger`, `actors.snapshots`
and `actors.reservations`.)

It resets the ledgers from the venue at start, answers allocate / release / adjust, applies
fills locally, reconciles against the venue on `Reconcile`, and publishes every change to
the balance board. A venue change is counted exactly once whatever its timing relative to a
snapshot: one that happened while a snapshot was being fetched is held until a re-fetch says
whether the snapshot had it (`actors.snapshots`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from actors.base import Actor
from actors.ledger import LedgerError, Reconciliation, StrategyBalance, StrategyLedger, fill_deltas
from actors.reservations import Reservations
from actors.snapshots import HeldChange, Placement, Window, explain
from actors.stores.board import BalanceBoard
from actors.venues.base import Venue, VenueError
from messages.balances import (
    Adjust,
    Allocate,
    Balances,
    BalanceView,
    Booking,
    FundsReserved,
    GetBalances,
    LedgerCorrection,
    LedgerReset,
    MovementBooked,
    Reconcile,
    Reconciled,
    Release,
    ReleaseFunds,
    ReserveFunds,
    VenueMovement,
)
from messages.base import Message
from messages.common import Currency, Exchange
from messages.system import Rejected
from messages.trading import Fill
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
        return f"{self.exchange}.{self.account}"


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


class ResolveHeld(Message, frozen=True):
    """Internal (the gateway to itself): fetch again to settle the changes held on one account."""

    exchange: Exchange
    account: str


def _deltas(change: HeldChange) -> dict[str, float]:
    return {currency: delta for currency, delta in change.deltas.items()}


UNINITIALISED_ALERT = "gateway.uninitialised."
"""Alert key prefix (then ``exchange.account``): an account the gateway could not initialise from the venue."""


def _name(key: _AccountKey) -> str:
    return f"{key[0]}.{key[1]}"


class Gateway(Actor):
    """The balance gateway. Give it to a ChildSpec named ``"gateway"``; address it by that name.

    ``accounts``: the first account listed for an exchange is that exchange's default; the
    first account overall is where commands naming no exchange go. ``strategies`` maps a
    sub-strategy slot index to the actor told `LedgerReset` when its slot is emptied.
    Answers: `BalanceView` or `Rejected` (commands), `Balances` (fills, `GetBalances`),
    `MovementBooked` (the transfer executor's `VenueMovement`), `FundsReserved`, `Reconciled`.
    An account whose venue is down at start is retried on every `Reconcile` and
    every ``retry_delay`` seconds; commands for it are rejected until then. A fill or movement
    that happened during a snapshot's fetch is held and the venue fetched again at once (then every
    ``resolve_delay`` seconds) until the gap between venue and ledger says whether it is counted;
    after ``resolve_alert_after`` tries that cannot tell, an alert names what is held.
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
        resolve_delay: float = 1.0,
        resolve_alert_after: int = 5,
    ) -> None:
        super().__init__()
        if not accounts:
            raise ValueError("the gateway needs at least one account")
        if not retry_delay > 0:
            raise ValueError(f"retry_delay must be > 0 seconds, got {retry_delay!r}")
        if not resolve_delay > 0:
            raise ValueError(f"resolve_delay must be > 0 seconds, got {resolve_delay!r}")
        if resolve_alert_after < 1:
            raise ValueError(f"resolve_alert_after must be >= 1, got {resolve_alert_after!r}")
        self.venue = venue
        self.board = board
        self.strategies = dict(strategies or {})
        self.retry_delay = retry_delay
        self.resolve_delay = resolve_delay
        self.resolve_alert_after = resolve_alert_after
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
        # When each ledger's last venue snapshot was fetched: a change that happened at the venue
        # before the window is counted in it, one during the window is held until a re-fetch says.
        self._windows: dict[_AccountKey, Window] = {}
        self._held: dict[_AccountKey, list[HeldChange]] = {}
        self._corrections: dict[tuple[str, Currency], tuple[int, float]] = {}  # (count, total size) per ledger
        self._resolve_tries: dict[_AccountKey, int] = {}
        self._resolve_timers: dict[_AccountKey, Timer] = {}
        self._retry: Timer | None = None
        self._reservations = Reservations()  # pool money held for transfers about to be sent

    # ---- lifecycle -------------------------------------------------------------------------

    def on_start(self) -> None:
        for exchange, account in self._defaults.items():
            self.board.set_default_account(exchange, account)
        for key in self._accounts:
            self._initialise(key)
        self._retry_later()

    def on_stop(self) -> None:
        for timer in [self._retry, *self._resolve_timers.values()]:
            if timer is not None:
                timer.cancel()

    # ---- commands --------------------------------------------------------------------------

    def on_allocate(self, message: Allocate) -> BalanceView | Rejected:
        def allocate(ledger: StrategyLedger) -> StrategyBalance:
            reserved = self._reservations.held((ledger.exchange, ledger.account, message.currency), self.clock.now())
            if reserved and message.amount > ledger.get(message.currency).available - reserved:
                raise LedgerError(
                    f"cannot allocate {message.amount} {message.currency} to slot {message.index}: "
                    f"{reserved} of the pool is reserved for transfers being sent; "
                    f"{ledger.get(message.currency).available - reserved} available"
                )
            return ledger.allocate(message.currency, message.index, message.amount)

        return self._command(message, allocate)

    def on_reserve_funds(self, message: ReserveFunds) -> FundsReserved:
        """Hold pool money for a transfer about to be sent (the executor's board read may be stale)."""
        try:
            ledger = self._ledger(message.exchange, message.account)
            pool = ledger.get(message.currency).pool
        except LedgerError as error:
            reason = str(error)
        else:
            where = (ledger.exchange, ledger.account, message.currency)
            reason = self._reservations.reserve(where, message.ref, message.amount, pool, self.clock.now())
        if reason:
            self.log.info("reservation {} of {} refused: {}", message.ref, message.amount, reason)
        answer = FundsReserved(ref=message.ref, correlation_id=message.correlation_id, ok=not reason, reason=reason)
        return self.reply(answer)

    def on_release_funds(self, message: ReleaseFunds) -> None:
        self._reservations.release(message.ref)

    def on_release(self, message: Release) -> BalanceView | Rejected:
        return self._command(message, lambda ledger: ledger.release(message.currency, message.index, message.amount))

    def on_adjust(self, message: Adjust) -> BalanceView | Rejected:
        def adjust(ledger: StrategyLedger) -> StrategyBalance | None:
            applied = (ledger.exchange, ledger.account, message.currency, message.ref)
            if message.ref is not None and applied in self._refs:
                ledger.get(message.currency)  # an unknown currency is still refused
                self.log.info("adjust {} was already applied; ignoring the repeat", message.ref)
                return None
            ledger.get(message.currency)  # an unknown currency is refused before anything is held
            key = (ledger.exchange, ledger.account)
            placement = self._place(key, message.occurred_at)
            if placement is not Placement.NEW:
                if message.ref is not None:
                    self._refs.add(applied)
                if placement is Placement.COUNTED:
                    self.log.info(
                        "adjust {} happened before the last venue snapshot of {}: already counted",
                        message.ref or message.delta,
                        _name(key),
                    )
                else:
                    ref = message.ref or f"{message.delta:+} {message.currency}"
                    self._hold(
                        key,
                        HeldChange(
                            ("adjust", ref), message.occurred_at or 0.0, {message.currency: message.delta}, message
                        ),
                    )
                return None
            record = ledger.adjust(message.currency, message.delta, message.index)
            if message.ref is not None:
                self._refs.add(applied)
            if record.available < 0:
                self.log.warning(
                    "{}.{} {}: pool + credit is {} after adjust {}; the next reconcile resets it unless the venue "
                    "differs",
                    ledger.exchange,
                    ledger.account,
                    message.currency,
                    record.available,
                    message.delta,
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
            return self.reply(Rejected(reason=reason, message_type=kind))
        if record is None:
            view = self._views[(ledger.exchange, ledger.account, message.currency)]
        else:
            view = self._publish(ledger, message.currency)
            self.log.info(
                "{} by {}: {}.{} {} slots {}",
                kind,
                message.strategy or "?",
                ledger.exchange,
                ledger.account,
                message.currency,
                list(view.slots),
            )
        return self.reply(view)  # told back to a strategy that told us

    def on_venue_movement(self, message: VenueMovement) -> MovementBooked:
        """A transfer leg the venue made: applied once, whatever its timing relative to a snapshot."""
        try:
            ledger = self._ledger(message.exchange, message.account)
            ledger.get(message.currency)
            key = (ledger.exchange, ledger.account)
            booked = ("movement", *key, message.currency, message.ref)  # apart from the clients' Adjust refs
            self._reservations.release(message.ref.rpartition(":")[0])  # the source leg ends its reservation
            if booked in self._refs:
                return self._booked(message, Booking.REPEAT)
            placement = self._place(key, message.occurred_at)
            if placement is Placement.NEW:
                ledger.adjust(message.currency, message.delta)
        except LedgerError as error:
            self.log.warning("movement {} not booked: {}", message.ref, error)
            return self._booked(message, Booking.REFUSED, str(error))
        self._refs.add(booked)
        if placement is Placement.NEW:
            view = self._publish(ledger, message.currency)
            self.log.info(
                "movement {}: {} {} {:+} -> total {}",
                message.ref,
                _name(key),
                message.currency,
                message.delta,
                view.total,
            )
            return self._booked(message, Booking.APPLIED)
        if placement is Placement.COUNTED:
            self.log.info(
                "movement {} happened before the last venue snapshot of {}: already counted", message.ref, _name(key)
            )
            return self._booked(message, Booking.COUNTED)
        self._hold(
            key,
            HeldChange(
                ("movement", message.ref), message.occurred_at or 0.0, {message.currency: message.delta}, message
            ),
        )
        return self._booked(message, Booking.HELD)

    def _booked(self, message: VenueMovement, outcome: Booking, reason: str = "") -> MovementBooked:
        answer = MovementBooked(ref=message.ref, correlation_id=message.correlation_id, outcome=outcome, reason=reason)
        return self.reply(answer)

    # ---- fills -----------------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> Balances | Rejected:
        """Apply an execution locally (no venue call); a trade already applied is ignored."""
        key = (fill.exchange, fill.account)
        trade = (fill.exchange, fill.account, fill.trade_id)
        try:
            ledger = self._ledger(fill.exchange, fill.account)
            placement = Placement.COUNTED if trade in self._trades else self._place(key, fill.timestamp or None)
            if placement is not Placement.NEW:
                self._trades.add(trade)
                if placement is Placement.COUNTED:
                    self.log.info("fill {} on {} is already counted; ignoring it", fill.trade_id, _name(key))
                else:
                    self._hold(key, HeldChange(("fill", fill.trade_id), fill.timestamp, fill_deltas(fill), fill))
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
            try:
                balances, window = self._fetch(key)
            except VenueError as error:
                self.log.warning("reconcile of {} skipped: the venue did not answer ({})", _name(key), error)
                continue
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
            self._adopt(key, window)
        self._retry_later()
        return Reconciled(checked=checked, corrected=corrected, reset=reset)

    def _report(self, ledger: StrategyLedger, result: Reconciliation) -> None:
        """Log a reconciliation's correction (before/after) and, when it had to reset, alert and tell the strategies."""
        where = f"{ledger.exchange}.{ledger.account} {result.currency}"
        before, after = result.before, result.after
        if before is None:
            self.log.info("reconcile: {} opened from the venue at {}", where, after.total)
            return
        if result.corrected:
            count, amount = self._corrections.get((f"{ledger.exchange}.{ledger.account}", result.currency), (0, 0.0))
            self._corrections[(f"{ledger.exchange}.{ledger.account}", result.currency)] = (
                count + 1,
                amount + abs(result.venue_total - before.total),
            )
            self.log.warning(
                "reconcile: {} total {} -> {} (venue); pool {} -> {}; sub-strategies kept {}",
                where,
                before.total,
                result.venue_total,
                before.pool,
                before.set(result.venue_total).pool,
                list(before.slots[2:]),
            )
        if result.reset:
            reason = (
                f"{where} cannot be repaired: with the venue's total {result.venue_total} the pool would be "
                f"{before.set(result.venue_total).pool} with credit {before.credit_limit}; the ledger was reset"
            )
            self.alert(
                f"gateway.unrepairable.{ledger.exchange}.{ledger.account}.{result.currency}",
                f"{reason}: slots before {list(before.slots)}, after {list(after.slots)}; every strategy must "
                "request its capital again",
            )
            self._tell_strategies(ledger, [result.currency], reason)

    # ---- queries -----------------------------------------------------------------------------

    def on_get_balances(self, message: GetBalances) -> Balances:
        return Balances(
            unconfirmed=[
                f"{_name(key)} {change.ref[1]} {_deltas(change)}"  # type: ignore[index]
                for key, held in self._held.items()
                for change in held
            ],
            corrections=tuple(
                LedgerCorrection(account=account, currency=currency, count=count, amount=round(amount, 8))
                for (account, currency), (count, amount) in sorted(self._corrections.items())
            ),
            views=[
                view
                for (exchange, account, currency), view in self._views.items()
                if message.exchange in (None, exchange)
                and message.account in (None, account)
                and message.currency in (None, currency)
            ],
        )

    # ---- internals ---------------------------------------------------------------------------

    def _ledger(self, exchange: Exchange | None, account: str | None) -> StrategyLedger:
        """The initialised ledger a message addresses (defaults filled in), or `LedgerError` saying why not."""
        exchange = self._default[0] if exchange is None else exchange
        if account is None:
            account = self._defaults.get(exchange)
            if account is None:
                raise LedgerError(f"unknown exchange {exchange} (the gateway keeps {self._known()})")
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
        try:
            balances, window = self._fetch(key)
        except VenueError as error:
            self._unavailable[key] = f"{type(error).__name__}: {error}"
            self.alert(
                f"{UNINITIALISED_ALERT}{_name(key)}",
                f"cannot initialise {_name(key)} from the venue ({error}): its ledger is not kept and "
                "commands for it are refused until it is (retried every reconcile)",
            )
            return False
        ledger = StrategyLedger(spec.exchange, spec.account, spec.strategy_count, spec.credit_limits)
        currencies = list(dict.fromkeys([*spec.currencies, *balances]))
        for currency in currencies:
            ledger.reset(currency, balances.get(currency, 0.0))
            self._publish(ledger, currency)
        self._ledgers[key] = ledger
        self._adopt(key, window)
        if self._unavailable.pop(key, None) is not None:
            self.resolve_alert(f"{UNINITIALISED_ALERT}{_name(key)}", f"{_name(key)} initialised from the venue")
        self.log.info("{} initialised from the venue: {}", _name(key), {c: ledger.get_balance(c) for c in currencies})
        self._tell_strategies(ledger, currencies, f"{_name(key)} was reset from the venue's balances")
        return True

    # ---- snapshots and the changes inside their fetch window ---------------------------------------

    def _fetch(self, key: _AccountKey) -> tuple[dict[Currency, float], Window]:
        """The venue's balances of ``key`` and the window they were fetched in (raises `VenueError`)."""
        margin = self.venue.clock_skew(key[0])  # the venue's stamps are off the desk's clock by up to this
        started = self.clock.now()
        balances = self.venue.fetch_balance(*key)
        return balances, Window(started - margin, self.clock.now() + margin)

    def _place(self, key: _AccountKey, occurred_at: float | None) -> Placement:
        window = self._windows.get(key)
        return Placement.NEW if window is None else window.place(occurred_at)

    def _adopt(self, key: _AccountKey, window: Window) -> None:
        """The ledger of ``key`` now is a snapshot fetched in ``window``: held changes from before it are counted."""
        self._windows[key] = window
        held = self._held.pop(key, [])
        counted = [change for change in held if window.place(change.occurred_at) is Placement.COUNTED]
        if counted:
            self.log.info(
                "{} held change(s) on {} are counted in the new snapshot: {}",
                len(counted),
                _name(key),
                [change.ref for change in counted],
            )
        still = [change for change in held if change not in counted]
        if still:
            self._held[key] = still
            self._settle_held(key)
        else:
            self._settled(key)

    def _hold(self, key: _AccountKey, change: HeldChange) -> None:
        """A change during the last snapshot's fetch: hold it and fetch again to see whether it is counted."""
        self.log.info(
            "{} {} happened while the snapshot of {} was fetched: held until the venue says",
            change.ref[0],  # type: ignore[index]
            change.ref[1],  # type: ignore[index]
            _name(key),
        )
        self._held.setdefault(key, []).append(change)
        self._settle_held(key)

    def holding(self) -> set[tuple[Exchange, str]]:
        """Accounts with venue changes held until a re-fetch says whether the last snapshot counts them.

        For in-process inspection (the whole-desk simulation reads it between turns); a client
        reads the same in `Balances.unconfirmed`.
        """
        return {key for key, held in self._held.items() if held}

    def on_resolve_held(self, message: ResolveHeld) -> None:
        key = (message.exchange, message.account)
        self._resolve_timers.pop(key, None)
        self._settle_held(key)

    def _settle_held(self, key: _AccountKey) -> None:
        """Fetch again; apply the held changes the venue has and the ledger lacks, drop the ones it counted."""
        held = self._held.get(key)
        ledger = self._ledgers.get(key)
        if not held or ledger is None:
            return
        try:
            balances, window = self._fetch(key)
        except VenueError as error:
            self._resolve_later(key, f"the venue did not answer ({error})")
            return
        known = set(ledger.currencies())
        totals = {c: ledger.get_balance(c) for c in {c for change in held for c in change.deltas} if c in known}
        missing = explain(held, totals, balances)
        if missing is None:
            gap = {c: round(balances.get(c, 0.0) - totals.get(c, 0.0), 8) for c in sorted({*totals})}
            self._resolve_later(key, f"the venue differs from the ledger by {gap}, which no held change explains")
            return
        for change in missing:
            self._apply_held(ledger, change)
        self.log.info(
            "held changes on {} resolved: {} applied (not in the snapshot), {} counted in it",
            _name(key),
            [c.ref for c in missing],
            [c.ref for c in held if c not in missing],
        )
        del self._held[key]
        if all(
            math.isclose(ledger.get_balance(c), balances.get(c, 0.0), rel_tol=1e-9, abs_tol=1e-6)
            for c in {*ledger.currencies(), *balances}
            if c in known
        ):
            # The ledger is now exactly the re-fetch: it is the snapshot that later changes are placed
            # against. (Kept on the old one, a change the re-fetch already held - its message still on
            # its way - would be applied a second time when it arrives.)
            self._windows[key] = window
        self._settled(key)

    def _apply_held(self, ledger: StrategyLedger, change: HeldChange) -> None:
        message = change.message
        if isinstance(message, Fill):
            moved = ledger.apply_fill(message)
        else:  # an Adjust or a VenueMovement (which moves the total)
            ledger.adjust(message.currency, message.delta, getattr(message, "index", 0))
            moved = [message.currency]
        for currency in moved:
            self._publish(ledger, currency)

    def _resolve_later(self, key: _AccountKey, why: str) -> None:
        tries = self._resolve_tries[key] = self._resolve_tries.get(key, 0) + 1
        held = [change.ref for change in self._held.get(key, [])]
        self.log.warning("cannot tell yet whether {} on {} are counted: {} (try {})", held, _name(key), why, tries)
        if tries == self.resolve_alert_after:
            self.alert(
                f"gateway.unresolved.{_name(key)}",
                f"{_name(key)}: {held} happened during a balance snapshot and {tries} re-fetches could not "
                f"tell whether it counts them ({why}); they are held, not applied, until one can",
            )
        if key not in self._resolve_timers:
            self._resolve_timers[key] = self.send_later(self.resolve_delay, self.name, ResolveHeld(*key))

    def _settled(self, key: _AccountKey) -> None:
        """Nothing is held on ``key`` any more."""
        timer = self._resolve_timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if self._resolve_tries.pop(key, 0) >= self.resolve_alert_after:
            self.resolve_alert(f"gateway.unresolved.{_name(key)}", f"{_name(key)}: every held change is resolved")

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
