"""A's bookkeeping, no threads and no I/O: its rounds and orders, fills awaiting B's answer, pause, both legs.

`OpenerBook` is a msgspec Struct whose encoded fields are A's small journal record (legs,
counters, the current orders); each fill not hedged yet (`PendingHedge`) is a row of its own.
"""

from __future__ import annotations

import math

import msgspec

from actors.hedge.legs import EPSILON, Leg, rounded
from actors.hedge.opener_records import (
    Direction,
    FillState,
    ManualHedge,
    PendingHedge,
    PlacementInDoubt,
    TrackedOrder,
)
from messages.hedge import BHedged, BHedgeFailed, HedgeReport
from messages.trading import Fill, Order, OrderStatus, Side

__all__ = ["OpenerBook"]


class OpenerBook(msgspec.Struct, dict=True):
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
        places = {FillState.PENDING: self.pending, FillState.FAILED: self.failed, FillState.RESIDUAL: self.residual}
        for pending in hedges:
            places[pending.state][pending.trade_id] = pending

    # ---- rounds ------------------------------------------------------------------------------

    def next_order(self, quantity: float) -> tuple[Side, float]:
        """Side and size of the next round's order: towards +``quantity`` when opening, 0 when closing."""
        gap = self._gap(quantity)
        if abs(gap) <= EPSILON:
            self.direction = Direction.CLOSE_LONG if self.direction is Direction.OPEN_LONG else Direction.OPEN_LONG
            gap = self._gap(quantity)
        return (Side.BUY if gap > 0 else Side.SELL), rounded(abs(gap))

    def _gap(self, quantity: float) -> float:
        target = quantity if self.direction is Direction.OPEN_LONG else 0.0
        return rounded(target - self.a.position)

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
        return not (
            self.paused
            or self.pending
            or self.failed
            or self.placing is not None
            or (order is not None and not order.settled)
        )

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
        tracked.seen = rounded(tracked.seen + fill.quantity)
        if tracked.seen >= tracked.quantity - EPSILON:
            tracked.finished = True
        new = rounded(tracked.seen - tracked.covered)
        if new <= EPSILON:  # already hedged as an unseen fill found at the venue
            self.a.fees = rounded(self.a.fees + fill.fee)
            return None
        quantity = min(new, fill.quantity)
        tracked.covered = rounded(tracked.covered + quantity)
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
        missing = rounded(confirmed - tracked.covered)
        if missing <= EPSILON:
            return None
        tracked.unseen_fills += 1
        tracked.covered = rounded(tracked.covered + missing)
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
        pending.quantity = rounded(pending.quantity - answer.quantity)
        if pending.quantity > EPSILON:
            pending.state = FillState.FAILED
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
                pending.state = FillState.RESIDUAL
            self.residual.update(self.failed)
        self.failed.clear()
        for pending in again:
            pending.state = FillState.PENDING
            pending.request += 1
            pending.sent_at, pending.timed_out = now, False
            self.pending[pending.trade_id] = pending
        return again

    def book_manual_hedge(
        self, quantity: float, price: float, reference: str, trade_id: str, fee: float, now: float
    ) -> list[str]:
        """An operator hedged by hand: book ``quantity`` on B's leg against the failed or residual remainders
        (``trade_id``'s only, when given; else oldest first). Returns the trade ids it covered.

        Raises ValueError (nothing booked) when there is no such remainder or ``quantity`` exceeds it.
        """
        waiting = {**self.failed, **self.residual}
        targets = [waiting[trade_id]] if trade_id in waiting else [] if trade_id else list(waiting.values())
        open_quantity = rounded(math.fsum(p.quantity for p in targets))
        if not targets:
            raise ValueError(
                f"no failed or residual hedge{' ' + trade_id if trade_id else ''} to book a manual hedge against"
            )
        if quantity > open_quantity + EPSILON:
            raise ValueError(f"manual hedge of {quantity} exceeds the {open_quantity} left unhedged")
        self.b.trade(targets[0].side.opposite, quantity, price, fee)
        left, covered = quantity, []
        for pending in targets:
            if left <= EPSILON:
                break
            used = min(left, pending.quantity)
            pending.quantity, left = rounded(pending.quantity - used), rounded(left - used)
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
        return rounded(
            math.fsum(p.quantity for book in (self.pending, self.failed, self.residual) for p in book.values())
        )

    @property
    def unconfirmed(self) -> float:
        """What may have filled without A having booked it: fills the venue reported and never pushed,
        and the whole size of a placement whose outcome is unknown."""
        missing = math.fsum(max(0.0, o.venue_filled - o.covered) for o in self.orders.values())
        placing = self.placing.quantity if self.placing is not None else 0.0
        return rounded(missing + placing)

    @property
    def working_exposure(self) -> float:
        """Unhedged and unconfirmed quantity the desk is still working on (residuals are the operator's)."""
        pending = math.fsum(p.quantity for book in (self.pending, self.failed) for p in book.values())
        return rounded(pending + self.unconfirmed)

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
        return rounded(self.a.position + self.b.position)

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
            realised_pnl=rounded(math.fsum(leg.realised - leg.fees for leg in legs)),
            unrealised_pnl=rounded(math.fsum(leg.unrealised(mark) for leg in legs)),
            mark_price=mark,
        )

    # ---- journal form ------------------------------------------------------------------------

    def open_hedges(self) -> list[PendingHedge]:
        """Every fill not hedged yet (pending, failed or residual): one journal row each beside the record."""
        return [*self.pending.values(), *self.failed.values(), *self.residual.values()]
