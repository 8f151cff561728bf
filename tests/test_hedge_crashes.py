# ruff: noqa: F811 - the pair fixtures are imported from test_hedge and named as parameters
"""Crash tests at every journal write boundary of the hedge (issue 13): nothing hedged twice or left naked.

Each test kills A or B once at one point (raising in the handler, as a bug would), between a
journal write and the action it protects or follows; the real supervisor restarts the actor from
the real SQLite journal. Then the pair must settle with exactly one hedge order for the fill,
both legs matching, and the gateway matching the venue.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import pytest

from actors.hedge import HedgeAccountB, HedgeJob, PendingHedge
from actors.stores.journal import Journal
from actors.venues.simulated import SimulatedVenue
from messages import Exchanges, Ping
from messages.balances import Reconcile
from messages.hedge import BHedged, BHedgeFailed, HedgeReport
from messages.trading import Order
from tests.test_hedge import Pair, PairFactory, WatchedA, start_pair  # noqa: F401 - fixtures

M = Exchanges.MEXC


class Kill:
    """Where to kill, once across incarnations."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.done = threading.Event()

    def here(self, point: str) -> None:
        if point == self.point and not self.done.is_set():
            self.done.set()
            raise RuntimeError(f"killed at {point}")


class KilledA(WatchedA):
    kill = Kill("")

    def _save(self, hedges: Iterable[PendingHedge] = (), gone: Iterable[str] = (), synced: bool = False) -> None:
        hedges, gone = list(hedges), list(gone)
        if synced and hedges:
            self.kill.here("A: fill booked, before its synced record")
        if gone:
            self.kill.here("A: answer booked, before its record")
        super()._save(hedges, gone, synced)
        if synced and hedges:
            self.kill.here("A: fill record synced, before telling B")

    def on_b_hedged(self, answer: BHedged) -> None:
        super().on_b_hedged(answer)
        self.kill.here("A: answer recorded")


class KilledB(HedgeAccountB):
    kill = Kill("")

    def _save(self, job: HedgeJob, answer: BHedged | BHedgeFailed | None = None, synced: bool = False) -> None:
        if synced:
            self.kill.here("B: job opened, before its synced record")
        if answer is not None:
            self.kill.here("B: answer told, before its record")
        super()._save(job, answer, synced)

    def _place(self, job: HedgeJob) -> Order:
        self.kill.here("B: job record synced, before the order")
        order = super()._place(job)
        self.kill.here("B: order placed, before answering")
        return order


POINTS = [
    "A: fill booked, before its synced record",
    "A: fill record synced, before telling B",
    "A: answer booked, before its record",
    "A: answer recorded",
    "B: job opened, before its synced record",
    "B: job record synced, before the order",
    "B: order placed, before answering",
    "B: answer told, before its record",
]


def settled(report: HedgeReport) -> bool:
    return report.hedges_done == 1 and not report.unanswered and report.unconfirmed == 0.0


def settle(pair: Pair) -> HedgeReport:
    """Let the pair recover: at once if it can, else by rounds and A's timeout (re-ask), until the fill is
    hedged and nothing waits. Opens no second round: a settled pair is left alone."""
    for _ in range(6):
        for _ in range(20):  # up to ~2 s for the recovery that needs no clock: A's current incarnation says
            report = pair.status()
            if settled(report):
                return report
            with pair.watch.changed:
                pair.watch.changed.wait(0.1)  # woken by A's next message
        pair.clock.advance(61.0)  # past A's timeout: the next round asks B again
        pair.tick()
        pair.rt.wait_until(
            lambda: pair.rt.status_of("hedge_a").state == "running" and pair.rt.status_of("hedge_b").state == "running"
        )
    return pair.status()


@pytest.mark.parametrize("point", POINTS)
def test_a_kill_at_each_journal_write_boundary_hedges_the_fill_exactly_once(
    start_pair: PairFactory, point: str
) -> None:
    kill = Kill(point)
    KilledA.kill = KilledB.kill = kill

    def b(venue: SimulatedVenue, journal: Journal) -> HedgeAccountB:
        return KilledB(venue, M, "hedge_b", journal=journal)

    pair = start_pair(b=b, a_class=KilledA)
    pair.tick()
    assert pair.rt.wait_until(kill.done.is_set)
    killed = {"A": "hedge_a", "B": "hedge_b"}[point[0]]
    assert pair.rt.wait_until(lambda: pair.rt.status_of(killed).restarts == 1)
    report = settle(pair)
    assert report.hedges_done == 1 and report.unanswered == [] and report.failed == []
    assert (report.a.position, report.b.position, report.net_exposure) == (1.0, -1.0, 0.0)
    hedge_orders = [o for o in pair.venue._orders.orders.values() if o.account == "hedge_b"]  # the venue's own record
    assert len(hedge_orders) == 1 and len(pair.b_fills) == 1  # never hedged twice
    # a restarted B finishes the job it holds by itself (asks queued before its restart may see it open)
    assert pair.rt.wait_until(lambda: pair.b_status().open_hedges == [])
    assert pair.b_status().leg.position == -1.0
    pair.rt.ask("hedge_b", Ping())  # B forwarded its fills
    pair.rt.ask("gateway", Reconcile())  # a fill whose push died with A is learnt from the venue
    pair.ledgers_match_venue()
