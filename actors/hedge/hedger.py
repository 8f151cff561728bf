"""`HedgeAccountB`: hedges each fill of A with a market order, resolving every uncertain attempt at the venue.

A thin actor around `JobBook`.
"""

from __future__ import annotations

import math

import msgspec

from actors.hedge.account import ANSWER, BOOK, JOB, HedgeAccount
from actors.hedge.job_book import HedgeJob, JobBook
from actors.hedge.legacy import LEGACY_KEY, legacy_hedger
from actors.hedge.legs import EPSILON
from actors.stores.journal import Journal
from actors.venues.base import TradingVenue, VenueError, VenueTimeout
from messages.common import Exchange
from messages.hedge import (
    AFilled,
    BHedged,
    BHedgeFailed,
    HedgerReport,
    HedgeStatus,
    RetryHedge,
)
from messages.trading import Fill, Order, OrderStatus, OrderType, split_market
from supervisor.errors import UnknownActorError

__all__ = ["HedgeAccountB"]


class HedgeAccountB(HedgeAccount):
    """Account B of the hedge pair: hedges each `AFilled` with a market order. ChildSpec name ``"hedge_b"``.

    The order is on the opposite side, for exactly the quantity asked, on ``market`` (default:
    the fill's market). After a failed first attempt (a refusal, an outage, a rejected or partly
    filled order) B retries up to ``retries`` times, ``retry_delay`` seconds apart (0: at once,
    through the mailbox); then `BHedgeFailed` goes to the request's ``reply_to``, else `BHedged`.
    Client order ids are derived from the trade id and attempt, and each attempt is journaled
    before the venue is called. An attempt whose outcome is unknown (the placement timed out, or
    B crashed during it) is resolved at the venue first, by client order id, then by the
    account's fills since it was sent, before B retries or gives up; while it cannot be resolved
    the hedge is "unknown" in status with a critical alert and B asks again every
    ``resolve_every`` seconds. A repeated request is answered from memory (the last ``remember``
    answers); an operator's retry of a failed hedge continues the same job, looking up its
    earlier orders first. Fills of the account are forwarded to ``gateway``.
    """

    book: JobBook

    def __init__(
        self,
        venue: TradingVenue,
        exchange: Exchange,
        account: str,
        *,
        market: str | None = None,
        retries: int = 3,
        retry_delay: float = 0.0,
        resolve_every: float = 1.0,
        gateway: str | None = "gateway",
        journal: Journal | None = None,
        remember: int = 1_000,
    ) -> None:
        super().__init__(venue, exchange, account, gateway, journal)
        if market is not None:
            split_market(market)
        if not (math.isfinite(retry_delay) and retry_delay >= 0):
            raise ValueError(f"retry_delay must be >= 0 seconds, got {retry_delay!r}")
        if not (math.isfinite(resolve_every) and resolve_every > 0):
            raise ValueError(f"resolve_every must be > 0 seconds, got {resolve_every!r}")
        self.market = market.lower() if market is not None else None
        self.retries = retries
        self.retry_delay = retry_delay
        self.resolve_every = resolve_every
        self.book = JobBook(retries, remember)  # validates retries

    def on_start(self) -> None:
        saved = next(iter(self._journaled(BOOK[0], JobBook)), None)
        old = self.journal.state.get(self.name, LEGACY_KEY) if saved is None and self.journal is not None else None
        if saved is not None:
            saved.retries, saved.remember = self.book.retries, self.book.remember  # the configuration now
            saved.restore(self._journaled(JOB, HedgeJob), self._journaled(ANSWER, BHedged | BHedgeFailed))  # type: ignore[arg-type]
            self.book = saved
        elif old is not None and self.journal is not None:
            book, jobs, answers = legacy_hedger(old)
            book.retries, book.remember = self.book.retries, self.book.remember
            book.restore(jobs, answers)
            self.book = book
            self._write(
                [*((JOB, job.trade_id, job) for job in jobs), *((ANSWER, a.trade_id, a) for a in answers)], synced=True
            )
            self.journal.state.delete(self.name, LEGACY_KEY)
            self.log.warning("converted the journaled book of an older version ({} open hedges)", len(jobs))
        self._subscribe()
        for job in self.book.jobs.values():
            self.log.warning(
                "resuming the hedge of {} (attempt {}{}, {} failed so far, {} hedged of {})",
                job.trade_id,
                job.attempt,
                ", in doubt" if job.in_doubt else "",
                job.failures,
                job.hedged,
                job.target,
            )
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
        self._work(job)

    def on_retry_hedge(self, message: RetryHedge) -> None:
        job = self.book.jobs.get(message.trade_id)
        if job is not None:
            self._work(job)

    def _work(self, job: HedgeJob) -> None:
        """One step of a job: resolve its attempt if in doubt, else send it; then answer, retry, or wait."""
        answer: BHedged | BHedgeFailed | None = self._resolve_attempt(job) if job.in_doubt else self._send(job)
        key = f"{self.name}:unknown:{job.trade_id}"
        if answer is not None:
            self._answer(job.reply_to, answer)  # first: the journal follows (lost, the job resumes by client id)
        raise_alert, resolved = bool(job.unknown) and not job.alerted, not job.unknown and job.alerted
        job.alerted = bool(job.unknown)
        self._save(job, answer)
        if raise_alert:
            self.alert(
                key,
                f"hedge of {job.trade_id}: outcome of attempt {job.client_order_id(self.name)} unknown "
                f"({job.unknown}); {job.remaining:g} of {job.target:g} possibly unhedged; asking the venue "
                f"again every {self.resolve_every} s",
            )
        if resolved:
            self.resolve_alert(key, f"hedge of {job.trade_id}: the venue answered")
        if job.unknown:
            self.log.warning(
                "hedge of {}: {}; asking the venue again in {} s", job.trade_id, job.unknown, self.resolve_every
            )
            self._later(self.resolve_every, RetryHedge(job.trade_id))
            return
        if answer is None:
            if not job.in_doubt and job.failures:
                self.log.warning(
                    "hedge of {}: attempt {} of {} failed ({}); retrying",
                    job.trade_id,
                    job.failures,
                    self.retries + 1,
                    job.reason,
                )
            self._later(self.retry_delay if job.failures else 0.0, RetryHedge(job.trade_id))
            return
        if isinstance(answer, BHedged):
            self.log.info(
                "hedged {}: {} {} {} @ {}",
                job.trade_id,
                job.side.value,
                answer.quantity,
                job.market,
                answer.average_price,
            )
        else:
            self.log.error(
                "gave up hedging {} after {} attempts: {} ({} of {} hedged)",
                job.trade_id,
                answer.retries,
                answer.reason,
                answer.quantity,
                job.quantity,
            )

    def _save(self, job: HedgeJob, answer: BHedged | BHedgeFailed | None = None, synced: bool = False) -> None:
        """Journal B's record with ``job``'s row (dropped once hedged) and ``answer``'s, and forget old answers."""
        book = self.book
        rows: list[tuple[str, str, msgspec.Struct]] = []
        delete = [(ANSWER, trade_id) for trade_id in book.forgotten]
        book.forgotten.clear()
        if job.trade_id in book.jobs or job.trade_id in book.stalled:
            rows.append((JOB, job.trade_id, job))
        else:
            delete.append((JOB, job.trade_id))
        if answer is not None:
            rows.append((ANSWER, answer.trade_id, answer))
        self._write(rows, delete, synced)

    def _send(self, job: HedgeJob) -> BHedged | BHedgeFailed | None:
        """Place the current attempt: a market order for what is left (a rest not filled at once is cancelled)."""
        if job.recheck:  # an operator's retry: the earlier attempts first
            return self._resolve_attempt(job)
        self.book.sending(job, self.clock.now())
        self._save(job, synced=True)  # before the venue call: a crash during it resumes by resolving the client id
        client_order_id = job.client_order_id(self.name)
        try:
            order = self._place(job)
        except VenueTimeout as error:
            self.log.warning(
                "hedge of {}: placing {} timed out ({}); asking the venue what it did",
                job.trade_id,
                client_order_id,
                error,
            )
            return self._resolve_attempt(job)
        except VenueError as error:  # refused or down: nothing was placed
            return self.book.absent(job, f"{type(error).__name__}: {error}")
        return self.book.order_seen(job, order)

    def _place(self, job: HedgeJob) -> Order:
        """One attempt's venue call: a market order for what is left (a rest not filled at once is cancelled)."""
        order = self.venue.create_order(
            self.exchange,
            self.account,
            job.market,
            job.side,
            OrderType.MARKET,
            job.remaining,
            None,
            job.client_order_id(self.name),
        )
        if order.status is OrderStatus.OPEN:
            order = self.venue.cancel_order(order.order_id)
        return order

    def _resolve_attempt(self, job: HedgeJob) -> BHedged | BHedgeFailed | None:
        """What became of the current attempt, asked of the venue: by client order id, then by recent fills.

        The job's earlier orders are asked about again first (they may have filled more since; on an
        operator's retry, every earlier attempt's client id too).
        Unanswerable (the venue is down, or fills it cannot attribute) leaves the job "unknown".
        """
        client_order_id = job.client_order_id(self.name)
        try:
            for order_id in list(job.orders):
                self.book.book_order(job, self.venue.fetch_order(order_id))
            if job.recheck:  # an operator's retry: every earlier attempt, even one never seen to fill
                for earlier in job.client_order_ids(self.name)[:-1]:
                    found = self.venue.fetch_order_by_client_id(self.exchange, self.account, earlier)
                    if found is not None and found.order_id not in job.orders:
                        self.book.book_order(job, found)
            order = self.venue.fetch_order_by_client_id(self.exchange, self.account, client_order_id)
            if order is not None and order.status is OrderStatus.OPEN:
                order = self.venue.cancel_order(order.order_id)
            if order is None and job.in_doubt:
                known = self.book.known_orders()
                strays = [
                    f
                    for f in self.venue.fetch_fills(self.exchange, self.account, job.sent_at)
                    if f.market == job.market and f.side is job.side and f.order_id not in known
                ]
                if strays:
                    self.book.outcome_unknown(
                        job,
                        f"the venue has no order {client_order_id}, but fills "
                        f"{[f.trade_id for f in strays]} since it was sent are not accounted for",
                    )
                    return None
        except VenueError as error:
            self.book.outcome_unknown(
                job, f"cannot ask the venue about {client_order_id}: {type(error).__name__}: {error}"
            )
            return None
        job.unknown = ""
        rechecking, job.recheck = job.recheck, False
        if order is not None:
            self.log.info(
                "hedge of {}: {} is order {} ({}, {} filled)",
                job.trade_id,
                client_order_id,
                order.order_id,
                order.status.value,
                order.filled,
            )
            return self.book.order_seen(job, order)
        if rechecking:
            if job.remaining <= EPSILON:  # the earlier orders hedged it after all
                return self.book.finish_hedged(job, next(reversed(job.orders)))
            return None  # nothing more at the venue: send the current attempt
        return self.book.absent(job, f"{client_order_id} timed out and the venue has no such order")

    def _answer(self, reply_to: str, answer: BHedged | BHedgeFailed) -> None:
        try:
            self.tell(reply_to, answer)
        except UnknownActorError:
            self.log.error(
                "cannot answer {} about {}: no such actor (the answer is kept for a repeat)", reply_to, answer.trade_id
            )

    def on_hedge_status(self, message: HedgeStatus) -> HedgerReport:
        leg = self.book.leg
        report = HedgerReport(
            leg=leg.report(self.name, self.where, leg.last_price),
            open_hedges=list(self.book.jobs),
            hedges_done=self.book.hedges_done,
            hedges_failed=self.book.hedges_failed,
            unknown=self.book.unknown,
            stalled=list(self.book.stalled),
        )
        if message.reply_to:
            self.tell(message.reply_to, report)
        return report
