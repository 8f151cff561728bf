"""B's bookkeeping, no threads and no I/O: one `HedgeJob` per fill of A, the answers given, B's leg.

`JobBook` is a msgspec Struct whose encoded fields are B's small journal record (its leg and
counters); each job and each remembered answer is a row of its own.
"""

from __future__ import annotations

import enum
import math
from typing import TypeVar

import msgspec

from actors.hedge.legs import EPSILON, Leg, rounded
from messages.hedge import AFilled, BHedged, BHedgeFailed
from messages.trading import Order, Side

__all__ = ["HedgeJob", "JobBook", "JobState"]

_Answer = TypeVar("_Answer", BHedged, BHedgeFailed)


class JobState(enum.StrEnum):
    """B's job: being worked on, or answered failed and kept for an operator's retry."""

    OPEN = "open"
    STALLED = "stalled"


class HedgeJob(msgspec.Struct):
    """B's work on one fill of A: market orders on ``side`` until ``target`` is hedged, attempt after attempt.

    ``orders`` maps each order placed to [filled, average price, fee] as last seen, so asking
    the venue about the same order again never books its fills twice. ``attempt`` numbers the
    client order id (derived from the trade id and attempt only, never the request): it moves
    on only when the venue has answered with an order that did not complete the hedge, so a
    retry after a timeout, a crash or an operator's resume looks up (and reuses) the earlier
    id first. ``in_doubt`` is set before an attempt's order is sent and cleared once the venue
    said what became of it; ``unknown`` says why an outcome could not be resolved yet.
    ``told`` is the quantity already reported to A in earlier answers (a resumed request hedges
    ``target - hedged``; its answer reports ``hedged - told``).
    """

    trade_id: str
    request: int
    reply_to: str
    market: str
    side: Side  # B's side: the opposite of A's
    quantity: float  # what this request asks
    opened_at: float
    attempt: int = 1
    failures: int = 0
    reason: str = ""
    orders: dict[str, list[float]] = msgspec.field(default_factory=dict)
    told: float = 0.0
    told_cost: float = 0.0
    told_fee: float = 0.0
    in_doubt: bool = False
    sent_at: float = 0.0
    unknown: str = ""
    state: JobState = JobState.OPEN
    alerted: bool = False  # an "unknown" alert was raised (resolved once the venue answers)
    recheck: bool = False  # look up the earlier attempts before sending (an operator's retry)

    @property
    def target(self) -> float:
        return rounded(self.told + self.quantity)

    @property
    def hedged(self) -> float:
        return rounded(math.fsum(filled for filled, _, _ in self.orders.values()))

    @property
    def remaining(self) -> float:
        return max(0.0, rounded(self.target - self.hedged))

    @property
    def new_quantity(self) -> float:
        """Hedged since the last answer: what this request's answer reports."""
        return max(0.0, rounded(self.hedged - self.told))

    @property
    def cost(self) -> float:
        return math.fsum(filled * price for filled, price, _ in self.orders.values())

    @property
    def average_price(self) -> float | None:
        """The average price of what was hedged since the last answer (None if nothing was)."""
        new = self.new_quantity
        return rounded((self.cost - self.told_cost) / new) if new > EPSILON else None

    @property
    def fee(self) -> float:
        """The fees paid since the last answer."""
        return max(0.0, rounded(math.fsum(fee for _, _, fee in self.orders.values()) - self.told_fee))

    def told_a(self) -> None:
        """An answer reports everything hedged so far: a later request starts from here."""
        self.told, self.told_cost = self.hedged, self.cost
        self.told_fee = rounded(math.fsum(fee for _, _, fee in self.orders.values()))

    def client_order_id(self, owner: str) -> str:
        """Derived from the trade id and attempt: a restarted or resumed B computes the same id."""
        return f"{owner}-{self.trade_id}-{self.attempt}"

    def client_order_ids(self, owner: str) -> list[str]:
        """Every client id this job may have used so far, oldest first (the current attempt last)."""
        return [f"{owner}-{self.trade_id}-{n}" for n in range(1, self.attempt + 1)]


class JobBook(msgspec.Struct, dict=True):
    """B's bookkeeping: open hedge jobs, the answers given (to repeat, never re-hedge), B's leg.

    A job gets ``retries`` retries after its first failed attempt (``retries + 1`` attempts in
    all); then it is answered `BHedgeFailed` and kept in ``stalled`` (never forgotten), so an
    operator's retry continues it: the same client ids, the fills already booked. The encoded
    fields are B's small record; jobs and answers are saved one row each.
    """

    retries: int = 3
    remember: int = 10_000
    leg: Leg = msgspec.field(default_factory=Leg)
    hedges_done: int = 0
    hedges_failed: int = 0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries!r}")
        self.jobs: dict[str, HedgeJob] = {}
        self.stalled: dict[str, HedgeJob] = {}
        self.answers: dict[str, BHedged | BHedgeFailed] = {}
        self.forgotten: list[str] = []  # trade ids whose answers were dropped since the last save

    def restore(self, jobs: list[HedgeJob], answers: list[BHedged | BHedgeFailed]) -> None:
        """Put back the jobs and answers saved beside the record (answers oldest first)."""
        for job in jobs:
            (self.jobs if job.state is JobState.OPEN else self.stalled)[job.trade_id] = job
        for answer in answers[-self.remember :] if self.remember else []:
            self.answers[answer.trade_id] = answer

    def answer_for(self, request: AFilled) -> BHedged | BHedgeFailed | None:
        """The answer already given to this request (or a later one), to repeat instead of hedging again."""
        answer = self.answers.get(request.trade_id)
        return answer if answer is not None and answer.request >= request.request else None

    def open(self, request: AFilled, market: str, now: float) -> HedgeJob | None:
        """A job for a new request; None if this request is being worked on already.

        A later request for a fill whose hedge failed continues that job, marked in doubt so its
        earlier attempts are looked up at the venue before anything is placed.
        """
        job = self.jobs.get(request.trade_id)
        if job is not None and job.request >= request.request:
            return None
        earlier = self.stalled.pop(request.trade_id, None) or job
        if earlier is not None:
            earlier.state = JobState.OPEN
            earlier.request, earlier.reply_to = request.request, request.reply_to
            earlier.quantity = request.quantity
            earlier.failures, earlier.reason, earlier.unknown = 0, "", ""
            earlier.recheck = True
            job = earlier
        else:
            job = HedgeJob(
                request.trade_id,
                request.request,
                request.reply_to,
                market,
                request.side.opposite,
                request.quantity,
                now,
            )
        self.jobs[job.trade_id] = job
        return job

    def known_orders(self) -> set[str]:
        """Every order id B has booked for some hedge (to tell B's own fills from others')."""
        known = {order_id for job in (*self.jobs.values(), *self.stalled.values()) for order_id in job.orders}
        known |= {a.order_id for a in self.answers.values() if isinstance(a, BHedged)}
        return known

    def sending(self, job: HedgeJob, now: float) -> None:
        """The current attempt's order is about to be sent: its outcome is in doubt until the venue answers."""
        job.in_doubt, job.sent_at = True, now

    def book_order(self, job: HedgeJob, order: Order) -> None:
        """Book what ``order`` (one of the job's) has filled beyond what was seen of it before."""
        before = job.orders.get(order.order_id, [0.0, 0.0, 0.0])
        filled, fee = order.filled, order.fee
        if filled > before[0] + EPSILON:
            cost = filled * (order.average_price or 0.0) - before[0] * before[1]
            delta = rounded(filled - before[0])
            self.leg.trade(job.side, delta, cost / delta, rounded(fee - before[2]))
        if filled > EPSILON or order.order_id in job.orders:
            job.orders[order.order_id] = [filled, order.average_price or 0.0, fee]

    def order_seen(self, job: HedgeJob, order: Order) -> BHedged | BHedgeFailed | None:
        """The venue answered the current attempt with ``order``: book its fills; the answer once done or
        given up, None to try again (with the next client order id)."""
        job.in_doubt, job.unknown = False, ""
        self.book_order(job, order)
        if job.remaining <= EPSILON:
            return self.finish_hedged(job, order.order_id)
        why = (
            order.reason
            or f"order {order.order_id} {order.status.value} with {order.filled} of {order.quantity} filled"
        )
        return self.attempt_failed(job, why, new_id=True)

    def finish_hedged(self, job: HedgeJob, order_id: str) -> BHedged:
        return self._finish(
            job, BHedged(job.trade_id, job.new_quantity, job.average_price or 0.0, order_id, job.fee, job.request)
        )

    def absent(self, job: HedgeJob, reason: str) -> BHedgeFailed | None:
        """The venue has no order under the current attempt's id and no unexplained fill: the attempt did
        nothing. One failure; the answer once out of retries, None to try again (the same id)."""
        job.in_doubt, job.unknown = False, ""
        return self.attempt_failed(job, reason)

    def outcome_unknown(self, job: HedgeJob, reason: str) -> None:
        """The current attempt's outcome cannot be resolved now: neither retried nor given up."""
        job.unknown = reason

    def attempt_failed(self, job: HedgeJob, reason: str, new_id: bool = False) -> BHedgeFailed | None:
        """An attempt did not complete the hedge; the failure answer once out of retries, None to try again.

        Without ``new_id`` the next try reuses the client order id.
        """
        job.failures += 1
        job.reason = reason
        if new_id:
            job.attempt += 1
        if job.failures <= self.retries:
            return None
        answer = BHedgeFailed(
            job.trade_id, reason, job.failures, job.new_quantity, job.average_price, job.fee, job.request
        )
        self._finish(job, answer)
        job.state = JobState.STALLED
        self.stalled[job.trade_id] = job
        return answer

    def _finish(self, job: HedgeJob, answer: _Answer) -> _Answer:
        job.told_a()
        del self.jobs[job.trade_id]
        self.answers[job.trade_id] = answer
        while len(self.answers) > self.remember:
            oldest = next(iter(self.answers))
            del self.answers[oldest]
            self.forgotten.append(oldest)
        if isinstance(answer, BHedged):
            self.hedges_done += 1
        else:
            self.hedges_failed += 1
        return answer

    @property
    def unknown(self) -> list[str]:
        """Trade ids whose current attempt's outcome is not known."""
        return [job.trade_id for job in self.jobs.values() if job.unknown]
