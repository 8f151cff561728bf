"""The hedge pair's bookkeeping, no threads and no I/O: positions and PnL, fills awaiting their hedge, B's hedge jobs.

`HedgeBook` is A's side: its orders, which fills B has not answered yet, dedupe by trade id,
the pause flag, and both legs' positions. `HedgerBook` is B's side: one `HedgeJob` per fill
to hedge (attempts, client order ids, what each order filled) and the answers already given.
Both are msgspec Structs whose encoded fields are their small journal record (positions,
counters, the current orders); the open hedges (A's `PendingHedge`, B's `HedgeJob`) and B's
remembered answers are saved one row each, never as one document with the book.
"""

from __future__ import annotations

import enum
import math
from typing import TypeVar

import msgspec

from messages.hedge import AFilled, BHedged, BHedgeFailed, HedgeReport, LegReport
from messages.trading import Fill, Order, OrderStatus, Side

__all__ = [
    "EPSILON",
    "Direction",
    "HedgeBook",
    "HedgeJob",
    "HedgeState",
    "HedgerBook",
    "JobState",
    "Leg",
    "ManualHedge",
    "PendingHedge",
    "PlacementInDoubt",
    "TrackedOrder",
]

EPSILON = 1e-9
"""Quantities closer than this are equal (the venue rounds to 1e-8)."""



class Direction(enum.StrEnum):
    """Where A's rounds are heading: opening the long, or closing it."""

    OPEN_LONG = "open"
    CLOSE_LONG = "close"


class HedgeState(enum.StrEnum):
    """Where a fill of A stands: asked of B, given up by B, or left unhedged by an operator's resume."""

    PENDING = "pending"
    FAILED = "failed"
    RESIDUAL = "residual"


class JobState(enum.StrEnum):
    """B's job: being worked on, or answered failed and kept for an operator's retry."""

    OPEN = "open"
    STALLED = "stalled"


_Answer = TypeVar("_Answer", BHedged, BHedgeFailed)


def _round(value: float) -> float:
    return round(value, 8)


class Leg(msgspec.Struct):
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


class PendingHedge(msgspec.Struct):
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
    state: HedgeState = HedgeState.PENDING

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


class PlacementInDoubt(msgspec.Struct):
    """A's order placement that timed out: the venue may hold ``client_order_id`` (resolved before acting again)."""

    client_order_id: str
    side: Side
    quantity: float
    since: float


class ManualHedge(msgspec.Struct):
    """A hedge an operator made by hand and booked (`BookManualHedge`), with the venue's reference."""

    reference: str
    quantity: float
    price: float
    fee: float
    trade_ids: list[str]
    at: float


class TrackedOrder(msgspec.Struct):
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
    trade_ids: list[str] = msgspec.field(default_factory=list)  # of the pushed fills booked, to ignore a repeat

    @property
    def settled(self) -> bool:
        """Finished, and every fill the venue reported is booked and sent to B."""
        return self.finished and self.covered >= self.venue_filled - EPSILON


class HedgeBook(msgspec.Struct, dict=True):
    """A's bookkeeping: its orders and rounds, fills awaiting B's answer, pause flag, both legs.

    A round is one limit order: open long (buy ``quantity``), then close long (sell it back),
    and again. The next order's side and size follow from A's position, so an order that filled
    only partially before it was cancelled is completed by the next one. A fill is hedged once:
    by trade id, and by quantity per order (a fill the venue reports but never pushed is
    hedged when found; a late push of it is not hedged again). An order is forgotten once it
    is settled and no longer current; a fill pushed for it after that is a repeat (a settled
    order fills no more) and is ignored like a fill of any order that is not ours.
    """

    market: str
    session: str = ""  # prefix of A's client order ids: unique per journal (or per start without one)
    a: Leg = msgspec.field(default_factory=Leg)
    b: Leg = msgspec.field(default_factory=Leg)
    direction: Direction = Direction.OPEN_LONG
    round: int = 0  # orders placed so far (client ids are session-round)
    paused: bool = False
    pause_reason: str = ""
    orders: dict[str, TrackedOrder] = msgspec.field(default_factory=dict)
    current: str | None = None
    hedges_done: int = 0
    hedges_failed: int = 0
    timeouts: int = 0
    last_price: float | None = None
    placing: PlacementInDoubt | None = None  # an order placement whose outcome is not known yet
    exposed_since: float | None = None  # since when something is unhedged or unconfirmed
    exposure_alerted: bool = False  # the exposure limit was passed and alerted (resolved back at 0)
    manual_hedges: list[ManualHedge] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        # Not part of the record: each open hedge is saved as a row of its own (`open_hedges`).
        self.pending: dict[str, PendingHedge] = {}
        self.failed: dict[str, PendingHedge] = {}  # unhedged remainders waiting for an operator
        self.residual: dict[str, PendingHedge] = {}  # remainders an operator resumed past: unhedged, alerted

    def restore(self, hedges: list[PendingHedge]) -> None:
        """Put back the open hedges saved beside the record, each where its ``state`` says."""
        places = {HedgeState.PENDING: self.pending, HedgeState.FAILED: self.failed, HedgeState.RESIDUAL: self.residual}
        for pending in hedges:
            places[pending.state][pending.trade_id] = pending

    # ---- rounds ------------------------------------------------------------------------------

    def next_order(self, quantity: float) -> tuple[Side, float]:
        """Side and size of the next round's order: towards +``quantity`` when opening, 0 when closing."""
        gap = self._gap(quantity)
        if abs(gap) <= EPSILON:
            self.direction = Direction.CLOSE_LONG if self.direction is Direction.OPEN_LONG else Direction.OPEN_LONG
            gap = self._gap(quantity)
        return (Side.BUY if gap > 0 else Side.SELL), _round(abs(gap))

    def _gap(self, quantity: float) -> float:
        target = quantity if self.direction is Direction.OPEN_LONG else 0.0
        return _round(target - self.a.position)

    def next_client_order_id(self) -> str:
        """The client id of the next order; the same until an order is placed, so a retry cannot place two."""
        return f"{self.session}-{self.round + 1}"

    def placement_in_doubt(self, client_order_id: str, side: Side, quantity: float, now: float) -> None:
        """The venue did not answer the placement of ``client_order_id``: it may exist (unconfirmed until resolved)."""
        self.placing = PlacementInDoubt(client_order_id, side, quantity, now)

    def placement_absent(self) -> None:
        """The venue has no order under the doubtful client id: nothing was placed (the same id is tried next)."""
        self.placing = None

    def order_placed(self, order: Order, now: float) -> TrackedOrder:
        """The venue accepted (or rejected) the next round's order."""
        self.placing = None
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
        """No pause, no unanswered or failed hedge, no placement in doubt, and the last order is settled."""
        order = self.current_order
        return not (self.paused or self.pending or self.failed or self.placing is not None
                    or (order is not None and not order.settled))

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
            pending.state = HedgeState.FAILED
            self.failed[pending.trade_id] = pending
        self.hedges_failed += 1
        self.pause(f"hedge of {pending.trade_id} failed after {answer.retries} attempts: {answer.reason}")
        return pending

    def pause(self, reason: str) -> None:
        self.paused, self.pause_reason = True, reason

    def resume(self, retry_failed: bool, now: float) -> list[PendingHedge]:
        """Lift the pause; with ``retry_failed`` the failed remainders become new requests to B (returned).

        Without it they stay booked as ``residual``: unhedged, visible and alerted until an operator
        books the hedge made by hand (`book_manual_hedge`); they no longer stop new rounds.
        """
        self.paused, self.pause_reason = False, ""
        if self.exposed_since is not None:
            self.exposed_since = now  # the operator looked: the age limit counts again from now
        again = list(self.failed.values()) if retry_failed else []
        if not retry_failed:
            for pending in self.failed.values():
                pending.state = HedgeState.RESIDUAL
            self.residual.update(self.failed)
        self.failed.clear()
        for pending in again:
            pending.state = HedgeState.PENDING
            pending.request += 1
            pending.sent_at, pending.timed_out = now, False
            self.pending[pending.trade_id] = pending
        return again

    def book_manual_hedge(self, quantity: float, price: float, reference: str, trade_id: str, fee: float,
                          now: float) -> list[str]:
        """An operator hedged by hand: book ``quantity`` on B's leg against the failed or residual remainders
        (``trade_id``'s only, when given; else oldest first). Returns the trade ids it covered.

        Raises ValueError (nothing booked) when there is no such remainder or ``quantity`` exceeds it.
        """
        waiting = {**self.failed, **self.residual}
        targets = [waiting[trade_id]] if trade_id in waiting else [] if trade_id else list(waiting.values())
        open_quantity = _round(math.fsum(p.quantity for p in targets))
        if not targets:
            raise ValueError(f"no failed or residual hedge{' ' + trade_id if trade_id else ''} to book a manual hedge against")
        if quantity > open_quantity + EPSILON:
            raise ValueError(f"manual hedge of {quantity} exceeds the {open_quantity} left unhedged")
        self.b.trade(targets[0].side.opposite, quantity, price, fee)
        left, covered = quantity, []
        for pending in targets:
            if left <= EPSILON:
                break
            used = min(left, pending.quantity)
            pending.quantity, left = _round(pending.quantity - used), _round(left - used)
            covered.append(pending.trade_id)
            if pending.quantity <= EPSILON:
                self.failed.pop(pending.trade_id, None)
                self.residual.pop(pending.trade_id, None)
        self.manual_hedges.append(ManualHedge(reference, quantity, price, fee, covered, now))
        return covered

    # ---- exposure ----------------------------------------------------------------------------

    @property
    def unhedged(self) -> float:
        """A's fills not (yet) hedged: unanswered, failed, or left as residual by an operator."""
        return _round(math.fsum(p.quantity for book in (self.pending, self.failed, self.residual)
                                for p in book.values()))

    @property
    def unconfirmed(self) -> float:
        """What may have filled without A having booked it: fills the venue reported and never pushed,
        and the whole size of a placement whose outcome is unknown."""
        missing = math.fsum(max(0.0, o.venue_filled - o.covered) for o in self.orders.values())
        placing = self.placing.quantity if self.placing is not None else 0.0
        return _round(missing + placing)

    @property
    def working_exposure(self) -> float:
        """Unhedged and unconfirmed quantity the desk is still working on (residuals are the operator's)."""
        pending = math.fsum(p.quantity for book in (self.pending, self.failed) for p in book.values())
        return _round(pending + self.unconfirmed)

    def exposure_age(self, now: float) -> float | None:
        """How long the working exposure has been above 0 (None while there is none); tracks its start."""
        if self.working_exposure <= EPSILON:
            self.exposed_since = None
            return None
        if self.exposed_since is None:
            self.exposed_since = now
        return now - self.exposed_since

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

    def recheck_all(self, now: float) -> list[PendingHedge]:
        """Every unanswered hedge, to ask B about again now (after a restart: no need to wait a timeout)."""
        for pending in self.pending.values():
            pending.sent_at, pending.timed_out = now, False
        return list(self.pending.values())

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
            unhedged=self.unhedged,
            unconfirmed=self.unconfirmed,
            residual=list(self.residual),
            placement_in_doubt=self.placing.client_order_id if self.placing is not None else None,
            manual_hedges=len(self.manual_hedges),
            exposure_alert=self.exposure_alerted,
            hedges_done=self.hedges_done,
            hedges_failed=self.hedges_failed,
            timeouts=self.timeouts,
            realised_pnl=_round(math.fsum(leg.realised - leg.fees for leg in legs)),
            unrealised_pnl=_round(math.fsum(leg.unrealised(mark) for leg in legs)),
            mark_price=mark,
        )

    # ---- journal form ------------------------------------------------------------------------

    def open_hedges(self) -> list[PendingHedge]:
        """Every fill not hedged yet (pending, failed or residual): one journal row each beside the record."""
        return [*self.pending.values(), *self.failed.values(), *self.residual.values()]


# ==== B's side ====================================================================================


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
        return _round(self.told + self.quantity)

    @property
    def hedged(self) -> float:
        return _round(math.fsum(filled for filled, _, _ in self.orders.values()))

    @property
    def remaining(self) -> float:
        return max(0.0, _round(self.target - self.hedged))

    @property
    def new_quantity(self) -> float:
        """Hedged since the last answer: what this request's answer reports."""
        return max(0.0, _round(self.hedged - self.told))

    @property
    def cost(self) -> float:
        return math.fsum(filled * price for filled, price, _ in self.orders.values())

    @property
    def average_price(self) -> float | None:
        """The average price of what was hedged since the last answer (None if nothing was)."""
        new = self.new_quantity
        return _round((self.cost - self.told_cost) / new) if new > EPSILON else None

    @property
    def fee(self) -> float:
        """The fees paid since the last answer."""
        return max(0.0, _round(math.fsum(fee for _, _, fee in self.orders.values()) - self.told_fee))

    def told_a(self) -> None:
        """An answer reports everything hedged so far: a later request starts from here."""
        self.told, self.told_cost = self.hedged, self.cost
        self.told_fee = _round(math.fsum(fee for _, _, fee in self.orders.values()))

    def client_order_id(self, owner: str) -> str:
        """Derived from the trade id and attempt: a restarted or resumed B computes the same id."""
        return f"{owner}-{self.trade_id}-{self.attempt}"

    def client_order_ids(self, owner: str) -> list[str]:
        """Every client id this job may have used so far, oldest first (the current attempt last)."""
        return [f"{owner}-{self.trade_id}-{n}" for n in range(1, self.attempt + 1)]


class HedgerBook(msgspec.Struct, dict=True):
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
        for answer in answers[-self.remember:] if self.remember else []:
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
            job = HedgeJob(request.trade_id, request.request, request.reply_to, market, request.side.opposite,
                           request.quantity, now)
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
            delta = _round(filled - before[0])
            self.leg.trade(job.side, delta, cost / delta, _round(fee - before[2]))
        if filled > EPSILON or order.order_id in job.orders:
            job.orders[order.order_id] = [filled, order.average_price or 0.0, fee]

    def order_seen(self, job: HedgeJob, order: Order) -> BHedged | BHedgeFailed | None:
        """The venue answered the current attempt with ``order``: book its fills; the answer once done or
        given up, None to try again (with the next client order id)."""
        job.in_doubt, job.unknown = False, ""
        self.book_order(job, order)
        if job.remaining <= EPSILON:
            return self.finish_hedged(job, order.order_id)
        why = order.reason or f"order {order.order_id} {order.status.value} with {order.filled} of {order.quantity} filled"
        return self.attempt_failed(job, why, new_id=True)

    def finish_hedged(self, job: HedgeJob, order_id: str) -> BHedged:
        return self._finish(job, BHedged(job.trade_id, job.new_quantity, job.average_price or 0.0, order_id,
                                         job.fee, job.request))

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
        answer = BHedgeFailed(job.trade_id, reason, job.failures, job.new_quantity, job.average_price, job.fee,
                              job.request)
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
