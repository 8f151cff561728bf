"""The hedge pair: `HedgeAccountA` trades rounds on its account and asks B to hedge each fill; `HedgeAccountB` hedges.

Thin actors around the bookkeeping in `actors.hedge_state`. A places one limit order per round
(open long, then close long, ...) and opens nothing new while B has not answered; it waits
event-driven, with a timeout and a reminder on its own timers. B hedges each fill with a market
order on the opposite side, retrying, and answers `BHedged` or `BHedgeFailed`. Both forward
their account's fills to the balance gateway and journal their state.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from actors.base import Actor
from actors.hedge_state import EPSILON, HedgeBook, HedgeJob, HedgerBook, PendingHedge, TrackedOrder
from actors.venues.base import FillSubscription, TradingVenue, VenueError, VenueTimeout
from messages.common import AccountRef, Exchange
from messages.hedge import (
    AFilled,
    BHedged,
    BHedgeFailed,
    HedgeReport,
    HedgerReport,
    HedgeStatus,
    HedgeTick,
    HedgeWaitTimer,
    ResumeTrading,
    RetryHedge,
)
from messages.trading import Fill, Order, OrderStatus, OrderType, Side, Ticker, split_market
from supervisor.clock import Timer
from supervisor.errors import UnknownActorError
from actors.stores.journal import Journal

__all__ = ["HedgeAccountA", "HedgeAccountB"]

_STATE_KEY = "state"  # the journal row (owner = the actor's name) holding the book


class _HedgeAccount(Actor):
    """What A and B share: a venue account whose pushed fills are forwarded to the gateway, and a journaled book."""

    book: HedgeBook | HedgerBook

    def __init__(self, venue: TradingVenue, exchange: Exchange, account: str, gateway: str | None,
                 journal: Journal | None) -> None:
        super().__init__()
        self.venue = venue
        self.exchange = Exchange(exchange)
        self.account = account
        self.where = str(AccountRef(self.exchange, account))
        self.gateway = gateway
        self.journal = journal
        self._subscription: FillSubscription | None = None

    def on_stop(self) -> None:
        self._unsubscribe()

    def on_failure(self, *exc_info: Any) -> None:
        self._unsubscribe()  # the next incarnation subscribes again

    def _subscribe(self) -> bool:
        """Have the venue push this account's fills to our mailbox; False (logged) if it cannot now."""
        if self._subscription is None:
            try:
                self._subscription = self.venue.subscribe_fills(
                    self.exchange, self.account, lambda fill: self.tell(self.name, fill)
                )
            except VenueError as error:
                self.log.warning("cannot subscribe to the fills of {} now ({}); trying again later", self.where, error)
                return False
        return True

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None

    def _forward(self, fill: Fill) -> None:
        """Every fill of the account goes to the gateway (which ignores one it has already applied)."""
        if self.gateway is not None:
            self.tell(self.gateway, fill)

    def _journaled(self) -> dict[str, Any] | None:
        """The book as last journaled (None without a journal or on the first start)."""
        return self.journal.state.get(self.name, _STATE_KEY) if self.journal is not None else None

    def _save(self) -> None:
        """Journal the book (nothing to do without a journal)."""
        if self.journal is not None:
            self.journal.state.put(self.name, _STATE_KEY, self.book.to_dict())

    def _later(self, delay: float, message: Any) -> Timer | None:
        """Tell ourselves ``message`` after ``delay`` seconds (at once, through the mailbox, if it is due)."""
        if delay <= 0:
            self.tell(self.name, message)
            return None
        return self.send_later(delay, self.name, message)

    def _asked(self) -> bool:
        """Whether the message being handled is an ask (someone waits for the return value)."""
        envelope = self.current_envelope
        return envelope is not None and envelope.reply_to is not None


class HedgeAccountA(_HedgeAccount):
    """Account A of the hedge pair. Give it to a ChildSpec named ``"hedge_a"``.

    Each round (started by `HedgeTick`) places one limit order of ``quantity`` on ``market``:
    open long (buy), then close long (sell), and so on. The limit price is the far touch moved
    ``offset_bps`` in A's favour: a buy at ``ask * (1 - offset_bps / 10_000)``, a sell at
    ``bid * (1 + offset_bps / 10_000)``; 0 crosses at the touch and fills at once (up to the
    market's depth), larger offsets rest until the price comes to them. An order resting
    ``requote_after`` seconds is cancelled and the next round quotes the rest afresh; a
    resting order is also cancelled when trading pauses.

    Every fill is forwarded to ``gateway`` and sent to ``hedger`` as `AFilled`. While any is
    unanswered A opens nothing; every ``remind_every`` seconds of waiting it logs that it is
    still waiting; after ``timeout`` seconds it logs, and the next round re-checks (logs both
    positions and asks B again: B answers a repeated request from memory, never hedging twice).
    The wait is one timer on the injected clock, set for the next reminder or timeout.
    On `BHedgeFailed` A pauses until `ResumeTrading`. With ``continue_after_hedge`` A starts the
    next round itself as soon as B's answer lets it (with offset 0 on a deep market that is a
    tight loop of rounds: pace it with an offset, or leave it off and let the scheduler tick).
    Answers `HedgeStatus` with `HedgeReport`. With a ``journal`` its book survives restarts
    (owner: the actor's name).
    """

    book: HedgeBook

    def __init__(
        self,
        venue: TradingVenue,
        exchange: Exchange,
        account: str,
        *,
        market: str,
        quantity: float,
        offset_bps: float = 0.0,
        hedger: str = "hedge_b",
        hedger_account: str = "",
        gateway: str | None = "gateway",
        timeout: float = 60.0,
        remind_every: float = 10.0,
        requote_after: float | None = 60.0,
        continue_after_hedge: bool = False,
        journal: Journal | None = None,
    ) -> None:
        super().__init__(venue, exchange, account, gateway, journal)
        split_market(market)  # ValueError naming a malformed market
        for name, value in (("quantity", quantity), ("timeout", timeout), ("remind_every", remind_every)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if not (math.isfinite(offset_bps) and 0 <= offset_bps < 10_000):
            raise ValueError(f"offset_bps must be in [0, 10000), got {offset_bps!r}")
        if requote_after is not None and not (math.isfinite(requote_after) and requote_after > 0):
            raise ValueError(f"requote_after must be > 0 seconds or None, got {requote_after!r}")
        self.market = market.lower()
        self.quantity = quantity
        self.offset_bps = offset_bps
        self.hedger = hedger
        self.hedger_account = hedger_account
        self.timeout = timeout
        self.remind_every = remind_every
        self.requote_after = requote_after
        self.continue_after_hedge = continue_after_hedge
        self.book = HedgeBook(self.market)
        # Timer messages carry a token: those of an earlier wait or incarnation are ignored.
        self._incarnation = uuid.uuid4().hex[:8]
        self._waits = 0
        self._token = ""
        self._timer: Timer | None = None  # the one timer of the current wait
        self._wake_at: float | None = None  # when it fires
        self._remind_at: float | None = None  # when the next "still waiting" is due

    # ---- lifecycle -------------------------------------------------------------------------

    def on_start(self) -> None:
        saved = self._journaled()
        if saved is not None:
            self.book = HedgeBook.from_dict(saved)
            book = self.book
            self.log.info("resumed from the journal: A {} B {}, unanswered {}, paused {}",
                          book.a.position, book.b.position, list(book.pending), book.paused)
            if book.paused:
                self.log.error("trading is PAUSED ({}); an operator must look, then send ResumeTrading",
                               book.pause_reason)
            if book.market != self.market:
                self.log.warning("the journaled book trades {}, the configuration {}: positions are the journal's",
                                 book.market, self.market)
        else:
            self.book = HedgeBook(self.market, session=f"{self.name}-{uuid.uuid4().hex[:8]}")
            self._save()
        self._subscribe()
        self._arm()

    def on_stop(self) -> None:
        self._disarm()
        super().on_stop()

    def on_failure(self, *exc_info: Any) -> None:
        self._disarm()  # the next incarnation arms its own timers from the journaled book
        super().on_failure(*exc_info)

    # ---- rounds ----------------------------------------------------------------------------

    def on_hedge_tick(self, message: HedgeTick) -> HedgeReport | None:
        self._round(message.reason)
        return self._report() if self._asked() else None

    def _round(self, reason: str) -> None:
        book = self.book
        self._check_current_order()  # hedging goes on while paused: only opening stops
        if book.pending:
            self._recheck()
            return
        if book.paused:
            self.log.info("round ({}) skipped: trading is paused ({})", reason, book.pause_reason)
            return
        order = book.current_order
        if order is not None and not order.settled:
            self._requote_if_stale(order)
            return
        if book.can_open and self._subscribe():
            self._place_next()

    def _check_current_order(self) -> None:
        """Ask the venue about the current order unless pushed fills show it settled."""
        order = self.book.current_order
        if order is None or order.settled:
            return
        try:
            seen = self.venue.fetch_order(order.order_id)
        except VenueError as error:
            self.log.warning("cannot check order {} now: {}", order.order_id, error)
            return
        self._observe(seen)

    def _observe(self, order: Order) -> None:
        pending = self.book.observe_order(order, self.clock.now())
        self._save()
        if pending is not None:
            self.log.warning("order {} has {} filled that was never pushed to us; hedging it as {}",
                             order.order_id, pending.quantity, pending.trade_id)
            self._ask_hedge([pending])

    def _requote_if_stale(self, order: TrackedOrder) -> None:
        if self.requote_after is not None and self.clock.now() - order.placed_at >= self.requote_after:
            self._cancel(order, f"rested {self.clock.now() - order.placed_at:.0f} s; the next round quotes the rest")

    def _cancel(self, order: TrackedOrder, why: str) -> None:
        """Cancel a resting order (what filled stays filled and is hedged); logged, retried next round on failure."""
        if order.finished:
            return
        try:
            cancelled = self.venue.cancel_order(order.order_id)
        except VenueError as error:
            self.log.warning("cannot cancel order {} now: {}", order.order_id, error)
            return
        self.log.info("order {} cancelled with {} of {} filled: {}", order.order_id, cancelled.filled,
                      cancelled.quantity, why)
        self._observe(cancelled)

    def _place_next(self) -> None:
        book = self.book
        side, quantity = book.next_order(self.quantity)
        client_order_id = book.next_client_order_id()
        try:
            ticker = self.venue.fetch_ticker(self.market)
            book.last_price = ticker.last
            price = self._limit_price(side, ticker)
            order = self.venue.create_order(self.exchange, self.account, self.market, side, OrderType.LIMIT,
                                            quantity, price, client_order_id)
        except VenueError as error:
            self._save()
            self.log.warning("order {} not placed ({}: {}); the next round tries again with the same client id",
                             client_order_id, type(error).__name__, error)
            return
        book.order_placed(order, self.clock.now())
        self._save()
        if order.status is OrderStatus.REJECTED:
            self.log.warning("order {} ({} {} {} @ {}) rejected: {}", order.order_id, side.value, quantity,
                             self.market, price, order.reason)
        else:
            self.log.info("round {} ({}): {} {} {} @ {} as {}", book.round, book.direction, side.value, quantity,
                          self.market, price, order.order_id)

    def _limit_price(self, side: Side, ticker: Ticker) -> float:
        offset = self.offset_bps / 10_000
        return round(ticker.ask * (1 - offset) if side is Side.BUY else ticker.bid * (1 + offset), 8)

    # ---- fills and B's answers ---------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        pending = self.book.record_fill(fill, self.clock.now())
        if pending is None:
            self.log.debug("fill {} already booked or not one of our orders", fill.trade_id)
        else:
            self._save()  # before B hears of it: a restarted A must know this fill is being hedged
            self._ask_hedge([pending])
            self.log.info("fill {} of {}: {} {} @ {}; asked {} to hedge", fill.trade_id, fill.order_id,
                          fill.side.value, pending.quantity, fill.price, self.hedger)
        self._forward(fill)  # every fill, after B was asked: the hedge is the urgent part

    def _ask_hedge(self, hedges: list[PendingHedge]) -> None:
        for pending in hedges:
            self.tell(self.hedger, pending.message(self.name))
        self._arm()

    def on_b_hedged(self, answer: BHedged) -> None:
        pending = self.book.hedged(answer)
        if pending is None:
            self.log.info("answer for {} (request {}) already handled", answer.trade_id, answer.request)
            return
        self._save()
        if abs(answer.quantity - pending.quantity) > EPSILON:
            self.log.error("{} hedged {} of {} for {}: the pair is off by the difference",
                           self.hedger, answer.quantity, pending.quantity, answer.trade_id)
        self.log.info("{} hedged {} @ {} ({}); net exposure {}", answer.trade_id, answer.quantity,
                      answer.average_price, answer.order_id, self.book.net_exposure)
        self._arm()
        if self.continue_after_hedge and self.book.can_open:
            self._round("after hedge")

    def on_b_hedge_failed(self, answer: BHedgeFailed) -> None:
        pending = self.book.hedge_failed(answer)
        if pending is None:
            self.log.info("failure of {} (request {}) already handled", answer.trade_id, answer.request)
            return
        self._save()
        self.log.error("trading PAUSED: {}; net exposure {}; an operator must look, then send ResumeTrading",
                       self.book.pause_reason, self.book.net_exposure)
        order = self.book.current_order
        if order is not None:
            self._cancel(order, "trading is paused")  # no more fills that B may fail to hedge
        self._arm()

    def on_resume_trading(self, message: ResumeTrading) -> HedgeReport:
        again = self.book.resume(message.retry_failed, self.clock.now())
        self._save()
        self.log.warning("trading resumed by {}{}", message.operator or "an operator",
                         f"; asking {self.hedger} again to hedge {[p.trade_id for p in again]}" if again else "")
        self._ask_hedge(again)
        return self._report()

    # ---- waiting: reminder and timeout -------------------------------------------------------

    def on_hedge_wait_timer(self, message: HedgeWaitTimer) -> None:
        """The next reminder or timeout of the current wait is due (a timer of an earlier wait is ignored)."""
        if message.token != self._token:
            return
        self._timer = self._wake_at = None
        book, now = self.book, self.clock.now()
        due = book.time_out(now, self.timeout)
        if due:
            self._save()
            self.log.warning("{} has not answered {} within {} s; not opening; re-checking on the next round "
                             "(A {} B {} net {})", self.hedger, [p.trade_id for p in due], self.timeout,
                             book.a.position, book.b.position, book.net_exposure)
        if book.pending and self._remind_at is not None and now >= self._remind_at:
            self.log.warning("still waiting for {} to answer {} ({:.0f} s)", self.hedger, list(book.pending),
                             now - (book.waiting_since or now))
            while self._remind_at <= now:
                self._remind_at += self.remind_every
        self._arm()

    def _recheck(self) -> None:
        """Called by a round while hedges are unanswered: ask B again about those that timed out."""
        again = self.book.recheck(self.clock.now())
        if not again:
            self.log.info("waiting for {} to answer {}", self.hedger, list(self.book.pending))
            return
        self._save()
        book = self.book
        self.log.warning("re-check: A {} B {} net {}; asking {} again about {}", book.a.position, book.b.position,
                         book.net_exposure, self.hedger, [p.trade_id for p in again])
        self._ask_hedge(again)

    def _arm(self) -> None:
        """While hedges are unanswered keep one timer set for the next reminder or timeout; cancel it otherwise."""
        book = self.book
        if not book.pending:
            self._disarm()
            return
        now = self.clock.now()
        if not self._token:  # a new wait
            self._waits += 1
            self._token = f"{self._incarnation}-{self._waits}"
            self._remind_at = now + self.remind_every
        remind_at = self._remind_at if self._remind_at is not None else now + self.remind_every
        deadline = book.next_deadline(self.timeout)
        wake = remind_at if deadline is None else min(remind_at, deadline)
        if wake != self._wake_at:
            if self._timer is not None:
                self._timer.cancel()
            self._wake_at = wake
            self._timer = self._later(wake - now, HedgeWaitTimer(self._token))

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._wake_at = self._remind_at = None
        self._token = ""

    # ---- status ------------------------------------------------------------------------------

    def on_hedge_status(self, message: HedgeStatus) -> HedgeReport:
        report = self._report()
        if message.reply_to:
            self.tell(message.reply_to, report)
        return report

    def _report(self) -> HedgeReport:
        try:
            mark: float | None = self.venue.fetch_ticker(self.market).last
        except VenueError:
            mark = None  # the book falls back to the last price it saw
        return self.book.report((self.name, self.where), (self.hedger, self.hedger_account), mark)


class HedgeAccountB(_HedgeAccount):
    """Account B of the hedge pair: hedges each `AFilled` with a market order. ChildSpec name ``"hedge_b"``.

    The order is on the opposite side, for exactly the quantity asked, on ``market`` (default:
    the fill's market). Up to ``retry_times`` attempts in all (a refusal, an outage, a rejected
    or partly filled order each use one), ``retry_delay`` seconds apart (0: at once, through
    the mailbox); then `BHedgeFailed` goes to the request's ``reply_to``, else `BHedged`.
    Client order ids are derived from the trade id, request and attempt, and each attempt is
    journaled before the venue is called: a restarted B resumes an open hedge with the same id,
    so the venue returns the order it already placed instead of placing another. A repeated
    request is answered from memory (the last ``remember`` answers: A asks again only about
    fills it is still waiting for). Fills of the account are forwarded to ``gateway``.
    """

    book: HedgerBook

    def __init__(
        self,
        venue: TradingVenue,
        exchange: Exchange,
        account: str,
        *,
        market: str | None = None,
        retry_times: int = 3,
        retry_delay: float = 0.0,
        gateway: str | None = "gateway",
        journal: Journal | None = None,
        remember: int = 1_000,
    ) -> None:
        super().__init__(venue, exchange, account, gateway, journal)
        if market is not None:
            split_market(market)
        if not (math.isfinite(retry_delay) and retry_delay >= 0):
            raise ValueError(f"retry_delay must be >= 0 seconds, got {retry_delay!r}")
        self.market = market.lower() if market is not None else None
        self.retry_times = retry_times
        self.retry_delay = retry_delay
        self.book = HedgerBook(retry_times, remember)  # validates retry_times

    def on_start(self) -> None:
        saved = self._journaled()
        if saved is not None:
            self.book = HedgerBook.from_dict(saved, self.retry_times)
        self._subscribe()
        for job in self.book.jobs.values():
            self.log.warning("resuming the hedge of {} (attempt {}, {} failed so far, {} hedged of {})",
                             job.trade_id, job.attempt, job.failures, job.hedged, job.quantity)
            self.tell(self.name, RetryHedge(job.trade_id))

    def on_fill(self, fill: Fill) -> None:
        self._forward(fill)

    def on_a_filled(self, request: AFilled) -> None:
        self._subscribe()
        answer = self.book.answer_for(request)
        if answer is not None:
            self.log.info("{} asked again about {}: repeating the answer", request.reply_to, request.trade_id)
            self._answer(request.reply_to, answer)
            return
        job = self.book.open(request, self.market or request.market, self.clock.now())
        if job is None:
            self.log.info("already hedging {} (request {})", request.trade_id, request.request)
            return
        self._attempt(job)  # journals the job before calling the venue

    def on_retry_hedge(self, message: RetryHedge) -> None:
        job = self.book.jobs.get(message.trade_id)
        if job is not None:
            self._attempt(job)

    def _attempt(self, job: HedgeJob) -> None:
        self._save()  # before the venue call: a crash during it resumes with the same client id
        answer: BHedged | BHedgeFailed | None
        client_order_id = job.client_order_id(self.name)
        try:
            order = self._place(job)
        except VenueTimeout as error:  # the next try asks with the same client id
            answer = self.book.attempt_failed(job, f"VenueTimeout: {error} (order {client_order_id} may exist)")
        except VenueError as error:
            answer = self.book.attempt_failed(job, f"{type(error).__name__}: {error}")
        else:
            answer = self.book.order_seen(job, order)
        self._save()
        if answer is None:
            self.log.warning("hedge of {}: attempt {} of {} failed ({}); retrying", job.trade_id, job.failures,
                             self.retry_times, job.reason)
            if self.retry_delay > 0:
                self.send_later(self.retry_delay, self.name, RetryHedge(job.trade_id))
            else:
                self.tell(self.name, RetryHedge(job.trade_id))
            return
        if isinstance(answer, BHedged):
            self.log.info("hedged {}: {} {} {} @ {}", job.trade_id, job.side.value, answer.quantity, job.market,
                          answer.average_price)
        else:
            self.log.error("gave up hedging {} after {} attempts: {} ({} of {} hedged)", job.trade_id,
                           answer.retries, answer.reason, answer.quantity, job.quantity)
        self._answer(job.reply_to, answer)

    def _place(self, job: HedgeJob) -> Order:
        """One attempt's venue call: a market order for what is left (a rest not filled at once is cancelled)."""
        order = self.venue.create_order(self.exchange, self.account, job.market, job.side, OrderType.MARKET,
                                        job.remaining, None, job.client_order_id(self.name))
        if order.status is OrderStatus.OPEN:
            order = self.venue.cancel_order(order.order_id)
        return order

    def _answer(self, reply_to: str, answer: BHedged | BHedgeFailed) -> None:
        try:
            self.tell(reply_to, answer)
        except UnknownActorError:
            self.log.error("cannot answer {} about {}: no such actor (the answer is kept for a repeat)",
                           reply_to, answer.trade_id)

    def on_hedge_status(self, message: HedgeStatus) -> HedgerReport:
        leg = self.book.leg
        report = HedgerReport(
            leg=leg.report(self.name, self.where, leg.last_price),
            open_hedges=list(self.book.jobs),
            hedges_done=self.book.hedges_done,
            hedges_failed=self.book.hedges_failed,
        )
        if message.reply_to:
            self.tell(message.reply_to, report)
        return report
