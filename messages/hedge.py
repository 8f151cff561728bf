"""The hedge pair's language: A tells B about a fill, B answers hedged or failed; ticks, status, timers.

Correlation is by A's venue ``trade_id`` (plus ``request``, which grows when an operator resumes
a failed hedge), so no actor ever waits on a blocking ask.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from messages.base import Message
from messages.trading import Side

_Positive = Annotated[float, msgspec.Meta(gt=0)]
_NonNegative = Annotated[float, msgspec.Meta(ge=0)]

__all__ = [
    "AFilled",
    "BHedgeFailed",
    "BHedged",
    "BookManualHedge",
    "CancelRestingOrder",
    "ExposureCheck",
    "HedgeReport",
    "HedgeStatus",
    "HedgeTick",
    "HedgeWaitTimer",
    "HedgerReport",
    "JournalFlush",
    "LegReport",
    "ResumeTrading",
    "RetryHedge",
]


class HedgeTick(Message, frozen=True):
    """Start a round if A may: not paused, no hedge unanswered, the last order finished.

    Sent periodically by the scheduler. Answer (to an ask): the `HedgeReport` after the round.
    """

    reason: str = "tick"


class AFilled(Message, frozen=True):
    """A -> B: A's order ``order_id`` was filled ``quantity`` on ``side`` at ``price``; hedge the opposite side.

    ``trade_id`` is A's venue trade id, the correlation of the answer. ``request`` is 1 for the
    first request and grows each time an operator resumes a failed hedge; B places each request's
    hedge at most once (a repeated request is answered with the result it already has).
    ``quantity`` is what is left to hedge for this request. The answer is told to ``reply_to``.
    """

    actor_only: ClassVar[bool] = True

    trade_id: str
    order_id: str
    market: str
    side: Side
    quantity: float
    price: float
    reply_to: str = "hedge_a"
    request: int = 1


class BHedged(Message, frozen=True):
    """B -> A: the fill ``trade_id`` is hedged: ``quantity`` at ``average_price`` (market order ``order_id``).

    ``fee`` is what B paid, in the market's quote currency.
    """

    actor_only: ClassVar[bool] = True

    trade_id: str
    quantity: float
    average_price: float
    order_id: str
    fee: float = 0.0
    request: int = 1


class BHedgeFailed(Message, frozen=True):
    """B -> A: B gave up hedging ``trade_id`` after ``retries`` failed attempts; ``reason`` is the last error.

    ``quantity`` (at ``average_price``, fee ``fee``) was hedged before B gave up; the rest is not.
    """

    actor_only: ClassVar[bool] = True

    trade_id: str
    reason: str
    retries: int
    quantity: float = 0.0
    average_price: float | None = None
    fee: float = 0.0
    request: int = 1


class PauseTrading(Message, frozen=True):
    """Operator -> A: open no new order until `ResumeTrading`. A cancels its resting order (and keeps
    trying until the venue confirms); fills already made are still hedged. Answer: the `HedgeReport`."""

    operator: str = ""
    reason: str = ""


class ResumeTrading(Message, frozen=True):
    """Operator -> A: trading may go on. Answer (to an ask): the `HedgeReport`.

    With ``retry_failed`` (the default) A asks B again to hedge what the failed hedges left
    unhedged (B looks up its earlier attempts first, so nothing is hedged twice). Without it
    the remainders stay booked as ``residual``: unhedged in status and alerted, no longer
    stopping new rounds, until an operator books the hedge made by hand (`BookManualHedge`).
    """

    operator: str = ""
    retry_failed: bool = True


class BookManualHedge(Message, frozen=True):
    """Operator -> A: a hedge was made by hand: ``quantity`` at ``price`` (venue reference ``reference``).

    Booked on B's leg against the failed or residual remainder of ``trade_id`` (or, without one,
    against every remainder, oldest first). Answer: the `HedgeReport`, or `Rejected` naming why
    (no remainder to book against, or more than is left).
    """

    quantity: _Positive
    price: _Positive
    reference: Annotated[str, msgspec.Meta(min_length=1)]
    trade_id: str = ""
    fee: _NonNegative = 0.0
    operator: str = ""


class HedgeStatus(Message, frozen=True):
    """Ask A for a `HedgeReport` (B answers its own `HedgerReport`); with ``reply_to`` it is also told there."""

    reply_to: str | None = None


class LegReport(Message, frozen=True):
    """One account of the pair: its position in the base currency (signed: long > 0) and its PnL in the quote.

    ``name`` is the actor ("hedge_a"), ``account`` the venue account ("kraken.hedge"; "" if unknown).
    """

    name: str
    account: str
    position: float
    average_price: float | None
    realised_pnl: float
    unrealised_pnl: float
    fees: float


class HedgeReport(Message, frozen=True):
    """The pair as A sees it.

    ``net_exposure`` is A's position plus B's (about 0 when hedged). ``unanswered`` lists the
    trade ids B has not answered yet and ``failed`` those whose hedge failed and wait for an
    operator; ``residual`` those an operator resumed past without a retry. ``unhedged`` is the
    quantity of A's fills not hedged (unanswered, failed or residual); ``unconfirmed`` what may
    have filled without A having booked it (a fill the venue reported but never pushed, or the
    size of a placement whose outcome is unknown: ``placement_in_doubt`` names its client id). PnL is in the quote currency, fees deducted; unrealised PnL is valued at
    ``mark_price`` (the venue's last price, or the last price A saw if the venue is down).
    """

    market: str
    a: LegReport
    b: LegReport
    net_exposure: float
    paused: bool
    pause_reason: str
    unanswered: list[str]
    waiting_since: float | None
    failed: list[str]
    open_order: str | None
    hedges_done: int
    hedges_failed: int
    timeouts: int
    realised_pnl: float
    unrealised_pnl: float
    mark_price: float | None
    unhedged: float = 0.0
    unconfirmed: float = 0.0
    residual: list[str] = msgspec.field(default_factory=list)
    placement_in_doubt: str | None = None
    manual_hedges: int = 0
    exposure_alert: bool = False
    latencies: tuple[HedgeLatency, ...] = ()  # the last hedges B finished, newest last


class HedgeLatency(msgspec.Struct, frozen=True):
    """One finished hedge: A asked B at ``asked_at`` and had B's answer ``seconds`` later."""

    trade_id: str
    asked_at: float
    seconds: float


class HedgerReport(Message, frozen=True):
    """B's own view: its position, the hedges it is working on, and how many it finished or gave up.

    ``unknown`` lists the open hedges whose last attempt's outcome could not be resolved at the
    venue yet (neither retried nor given up; alerted); ``stalled`` those answered failed and
    kept for an operator's retry.
    """

    leg: LegReport
    open_hedges: list[str]
    hedges_done: int
    hedges_failed: int
    unknown: list[str] = msgspec.field(default_factory=list)
    stalled: list[str] = msgspec.field(default_factory=list)


class HedgeWaitTimer(Message, frozen=True):
    """A's own timer while it waits for B: the next "still waiting" reminder or timeout is due.

    ``token`` names the wait (and A's incarnation); a timer of an earlier wait is ignored.
    """

    actor_only: ClassVar[bool] = True

    token: str


class RetryHedge(Message, frozen=True):
    """B's own message: try (again) to place the hedge of ``trade_id``."""

    actor_only: ClassVar[bool] = True

    trade_id: str


class CancelRestingOrder(Message, frozen=True):
    """A's own timer while paused: try again to cancel the resting order until the venue confirms."""

    actor_only: ClassVar[bool] = True

    token: str


class ExposureCheck(Message, frozen=True):
    """A's own timer: the unhedged or unconfirmed quantity may have reached its age limit."""

    actor_only: ClassVar[bool] = True

    token: str


class JournalFlush(Message, frozen=True):
    """A hedge actor's own message: commit the journal changes that follow their action (unsynced)."""

    actor_only: ClassVar[bool] = True
