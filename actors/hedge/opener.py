"""`HedgeAccountA`: trades rounds of limit orders on its account and asks B to hedge each fill.

A thin actor around `OpenerBook`. (Over 400 lines, about 530: the round, the wait for B, the
pause and the exposure limit are one state machine over one book; split, each part would
reach into the others' timers.)
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Iterable
from typing import Any

import msgspec

from actors.hedge.account import BOOK, FILL, HedgeAccount
from actors.hedge.legacy import LEGACY_KEY, legacy_opener
from actors.hedge.legs import EPSILON
from actors.hedge.opener_book import OpenerBook
from actors.hedge.opener_records import PendingHedge, TrackedOrder
from actors.stores.journal import Journal
from actors.venues.base import TradingVenue, VenueError, VenueTimeout
from messages.alerts import AlertSeverity
from messages.common import Exchange
from messages.hedge import (
    BHedged,
    BHedgeFailed,
    BookManualHedge,
    CancelRestingOrder,
    ExposureCheck,
    HedgeLatency,
    HedgeReport,
    HedgeStatus,
    HedgeTick,
    HedgeWaitTimer,
    PauseTrading,
    ResumeTrading,
)
from messages.system import Rejected
from messages.trading import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Ticker,
    split_market,
)
from supervisor.clock import Timer

__all__ = ["HedgeAccountA"]

RECENT_LATENCIES = 100
"""How many finished hedges A reports the latency of (the dashboard observes each once)."""


class HedgeAccountA(HedgeAccount):
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
    On `BHedgeFailed` A pauses until `ResumeTrading`; while paused it keeps trying to cancel its
    resting order (every ``cancel_retry_every`` seconds) until the venue confirms, and still asks
    B to hedge every fill that lands. Quantity unhedged or unconfirmed for ``exposure_limit``
    seconds pauses A and raises a critical alert naming it (resolved once it is back to 0).
    A restarted A asks B again at once about every journaled unanswered fill. With
    ``cancel_on_stop`` (the default) stopping A cancels its resting order. With ``continue_after_hedge`` A starts the
    next round itself as soon as B's answer lets it (with offset 0 on a deep market that is a
    tight loop of rounds: pace it with an offset, or leave it off and let the scheduler tick).
    Answers `HedgeStatus` with `HedgeReport`. With a ``journal`` its book survives restarts
    (owner: the actor's name).
    """

    book: OpenerBook

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
        exposure_limit: float = 120.0,
        cancel_on_stop: bool = True,
        cancel_retry_every: float = 5.0,
    ) -> None:
        super().__init__(venue, exchange, account, gateway, journal)
        split_market(market)  # ValueError naming a malformed market
        for name, value in (
            ("quantity", quantity),
            ("timeout", timeout),
            ("remind_every", remind_every),
            ("exposure_limit", exposure_limit),
            ("cancel_retry_every", cancel_retry_every),
        ):
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
        self.exposure_limit = exposure_limit
        self.cancel_on_stop = cancel_on_stop
        self.cancel_retry_every = cancel_retry_every
        self.book = OpenerBook(self.market)
        # Timer messages carry a token: those of an earlier wait or incarnation are ignored.
        self._incarnation = uuid.uuid4().hex[:8]
        self._waits = 0
        self._token = ""
        self._timer: Timer | None = None  # the one timer of the current wait
        self._wake_at: float | None = None  # when it fires
        self._remind_at: float | None = None  # when the next "still waiting" is due
        self._cancel_timer: Timer | None = None  # while paused with a resting order the venue did not cancel
        self._latencies: deque[HedgeLatency] = deque(maxlen=RECENT_LATENCIES)  # not journaled: for the metrics
        self._exposure_timer: Timer | None = None  # set for when the current exposure reaches its limit

    # ---- lifecycle -------------------------------------------------------------------------

    def _convert_legacy(self) -> OpenerBook | None:
        """The book from an older journal's whole-book document, saved as today's rows (None if there is none)."""
        old = self.journal.state.get(self.name, LEGACY_KEY) if self.journal is not None else None
        if old is None or self.journal is None:
            return None
        self.book, hedges = legacy_opener(old)
        self.book.restore(hedges)
        self._save(hedges, synced=True)
        self.journal.state.delete(self.name, LEGACY_KEY)
        self.log.warning("converted the journaled book of an older version ({} open hedges)", len(hedges))
        return self.book

    def _save(self, hedges: Iterable[PendingHedge] = (), gone: Iterable[str] = (), synced: bool = False) -> None:
        """Journal A's record with the rows of ``hedges``, dropping those of ``gone`` (hedged) trade ids."""
        self._write(((FILL, p.trade_id, p) for p in hedges), ((FILL, trade_id) for trade_id in gone), synced)

    def on_start(self) -> None:
        saved = next(iter(self._journaled(BOOK[0], OpenerBook)), None)
        if saved is not None:
            saved.restore(self._journaled(FILL, PendingHedge))
        else:
            saved = self._convert_legacy()
        if saved is not None:
            self.book = saved
            book = self.book
            self.log.info(
                "resumed from the journal: A {} B {}, unanswered {}, paused {}",
                book.a.position,
                book.b.position,
                list(book.pending),
                book.paused,
            )
            if book.paused:
                self.log.error(
                    "trading is PAUSED ({}); an operator must look, then send ResumeTrading", book.pause_reason
                )
            if book.market != self.market:
                self.log.warning(
                    "the journaled book trades {}, the configuration {}: positions are the journal's",
                    book.market,
                    self.market,
                )
        else:
            self.book = OpenerBook(self.market, session=f"{self.name}-{uuid.uuid4().hex[:8]}")
            self._save(synced=True)  # the session names every client order id from now on
        self._subscribe()
        again = self.book.recheck_all(self.clock.now())
        if again:  # no need to wait a timeout: B answers a repeated request from memory
            self.log.warning(
                "asking {} again at once about the journaled unanswered {}", self.hedger, [p.trade_id for p in again]
            )
            self._save(again)
        self._ask_hedge(again)
        self._alert_remainders()
        self._check_exposure()

    def on_stop(self) -> None:
        self._disarm()
        self._stop_timers()
        order = self.book.current_order
        if self.cancel_on_stop and order is not None and not order.finished:
            # Cancel only: B stops too, so what the order filled is booked and hedged by the next start
            # (its first round asks the venue about the order), not asked of a B on its way out.
            try:
                cancelled = self.venue.cancel_order(order.order_id)
                self.log.info(
                    "order {} cancelled with {} of {} filled: the desk is stopping",
                    order.order_id,
                    cancelled.filled,
                    cancelled.quantity,
                )
            except VenueError as error:
                self.alert(
                    f"{self.name}:resting_order",
                    f"stopping, and the venue did not cancel order {order.order_id}: it may still fill ({error})",
                )
        super().on_stop()

    def on_failure(self, *exc_info: Any) -> None:
        self._disarm()  # the next incarnation arms its own timers from the journaled book
        self._stop_timers()
        super().on_failure(*exc_info)

    def _stop_timers(self) -> None:
        for timer in (self._cancel_timer, self._exposure_timer):
            if timer is not None:
                timer.cancel()
        self._cancel_timer = self._exposure_timer = None

    def receive(self, message: Any) -> Any:
        answer = super().receive(message)
        self._check_exposure()  # after every message handled: fills, answers, rounds and timers all move it
        return answer

    # ---- rounds ----------------------------------------------------------------------------

    def on_hedge_tick(self, message: HedgeTick) -> HedgeReport | None:
        self._round(message.reason)
        return self._report() if self._asked() else None

    def _round(self, reason: str) -> None:
        book = self.book
        if book.placing is not None:
            self._resolve_placement()  # until it is resolved, nothing new is opened (book.can_open)
        self._check_current_order()  # hedging goes on while paused: only opening stops
        if book.paused:
            self._cancel_while_paused()
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
        if pending is None:
            self._save()
        else:
            self._save([pending], synced=True)  # before B hears of it, as for a pushed fill
            self.log.warning(
                "order {} has {} filled that was never pushed to us; hedging it as {}",
                order.order_id,
                pending.quantity,
                pending.trade_id,
            )
            self._ask_hedge([pending])

    def _resolve_placement(self) -> None:
        """Ask the venue about a placement that timed out, by its client id (it stays in doubt if it cannot say)."""
        placing = self.book.placing
        assert placing is not None
        try:
            order = self.venue.fetch_order_by_client_id(self.exchange, self.account, placing.client_order_id)
        except VenueError as error:
            self.log.warning(
                "cannot resolve the placement of {} now ({}); {} stays unconfirmed",
                placing.client_order_id,
                error,
                placing.quantity,
            )
            return
        if order is None:
            self.log.warning("the venue has no order {}: the timed-out placement did nothing", placing.client_order_id)
            self.book.placement_absent()
            self._save()
            return
        self.log.warning(
            "the timed-out placement {} is order {} ({}, {} filled)",
            placing.client_order_id,
            order.order_id,
            order.status.value,
            order.filled,
        )
        self.book.order_placed(order, self.clock.now())
        self._save()

    def _cancel_while_paused(self) -> None:
        """Paused: the resting order must go (logged, and retried on a timer until the venue confirms)."""
        order = self.book.current_order
        if order is None or order.finished:
            return
        if self._cancel(order, "trading is paused"):
            self.resolve_alert(f"{self.name}:resting_order", f"order {order.order_id} cancelled while paused")
            return
        self.alert(
            f"{self.name}:resting_order",
            f"paused, and the venue did not cancel order {order.order_id} "
            f"({order.quantity - order.covered:g} may still fill); retrying every {self.cancel_retry_every} s",
            AlertSeverity.WARNING,
        )
        if self._cancel_timer is None:
            self._cancel_timer = self.send_later(
                self.cancel_retry_every, self.name, CancelRestingOrder(self._incarnation)
            )

    def on_cancel_resting_order(self, message: CancelRestingOrder) -> None:
        if message.token != self._incarnation:
            return
        self._cancel_timer = None
        self._check_current_order()
        if self.book.paused:
            self._cancel_while_paused()

    def _requote_if_stale(self, order: TrackedOrder) -> None:
        if self.requote_after is not None and self.clock.now() - order.placed_at >= self.requote_after:
            self._cancel(order, f"rested {self.clock.now() - order.placed_at:.0f} s; the next round quotes the rest")

    def _cancel(self, order: TrackedOrder, why: str) -> bool:
        """Cancel a resting order (what filled stays filled and is hedged); False (logged) if the venue did not."""
        if order.finished:
            return True
        try:
            cancelled = self.venue.cancel_order(order.order_id)
        except VenueError as error:
            self.log.warning("cannot cancel order {} now: {}", order.order_id, error)
            return False
        self.log.info(
            "order {} cancelled with {} of {} filled: {}", order.order_id, cancelled.filled, cancelled.quantity, why
        )
        self._observe(cancelled)
        return True

    def _place_next(self) -> None:
        book = self.book
        side, quantity = book.next_order(self.quantity)
        client_order_id = book.next_client_order_id()
        try:
            ticker = self.venue.fetch_ticker(self.market)
            book.last_price = ticker.last
            price = self._limit_price(side, ticker)
            order = self.venue.create_order(
                self.exchange, self.account, self.market, side, OrderType.LIMIT, quantity, price, client_order_id
            )
        except VenueTimeout as error:
            book.placement_in_doubt(client_order_id, side, quantity, self.clock.now())
            self._save()
            self.log.warning(
                "order {} placement timed out ({}): {} unconfirmed; the next round asks the venue "
                "by client id, then tries again with the same client id",
                client_order_id,
                error,
                quantity,
            )
            return
        except VenueError as error:
            self._save()
            self.log.warning(
                "order {} not placed ({}: {}); the next round tries again with the same client id",
                client_order_id,
                type(error).__name__,
                error,
            )
            return
        book.order_placed(order, self.clock.now())
        # Not journaled here: a restarted A derives it again (the same client id returns this order), and
        # the record of the order's first fill carries it. Off the path from that fill to its hedge.
        if order.status is OrderStatus.REJECTED:
            self.log.warning(
                "order {} ({} {} {} @ {}) rejected: {}",
                order.order_id,
                side.value,
                quantity,
                self.market,
                price,
                order.reason,
            )
        else:
            self.log.info(
                "round {} ({}): {} {} {} @ {} as {}",
                book.round,
                book.direction,
                side.value,
                quantity,
                self.market,
                price,
                order.order_id,
            )

    def _limit_price(self, side: Side, ticker: Ticker) -> float:
        offset = self.offset_bps / 10_000
        return round(ticker.ask * (1 - offset) if side is Side.BUY else ticker.bid * (1 + offset), 8)

    # ---- fills and B's answers ---------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        pending = self.book.record_fill(fill, self.clock.now())
        if pending is None:
            self.log.debug("fill {} already booked or not one of our orders", fill.trade_id)
        else:
            self._save(
                [pending], synced=True
            )  # before B hears of it: a restarted A must know this fill is being hedged
            self._ask_hedge([pending])
            self.log.info(
                "fill {} of {}: {} {} @ {}; asked {} to hedge",
                fill.trade_id,
                fill.order_id,
                fill.side.value,
                pending.quantity,
                fill.price,
                self.hedger,
            )
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
        self._save(gone=[pending.trade_id])  # after the fact: lost, A asks again and B answers from memory
        self._latencies.append(
            HedgeLatency(pending.trade_id, pending.sent_at, max(0.0, self.clock.now() - pending.sent_at))
        )
        if abs(answer.quantity - pending.quantity) > EPSILON:
            self.log.error(
                "{} hedged {} of {} for {}: the pair is off by the difference",
                self.hedger,
                answer.quantity,
                pending.quantity,
                answer.trade_id,
            )
        self.log.info(
            "{} hedged {} @ {} ({}); net exposure {}",
            answer.trade_id,
            answer.quantity,
            answer.average_price,
            answer.order_id,
            self.book.net_exposure,
        )
        self._arm()
        if self.continue_after_hedge and self.book.can_open:
            self._round("after hedge")

    def on_b_hedge_failed(self, answer: BHedgeFailed) -> None:
        pending = self.book.hedge_failed(answer)
        if pending is None:
            self.log.info("failure of {} (request {}) already handled", answer.trade_id, answer.request)
            return
        left = pending.trade_id in self.book.failed
        self._save([pending] if left else [], gone=[] if left else [pending.trade_id])
        self.log.error(
            "trading PAUSED: {}; net exposure {}; an operator must look, then send ResumeTrading",
            self.book.pause_reason,
            self.book.net_exposure,
        )
        self._alert_remainders()
        self._cancel_while_paused()  # no more fills that B may fail to hedge
        self._arm()

    def on_pause_trading(self, message: PauseTrading) -> HedgeReport:
        """The operator's pause: no new order; the resting one is cancelled; hedging goes on."""
        who = message.operator or "an operator"
        if not self.book.paused:
            self.book.pause(f"paused by {who}" + (f": {message.reason}" if message.reason else ""))
            self._save([])
            self.log.warning("trading PAUSED by {}{}", who, f" ({message.reason})" if message.reason else "")
        self._cancel_while_paused()
        return self._report()

    def on_resume_trading(self, message: ResumeTrading) -> HedgeReport:
        again = self.book.resume(message.retry_failed, self.clock.now())
        self._save(self.book.open_hedges())
        self.log.warning(
            "trading resumed by {}{}",
            message.operator or "an operator",
            f"; asking {self.hedger} again to hedge {[p.trade_id for p in again]}" if again else "",
        )
        self._ask_hedge(again)
        self._alert_remainders()
        if self._exposure_timer is not None:  # the age limit counts again from the resume
            self._exposure_timer.cancel()
            self._exposure_timer = None
        return self._report()

    def on_book_manual_hedge(self, message: BookManualHedge) -> HedgeReport | Rejected:
        try:
            covered = self.book.book_manual_hedge(
                message.quantity, message.price, message.reference, message.trade_id, message.fee, self.clock.now()
            )
        except ValueError as error:
            self.log.warning("manual hedge {} not booked: {}", message.reference, error)
            return Rejected(reason=str(error), message_type=type(message).__name__)
        still_open = self.book.open_hedges()
        self._save(still_open, gone=set(covered) - {p.trade_id for p in still_open})
        self.log.warning(
            "{} booked a hedge made by hand: {} @ {} ({}) against {}; net exposure {}",
            message.operator or "an operator",
            message.quantity,
            message.price,
            message.reference,
            covered,
            self.book.net_exposure,
        )
        self._alert_remainders()
        return self._report()

    def _alert_remainders(self) -> None:
        """A standing critical alert while failed or residual remainders are unhedged; resolved when none are."""
        book, key = self.book, f"{self.name}:unhedged_remainder"
        left = {**book.failed, **book.residual}
        if left:
            quantity = round(math.fsum(p.quantity for p in left.values()), 8)
            state = "waiting for an operator" if book.failed else "left by an operator's resume"
            self.alert(
                key,
                f"{quantity:g} of A's fills unhedged ({sorted(left)}, {state}); retry with "
                "ResumeTrading or book the hand-made hedge with BookManualHedge",
            )
        elif book.hedges_failed:
            self.resolve_alert(key, "no unhedged remainder left")

    # ---- exposure ----------------------------------------------------------------------------

    def _check_exposure(self) -> None:
        """Pause and alert when quantity has been unhedged or unconfirmed for ``exposure_limit`` seconds."""
        book, now, key = self.book, self.clock.now(), f"{self.name}:exposure"
        age = book.exposure_age(now)
        if age is None:
            if book.exposure_alerted:
                book.exposure_alerted = False
                self._save()
                self.resolve_alert(key, "unhedged and unconfirmed quantities are back to 0")
            if self._exposure_timer is not None:
                self._exposure_timer.cancel()
                self._exposure_timer = None
            return
        if age >= self.exposure_limit:
            if not (book.exposure_alerted and book.paused):
                book.exposure_alerted = True
                what = (
                    f"{book.working_exposure:g} unhedged or unconfirmed for {age:.0f} s (unhedged "
                    f"{book.unhedged:g}, unconfirmed {book.unconfirmed:g}; limit {self.exposure_limit:g} s)"
                )
                if not book.paused:
                    book.pause(what)
                self._save()
                self.alert(key, f"{what}; trading PAUSED")
                self._cancel_while_paused()
            return
        if self._exposure_timer is None:
            assert book.exposed_since is not None
            self._exposure_timer = self._later(
                book.exposed_since + self.exposure_limit - now, ExposureCheck(self._incarnation)
            )

    def on_exposure_check(self, message: ExposureCheck) -> None:
        if message.token == self._incarnation:
            self._exposure_timer = None  # receive() checks the exposure after this

    # ---- waiting: reminder and timeout -------------------------------------------------------

    def on_hedge_wait_timer(self, message: HedgeWaitTimer) -> None:
        """The next reminder or timeout of the current wait is due (a timer of an earlier wait is ignored)."""
        if message.token != self._token:
            return
        self._timer = self._wake_at = None
        book, now = self.book, self.clock.now()
        due = book.time_out(now, self.timeout)
        if due:
            self._save(due)
            self.log.warning(
                "{} has not answered {} within {} s; not opening; re-checking on the next round (A {} B {} net {})",
                self.hedger,
                [p.trade_id for p in due],
                self.timeout,
                book.a.position,
                book.b.position,
                book.net_exposure,
            )
        if book.pending and self._remind_at is not None and now >= self._remind_at:
            self.log.warning(
                "still waiting for {} to answer {} ({:.0f} s)",
                self.hedger,
                list(book.pending),
                now - (book.waiting_since or now),
            )
            while self._remind_at <= now:
                self._remind_at += self.remind_every
        self._arm()

    def _recheck(self) -> None:
        """Called by a round while hedges are unanswered: ask B again about those that timed out."""
        again = self.book.recheck(self.clock.now())
        if not again:
            self.log.info("waiting for {} to answer {}", self.hedger, list(self.book.pending))
            return
        self._save(again)
        book = self.book
        self.log.warning(
            "re-check: A {} B {} net {}; asking {} again about {}",
            book.a.position,
            book.b.position,
            book.net_exposure,
            self.hedger,
            [p.trade_id for p in again],
        )
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
        report = self.book.report((self.name, self.where), (self.hedger, self.hedger_account), mark)
        return msgspec.structs.replace(report, latencies=tuple(self._latencies))
