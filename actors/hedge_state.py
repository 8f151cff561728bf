"""The hedge pair's bookkeeping, no threads and no I/O: positions and PnL, fills awaiting their hedge, B's hedge jobs.

`HedgeBook` is A's side: its orders, which fills B has not answered yet, dedupe by trade id,
the pause flag, and both legs' positions. `HedgerBook` is B's side: one `HedgeJob` per fill
to hedge (attempts, client order ids, what each order filled) and the answers already given.
Both turn into a JSON-able dict (`to_dict`) and back (`from_dict`) for the journal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

import msgspec

from messages.hedge import AFilled, BHedged, BHedgeFailed, HedgeReport, LegReport
from messages.trading import Fill, Order, OrderStatus, Side

__all__ = ["EPSILON", "HedgeBook", "HedgeJob", "HedgerBook", "Leg", "PendingHedge", "TrackedOrder"]

EPSILON = 1e-9
"""Quantities closer than this are equal (the venue rounds to 1e-8)."""

OPEN_LONG, CLOSE_LONG = "open", "close"

_Answer = TypeVar("_Answer", BHedged, BHedgeFailed)


def _round(value: float) -> float:
    return round(value, 8)


def _load(cls: type[Any], data: dict[str, Any]) -> Any:
    """A dataclass from its `asdict` form (unknown keys ignored, so an older journal still loads)."""
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    if "side" in values:
        values["side"] = Side(values["side"])
    return cls(**values)


@dataclass
class Leg:
    """One account's position in the base currency (long > 0) and its PnL in the quote, by average cost.

    ``realised`` is gross of ``fees``; ``last_price`` is the last price this leg traded at.
    """

    position: float = 0.0
    average_price: float | None = None
    realised: float = 0.0
    fees: float = 0.0
    last_price: float | None = None

    def trade(self, side: Side, quantity: float, price: float, fee: float = 0.0) -> None:
        """Book ``quantity`` bought or sold at ``price``: closing trades realise PnL against the average."""
        signed = quantity if side is Side.BUY else -quantity
        before, average = self.position, self.average_price or 0.0
        after = _round(before + signed)
        if abs(before) <= EPSILON or (before > 0) == (signed > 0):  # opening or adding
            self.average_price = (abs(before) * average + quantity * price) / abs(after) if abs(after) > EPSILON else None
        else:  # reducing, closing, or flipping
            closed = min(abs(before), quantity)
            self.realised = _round(self.realised + closed * (price - average) * (1 if before > 0 else -1))
            if abs(after) <= EPSILON:
                self.average_price = None
            elif (after > 0) != (before > 0):
                self.average_price = price
        self.position = 0.0 if abs(after) <= EPSILON else after
        self.fees = _round(self.fees + fee)
        self.last_price = price

    def unrealised(self, mark: float | None) -> float:
        """What closing the position at ``mark`` would realise (0 when flat or no mark is known)."""
        if mark is None or self.average_price is None or abs(self.position) <= EPSILON:
            return 0.0
        return _round(self.position * (mark - self.average_price))

    def report(self, name: str, account: str, mark: float | None) -> LegReport:
        return LegReport(
            name=name,
            account=account,
            position=self.position,
            average_price=self.average_price,
            realised_pnl=self.realised,
            unrealised_pnl=self.unrealised(mark),
            fees=self.fees,
        )


@dataclass
class PendingHedge:
    """A fill of A that B has been asked to hedge (``quantity`` is what this request hedges)."""

    trade_id: str
    order_id: str
    market: str
    side: Side  # A's side; B hedges the opposite
    quantity: float
    price: float
    sent_at: float
    request: int = 1
    timed_out: bool = False

    def message(self, reply_to: str) -> AFilled:
        """The `AFilled` that asks B to hedge this fill."""
        return AFilled(
            trade_id=self.trade_id,
            order_id=self.order_id,
            market=self.market,
            side=self.side,
            quantity=self.quantity,
            price=self.price,
            reply_to=reply_to,
            request=self.request,
        )


@dataclass
class TrackedOrder:
    """One of A's orders and how much of it is known filled.

    ``seen`` comes from pushed fills; ``covered`` is what A has booked and sent to B (pushed
    fills plus fills the venue reports that were never pushed); ``venue_filled`` is what the
    venue said at the last check.
    """

    order_id: str
    side: Side
    quantity: float
    price: float | None
    placed_at: float
    seen: float = 0.0
    covered: float = 0.0
    venue_filled: float = 0.0
    average_price: float | None = None
    finished: bool = False
    unseen_fills: int = 0
    trade_ids: list[str] = field(default_factory=list)  # of the pushed fills booked, to ignore a repeat

    @property
    def settled(self) -> bool:
        """Finished, and every fill the venue reported is booked and sent to B."""
        return self.finished and self.covered >= self.venue_filled - EPSILON


class HedgeBook:
    """A's bookkeeping: its orders and rounds, fills awaiting B's answer, pause flag, both legs.

    A round is one limit order: open long (buy ``quantity``), then close long (sell it back),
    and again. The next order's side and size follow from A's position, so an order that filled
    only partially before it was cancelled is completed by the next one. A fill is hedged once:
    by trade id, and by quantity per order (a fill the venue reports but never pushed is
    hedged when found; a late push of it is not hedged again). An order is forgotten once it
    is settled and no longer current; a fill pushed for it after that is a repeat (a settled
    order fills no more) and is ignored like a fill of any order that is not ours.
    """

    def __init__(self, market: str, session: str = "") -> None:
        self.market = market
        self.session = session  # prefix of A's client order ids: unique per journal (or per start without one)
        self.a = Leg()
        self.b = Leg()
        self.direction = OPEN_LONG
        self.round = 0  # orders placed so far (client ids are session-round)
        self.paused = False
        self.pause_reason = ""
        self.pending: dict[str, PendingHedge] = {}
        self.failed: dict[str, PendingHedge] = {}  # unhedged remainders waiting for an operator
        self.orders: dict[str, TrackedOrder] = {}
        self.current: str | None = None
        self.hedges_done = 0
        self.hedges_failed = 0
        self.timeouts = 0
        self.last_price: float | None = None

    # ---- rounds ------------------------------------------------------------------------------

    def next_order(self, quantity: float) -> tuple[Side, float]:
        """Side and size of the next round's order: towards +``quantity`` when opening, 0 when closing."""
        gap = self._gap(quantity)
        if abs(gap) <= EPSILON:
            self.direction = CLOSE_LONG if self.direction == OPEN_LONG else OPEN_LONG
            gap = self._gap(quantity)
        return (Side.BUY if gap > 0 else Side.SELL), _round(abs(gap))

    def _gap(self, quantity: float) -> float:
        target = quantity if self.direction == OPEN_LONG else 0.0
        return _round(target - self.a.position)

    def next_client_order_id(self) -> str:
        """The client id of the next order; the same until an order is placed, so a retry cannot place two."""
        return f"{self.session}-{self.round + 1}"

    def order_placed(self, order: Order, now: float) -> TrackedOrder:
        """The venue accepted (or rejected) the next round's order."""
        self.round += 1
        tracked = self.orders.get(order.order_id)
        if tracked is None:
            tracked = TrackedOrder(order.order_id, order.side, order.quantity, order.price, now)
            self.orders[order.order_id] = tracked
        tracked.venue_filled = max(tracked.venue_filled, order.filled)  # the venue's first word on it
        tracked.average_price = order.average_price
        if order.status is not OrderStatus.OPEN:
            tracked.finished = True
        self.current = order.order_id
        self._forget_settled()
        return tracked

    @property
    def current_order(self) -> TrackedOrder | None:
        return self.orders.get(self.current) if self.current is not None else None

    @property
    def can_open(self) -> bool:
        """No pause, no unanswered or failed hedge, and the last order is settled."""
        order = self.current_order
        return not (self.paused or self.pending or self.failed or (order is not None and not order.settled))

    def _forget_settled(self) -> None:
        for order_id in [o for o, t in self.orders.items() if t.settled and o != self.current]:
            del self.orders[order_id]

    # ---- fills -------------------------------------------------------------------------------

    def record_fill(self, fill: Fill, now: float) -> PendingHedge | None:
        """Book a pushed fill of A; the hedge to ask B for, or None (repeated, not ours, or already hedged)."""
        tracked = self.orders.get(fill.order_id)
        if tracked is None or fill.trade_id in tracked.trade_ids:
            return None  # a repeat, or not an order of this pair (another strategy on the account)
        tracked.trade_ids.append(fill.trade_id)
        self.last_price = fill.price
        tracked.seen = _round(tracked.seen + fill.quantity)
        if tracked.seen >= tracked.quantity - EPSILON:
            tracked.finished = True
        new = _round(tracked.seen - tracked.covered)
        if new <= EPSILON:  # already hedged as an unseen fill found at the venue
            self.a.fees = _round(self.a.fees + fill.fee)
            return None
        quantity = min(new, fill.quantity)
        tracked.covered = _round(tracked.covered + quantity)
        return self._hedge(fill.trade_id, tracked, quantity, fill.price, fill.fee, now)

    def observe_order(self, order: Order, now: float) -> PendingHedge | None:
        """Compare the venue's view of an order with the fills pushed so far.

        What the venue had filled at the previous check (or when it took the order) and was
        still never pushed is booked and returned as a hedge to ask for (its trade id is
        ``<order>:unseen:<n>``). Only an earlier look counts: a fill the venue just made may
        still be on its way.
        """
        tracked = self.orders.get(order.order_id)
        if tracked is None:
            return None
        confirmed = min(tracked.venue_filled, order.filled)
        tracked.venue_filled = order.filled
        tracked.average_price = order.average_price
        if order.status is not OrderStatus.OPEN:
            tracked.finished = True
        missing = _round(confirmed - tracked.covered)
        if missing <= EPSILON:
            return None
        tracked.unseen_fills += 1
        tracked.covered = _round(tracked.covered + missing)
        price = order.average_price or order.price or self.last_price or 0.0
        return self._hedge(f"{order.order_id}:unseen:{tracked.unseen_fills}", tracked, missing, price, 0.0, now)

    def _hedge(
        self, trade_id: str, tracked: TrackedOrder, quantity: float, price: float, fee: float, now: float
    ) -> PendingHedge:
        self.a.trade(tracked.side, quantity, price, fee)
        pending = PendingHedge(trade_id, tracked.order_id, self.market, tracked.side, quantity, price, now)
        self.pending[trade_id] = pending
        return pending

    # ---- B's answers -------------------------------------------------------------------------

    def _answered(self, trade_id: str, request: int) -> PendingHedge | None:
        pending = self.pending.get(trade_id)
        if pending is None or pending.request != request:
            return None  # late or repeated: that request was answered already
        del self.pending[trade_id]
        return pending

    def hedged(self, answer: BHedged) -> PendingHedge | None:
        """B hedged a fill: book B's leg. None when the answer is late or repeated (nothing changes)."""
        pending = self._answered(answer.trade_id, answer.request)
        if pending is None:
            return None
        self.b.trade(pending.side.opposite, answer.quantity, answer.average_price, answer.fee)
        self.hedges_done += 1
        return pending

    def hedge_failed(self, answer: BHedgeFailed) -> PendingHedge | None:
        """B gave up: book what it did hedge, keep the rest for an operator, and pause."""
        pending = self._answered(answer.trade_id, answer.request)
        if pending is None:
            return None
        if answer.quantity > EPSILON and answer.average_price is not None:
            self.b.trade(pending.side.opposite, answer.quantity, answer.average_price, answer.fee)
        pending.quantity = _round(pending.quantity - answer.quantity)
        if pending.quantity > EPSILON:
            self.failed[pending.trade_id] = pending
        self.hedges_failed += 1
        self.paused = True
        self.pause_reason = f"hedge of {pending.trade_id} failed after {answer.retries} attempts: {answer.reason}"
        return pending

    def resume(self, retry_failed: bool, now: float) -> list[PendingHedge]:
        """Lift the pause; with ``retry_failed`` the failed remainders become new requests to B (returned)."""
        self.paused, self.pause_reason = False, ""
        again = list(self.failed.values()) if retry_failed else []
        self.failed.clear()
        for pending in again:
            pending.request += 1
            pending.sent_at, pending.timed_out = now, False
            self.pending[pending.trade_id] = pending
        return again

    # ---- waiting -----------------------------------------------------------------------------

    @property
    def waiting_since(self) -> float | None:
        return min((p.sent_at for p in self.pending.values()), default=None)

    def next_deadline(self, timeout: float) -> float | None:
        """When the next unanswered hedge times out (None if every one has)."""
        return min((p.sent_at + timeout for p in self.pending.values() if not p.timed_out), default=None)

    def time_out(self, now: float, timeout: float) -> list[PendingHedge]:
        """Mark the hedges unanswered for ``timeout`` seconds; returns those newly timed out."""
        due = [p for p in self.pending.values() if not p.timed_out and p.sent_at + timeout <= now]
        for pending in due:
            pending.timed_out = True
        self.timeouts += len(due)
        return due

    def recheck(self, now: float) -> list[PendingHedge]:
        """The timed-out hedges, to ask B about again (B answers a repeated request from memory)."""
        again = [p for p in self.pending.values() if p.timed_out]
        for pending in again:
            pending.sent_at, pending.timed_out = now, False
        return again

    # ---- reporting ---------------------------------------------------------------------------

    @property
    def net_exposure(self) -> float:
        return _round(self.a.position + self.b.position)

    def report(self, a: tuple[str, str], b: tuple[str, str], mark: float | None) -> HedgeReport:
        """The pair now; ``a`` and ``b`` are (actor name, account) labels; unrealised PnL is valued
        at ``mark`` (or the last price seen), the same for both legs (they trade the same base)."""
        mark = mark if mark is not None else self.last_price
        legs = (self.a, self.b)
        order = self.current_order
        return HedgeReport(
            market=self.market,
            a=self.a.report(*a, mark),
            b=self.b.report(*b, mark),
            net_exposure=self.net_exposure,
            paused=self.paused,
            pause_reason=self.pause_reason,
            unanswered=list(self.pending),
            waiting_since=self.waiting_since,
            failed=list(self.failed),
            open_order=order.order_id if order is not None and not order.settled else None,
            hedges_done=self.hedges_done,
            hedges_failed=self.hedges_failed,
            timeouts=self.timeouts,
            realised_pnl=_round(math.fsum(leg.realised - leg.fees for leg in legs)),
            unrealised_pnl=_round(math.fsum(leg.unrealised(mark) for leg in legs)),
            mark_price=mark,
        )

    # ---- journal form ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "session": self.session,
            "a": asdict(self.a),
            "b": asdict(self.b),
            "direction": self.direction,
            "round": self.round,
            "paused": self.paused,
            "pause_reason": self.pause_reason,
            "pending": [asdict(p) for p in self.pending.values()],
            "failed": [asdict(p) for p in self.failed.values()],
            "orders": [asdict(o) for o in self.orders.values()],
            "current": self.current,
            "counts": [self.hedges_done, self.hedges_failed, self.timeouts],
            "last_price": self.last_price,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HedgeBook:
        book = cls(data["market"], data["session"])
        book.a, book.b = _load(Leg, data["a"]), _load(Leg, data["b"])
        book.direction, book.round = data["direction"], data["round"]
        book.paused, book.pause_reason = data["paused"], data["pause_reason"]
        book.pending = {p["trade_id"]: _load(PendingHedge, p) for p in data["pending"]}
        book.failed = {p["trade_id"]: _load(PendingHedge, p) for p in data["failed"]}
        book.orders = {o["order_id"]: _load(TrackedOrder, o) for o in data["orders"]}
        book.current = data["current"]
        book.hedges_done, book.hedges_failed, book.timeouts = data["counts"]
        book.last_price = data["last_price"]
        return book


# ==== B's side ====================================================================================


@dataclass
class HedgeJob:
    """B's work on one hedge request: a market order on ``side`` for ``quantity``, attempt after attempt.

    ``orders`` maps each order placed to [filled, average price, fee] as last seen, so asking
    the venue about the same order again never books its fills twice. ``attempt`` is part of the
    client order id and moves on only when the venue has answered with an order that did not
    complete the hedge: after a timeout or a crash the next try reuses the same id.
    """

    trade_id: str
    request: int
    reply_to: str
    market: str
    side: Side  # B's side: the opposite of A's
    quantity: float
    opened_at: float
    attempt: int = 1
    failures: int = 0
    reason: str = ""
    orders: dict[str, list[float]] = field(default_factory=dict)

    @property
    def hedged(self) -> float:
        return _round(math.fsum(filled for filled, _, _ in self.orders.values()))

    @property
    def remaining(self) -> float:
        return max(0.0, _round(self.quantity - self.hedged))

    @property
    def average_price(self) -> float | None:
        hedged = self.hedged
        if hedged <= EPSILON:
            return None
        return _round(math.fsum(filled * price for filled, price, _ in self.orders.values()) / hedged)

    @property
    def fee(self) -> float:
        return _round(math.fsum(fee for _, _, fee in self.orders.values()))

    def client_order_id(self, owner: str) -> str:
        """Derived from the trade id, request and attempt: a restarted B computes the same id."""
        return f"{owner}-{self.trade_id}-{self.request}-{self.attempt}"


class HedgerBook:
    """B's bookkeeping: open hedge jobs, the answers given (to repeat, never re-hedge), B's leg.

    A job gets up to ``retry_times`` failed attempts in all; then it is answered `BHedgeFailed`.
    """

    def __init__(self, retry_times: int = 3, remember: int = 10_000) -> None:
        if retry_times < 1:
            raise ValueError(f"retry_times must be >= 1, got {retry_times!r}")
        self.retry_times = retry_times
        self.remember = remember
        self.leg = Leg()
        self.jobs: dict[str, HedgeJob] = {}
        self.answers: dict[str, BHedged | BHedgeFailed] = {}
        self.hedges_done = 0
        self.hedges_failed = 0

    def answer_for(self, request: AFilled) -> BHedged | BHedgeFailed | None:
        """The answer already given to this request (or a later one), to repeat instead of hedging again."""
        answer = self.answers.get(request.trade_id)
        return answer if answer is not None and answer.request >= request.request else None

    def open(self, request: AFilled, market: str, now: float) -> HedgeJob | None:
        """A job for a new request; None if this request is being worked on already."""
        job = self.jobs.get(request.trade_id)
        if job is not None and job.request >= request.request:
            return None
        job = HedgeJob(request.trade_id, request.request, request.reply_to, market, request.side.opposite,
                       request.quantity, now)
        self.jobs[job.trade_id] = job
        return job

    def order_seen(self, job: HedgeJob, order: Order) -> BHedged | BHedgeFailed | None:
        """The venue answered an attempt with ``order``: book its fills; the answer once done or given up,
        None to try again (with a new client order id)."""
        before = job.orders.get(order.order_id, [0.0, 0.0, 0.0])
        filled, fee = order.filled, order.fee
        if filled > before[0] + EPSILON:
            cost = filled * (order.average_price or 0.0) - before[0] * before[1]
            delta = _round(filled - before[0])
            self.leg.trade(job.side, delta, cost / delta, _round(fee - before[2]))
        job.orders[order.order_id] = [filled, order.average_price or 0.0, fee]
        if job.remaining <= EPSILON:
            return self._finish(job, BHedged(job.trade_id, job.hedged, job.average_price or 0.0, order.order_id,
                                             job.fee, job.request))
        why = order.reason or f"order {order.order_id} {order.status.value} with {order.filled} of {order.quantity} filled"
        return self.attempt_failed(job, why, new_id=True)

    def attempt_failed(self, job: HedgeJob, reason: str, new_id: bool = False) -> BHedgeFailed | None:
        """An attempt did not complete the hedge; the failure answer once out of attempts, None to try again.

        Without ``new_id`` the next try reuses the client order id (the venue may have the order).
        """
        job.failures += 1
        job.reason = reason
        if new_id:
            job.attempt += 1
        if job.failures < self.retry_times:
            return None
        return self._finish(job, BHedgeFailed(job.trade_id, reason, job.failures, job.hedged, job.average_price,
                                              job.fee, job.request))

    def _finish(self, job: HedgeJob, answer: _Answer) -> _Answer:
        del self.jobs[job.trade_id]
        self.answers[job.trade_id] = answer
        while len(self.answers) > self.remember:
            del self.answers[next(iter(self.answers))]
        if isinstance(answer, BHedged):
            self.hedges_done += 1
        else:
            self.hedges_failed += 1
        return answer

    def to_dict(self) -> dict[str, Any]:
        return {
            "retry_times": self.retry_times,
            "remember": self.remember,
            "leg": asdict(self.leg),
            "jobs": [asdict(job) for job in self.jobs.values()],
            "answers": [msgspec.to_builtins(answer) for answer in self.answers.values()],
            "counts": [self.hedges_done, self.hedges_failed],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], retry_times: int | None = None) -> HedgerBook:
        """The book from its journal form; ``retry_times`` (the configuration now) wins over the saved one."""
        book = cls(retry_times or data["retry_times"], data["remember"])
        book.leg = _load(Leg, data["leg"])
        book.jobs = {job["trade_id"]: _load(HedgeJob, job) for job in data["jobs"]}
        answers = msgspec.convert(data["answers"], list[BHedged | BHedgeFailed])
        book.answers = {answer.trade_id: answer for answer in answers}
        book.hedges_done, book.hedges_failed = data["counts"]
        return book
