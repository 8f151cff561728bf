# ruff: noqa: F811 - the pair fixtures are imported from test_hedge and named as parameters
"""The hedge pair where the venue is uncertain: each case of issue 8 (items 2-6) as a regression test.

Real Runtime, manual clock, the simulated venue (with the faults it has, or a test double that
lies the way a real venue can), the real gateway and journal: the fixtures of `test_hedge`.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from actors.hedge import HedgeAccountB, PendingHedge
from actors.stores.journal import Journal
from actors.venues.base import VenueUnavailable
from actors.venues.simulated import SimulatedVenue
from messages import Currencies, Exchange, Exchanges
from messages.hedge import BookManualHedge, HedgeReport, PauseTrading, ResumeTrading
from messages.system import Rejected
from messages.trading import Order, OrderType, Side
from tests.test_hedge import (  # noqa: F401 - fixtures
    GatedB,
    Pair,
    PairFactory,
    WatchedA,
    logged,
    messages_with,
    start_pair,
)
from tests.test_hedge_books import OLD_A

K, M = Exchanges.KRAKEN, Exchanges.MEXC
USD, BTC = Currencies.USD, Currencies.BTC
NO_BTC_FOR_B = {(K, "hedge_a"): {USD: 10_000.0}, (M, "hedge_b"): {USD: 10_000.0}}


def b_orders(pair: Pair) -> list[Order]:
    """Every order the venue holds for B's account, by client id (what B really placed)."""
    return [o for o in pair.venue._orders.orders.values() if o.account == "hedge_b"]  # the venue's own record


def alerts(records: list[Any], key: str, resolved: bool = False) -> list[str]:
    return messages_with(records, f"{'RESOLVED' if resolved else 'ALERT'} {key}:")


class LyingVenue(SimulatedVenue):
    """A venue that places B's order, then reports itself down (a real venue's 502 after the fact)."""

    lie_next = 0

    def create_order(
        self,
        exchange: Exchange,
        account: str,
        market: str,
        side: Side,
        order_type: OrderType,
        quantity: float,
        price: float | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        order = super().create_order(exchange, account, market, side, order_type, quantity, price, client_order_id)
        if account == "hedge_b" and self.lie_next:
            self.lie_next -= 1
            raise VenueUnavailable("502 bad gateway (the order went through)")
        return order


class ForgetfulVenue(SimulatedVenue):
    """A venue whose client-id lookup finds nothing (some venues keep client ids only for open orders)."""

    def fetch_order_by_client_id(self, exchange: Exchange, account: str, client_order_id: str) -> Order | None:
        super().fetch_order_by_client_id(exchange, account, client_order_id)
        return None


# ---- 2: a hedge whose placement timed out after executing -------------------------------------------


def test_a_hedge_that_executed_but_timed_out_is_found_by_client_id_and_reported_hedged(start_pair: PairFactory) -> None:
    pair = start_pair()
    pair.fill_a_while_b_is_silent()
    pair.venue.faults.timeout_after_move_next(4, "create_order")  # every attempt would time out after executing
    pair.gate.set()
    report = pair.hedged(1)
    assert (report.net_exposure, report.paused, report.hedges_failed) == (0.0, False, 0)
    assert len(b_orders(pair)) == 1 and len(pair.b_fills) == 1  # resolved before any retry: one order
    assert pair.b_status().hedges_done == 1 and pair.b_status().unknown == []
    pair.ledgers_match_venue()


def test_an_attempt_the_venue_cannot_resolve_is_unknown_and_alerted_never_failed_then_resolved(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair()
    pair.fill_a_while_b_is_silent()
    pair.venue.faults.timeout_after_move_next(1, "create_order")
    pair.venue.faults.reject_next(1, "fetch_order_by_client_id")  # the venue cannot say what it did
    pair.gate.set()
    assert pair.b_status().unknown == ["T1"]  # asked after B handled the request (its mailbox is in order)
    waiting = pair.status()
    assert waiting.unanswered == ["T1"] and waiting.failed == [] and not waiting.paused
    assert pair.b_status().hedges_failed == 0 and alerts(logged, "hedge_b:unknown:T1")
    pair.clock.advance(1.0)  # resolve_every: asked again, and the venue answers
    report = pair.hedged(1)
    assert report.net_exposure == 0.0 and len(b_orders(pair)) == 1
    assert alerts(logged, "hedge_b:unknown:T1", resolved=True)


def test_without_a_client_id_match_unexplained_fills_make_the_outcome_unknown_not_a_retry(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair(venue_class=ForgetfulVenue)
    pair.fill_a_while_b_is_silent()
    pair.venue.faults.timeout_after_move_next(1, "create_order")
    pair.gate.set()
    assert pair.b_status().unknown == ["T1"]  # asked after B handled the request (its mailbox is in order)
    pair.clock.advance(5.0)
    assert len(b_orders(pair)) == 1 and pair.status().failed == []  # never retried into a second order
    assert messages_with(logged, "are not accounted for")


def test_a_retry_after_resume_finds_the_order_an_earlier_attempt_left_and_places_no_second_one(
    start_pair: PairFactory,
) -> None:
    def b(venue: SimulatedVenue, journal: Journal) -> HedgeAccountB:
        return GatedB(threading.Event(), venue, M, "hedge_b", retries=0, journal=journal)

    pair = start_pair(b=b, venue_class=LyingVenue)
    pair.venue.lie_next = 1  # type: ignore[attr-defined]
    pair.tick()
    paused = pair.wait(lambda r: r.paused)  # B heard "unavailable" and, with no retry left, gave up
    assert paused.failed == ["T1"] and paused.net_exposure == 1.0 and len(b_orders(pair)) == 1  # the venue: net 0
    resumed = pair.rt.ask("hedge_a", ResumeTrading(operator="ops"))
    assert resumed.unanswered == ["T1"]
    report = pair.hedged(1)
    assert report.net_exposure == 0.0 and report.failed == []
    assert len(b_orders(pair)) == 1 and len(pair.b_fills) == 1  # the earlier attempt's order, found by its id


# ---- 3: a paused A and its resting order ---------------------------------------------------------


def test_a_paused_a_keeps_cancelling_its_resting_order_until_the_venue_confirms_and_every_fill_is_asked(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair(balances=NO_BTC_FOR_B, quantity=20.0, cancel_retry_every=5.0)  # 2 fill at once, 2 per tick
    pair.venue.faults.reject_next(1, "cancel_order")  # the cancel that comes with the pause fails
    pair.gate.set()
    pair.tick()
    pair.wait(lambda r: r.paused)
    assert pair.venue.fetch_open_orders(K, "hedge_a") != [] and alerts(logged, "hedge_a:resting_order")
    pair.venue.faults.outage(3.0)  # the next cancels fail too; the order keeps filling meanwhile
    pair.clock.advance(3.0)
    assert pair.venue.fetch_open_orders(K, "hedge_a") != []
    pair.clock.advance(2.0)  # the cancel timer: the venue is back and confirms
    report = pair.wait(
        lambda r: r.open_order is None and not r.unanswered and r.unhedged == sum(f.quantity for f in pair.a_fills)
    )
    assert pair.venue.fetch_open_orders(K, "hedge_a") == []
    filled = sum(f.quantity for f in pair.a_fills)
    assert len(pair.a_fills) > 1 and report.a.position == filled  # fills landed while paused...
    assert len(report.failed) >= len(pair.a_fills) - 1  # ...each asked of B (a last one maybe found at the cancel)
    assert pair.b_status().hedges_failed == len(report.failed) and alerts(logged, "hedge_a:unhedged_remainder")
    assert alerts(logged, "hedge_a:resting_order", resolved=True)


@pytest.mark.parametrize("cancel_on_stop", [True, False])
def test_stopping_the_desk_cancels_a_resting_hedge_order_unless_switched_off(
    start_pair: PairFactory, cancel_on_stop: bool
) -> None:
    pair = start_pair(offset_bps=300.0, cancel_on_stop=cancel_on_stop)  # a buy far below the ask: it rests
    pair.gate.set()
    assert pair.tick().open_order is not None
    pair.rt.stop()
    assert (pair.venue.fetch_open_orders(K, "hedge_a") == []) is cancel_on_stop


# ---- 4: a restarted A asks again at once ---------------------------------------------------------


class CrashBeforeTellingB(WatchedA):
    """The real A, killed once between journaling a fill and telling B about it."""

    crashed = threading.Event()

    def _ask_hedge(self, hedges: list[PendingHedge]) -> None:
        if hedges and not self.crashed.is_set():
            self.crashed.set()
            raise RuntimeError("killed between journaling the fill and telling B")
        super()._ask_hedge(hedges)


def test_a_restarted_a_asks_b_again_at_once_about_every_journaled_unanswered_fill(start_pair: PairFactory) -> None:
    CrashBeforeTellingB.crashed = threading.Event()
    pair = start_pair(a_class=CrashBeforeTellingB)
    pair.gate.set()
    started = pair.clock.now()
    pair.tick()
    report = pair.hedged(1)  # no clock advance: no timeout was needed
    assert CrashBeforeTellingB.crashed.is_set() and pair.rt.status_of("hedge_a").restarts == 1
    assert pair.clock.now() == started and report.net_exposure == 0.0 and len(pair.b_fills) == 1


# ---- 5: exposure visible and alerted ---------------------------------------------------------------


def test_a_fill_unhedged_past_the_exposure_limit_pauses_a_with_a_critical_alert_naming_the_quantity(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair(exposure_limit=120.0)
    pair.fill_a_while_b_is_silent()
    pair.clock.advance(119.0)
    assert not pair.status().paused and pair.status().unhedged == 1.0
    pair.clock.advance(1.0)
    paused = pair.status()
    assert paused.paused and paused.exposure_alert and "1 unhedged or unconfirmed for 120 s" in paused.pause_reason
    [text] = alerts(logged, "hedge_a:exposure")
    level = next(r["level"].name for r in logged if "ALERT hedge_a:exposure" in r["message"])
    assert "unhedged 1" in text and level == "CRITICAL"
    pair.gate.set()
    hedged = pair.hedged(1)
    assert hedged.unhedged == 0.0 and not hedged.exposure_alert and hedged.paused  # an operator resumes
    assert alerts(logged, "hedge_a:exposure", resolved=True)


def test_a_lost_fill_push_shows_as_unconfirmed_not_as_zero(start_pair: PairFactory) -> None:
    pair = start_pair()
    pair.gate.set()
    pair.venue.faults.drop_next_fill_push()
    pair.tick()
    lost = pair.status()
    assert (lost.a.position, lost.unhedged, lost.unconfirmed) == (0.0, 0.0, 1.0)
    pair.tick()
    report = pair.hedged(1)
    assert (report.unhedged, report.unconfirmed, report.net_exposure) == (0.0, 0.0, 0.0)


def test_an_unconfirmed_placement_past_the_limit_pauses_a(start_pair: PairFactory, logged: list[Any]) -> None:
    pair = start_pair(exposure_limit=30.0)
    pair.gate.set()
    pair.venue.faults.timeout_after_move_next(1, "create_order")
    pair.venue.faults.reject_next(100, "fetch_order_by_client_id")
    pair.tick()
    assert pair.status().unconfirmed == 1.0
    pair.clock.advance(30.0)
    assert pair.status().paused and alerts(logged, "hedge_a:exposure")


# ---- 6: an operator's manual hedge; a resume that forgets nothing ---------------------------------


def _failed_hedge(pair: Pair) -> HedgeReport:
    pair.gate.set()
    pair.tick()
    return pair.wait(lambda r: r.paused and r.failed == ["T1"])


def test_an_operator_books_a_hedge_made_by_hand_and_the_book_and_status_are_right(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair(balances=NO_BTC_FOR_B)
    _failed_hedge(pair)
    report = pair.rt.ask("hedge_a", BookManualHedge(quantity=1.0, price=99.0, reference="mexc-otc-42", operator="ops"))
    assert isinstance(report, HedgeReport)
    assert (report.failed, report.unhedged, report.net_exposure, report.manual_hedges) == ([], 0.0, 0.0, 1)
    assert report.b.position == -1.0 and report.b.average_price == 99.0
    assert alerts(logged, "hedge_a:unhedged_remainder", resolved=True)
    resumed = pair.rt.ask("hedge_a", ResumeTrading(operator="ops", retry_failed=False))
    assert not resumed.paused and resumed.residual == [] and resumed.unhedged == 0.0


def test_a_manual_hedge_larger_than_what_is_left_is_rejected_and_books_nothing(start_pair: PairFactory) -> None:
    pair = start_pair(balances=NO_BTC_FOR_B)
    _failed_hedge(pair)
    answer = pair.rt.ask("hedge_a", BookManualHedge(quantity=2.0, price=99.0, reference="x"))
    assert isinstance(answer, Rejected) and "exceeds the 1.0 left unhedged" in answer.reason
    assert pair.status().failed == ["T1"] and pair.status().b.position == 0.0


def test_a_resume_that_neither_retries_nor_books_keeps_the_residual_visible_and_alerted(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair(balances=NO_BTC_FOR_B)
    _failed_hedge(pair)
    resumed = pair.rt.ask("hedge_a", ResumeTrading(operator="ops", retry_failed=False))
    assert not resumed.paused and resumed.failed == [] and resumed.residual == ["T1"]
    assert resumed.unhedged == 1.0 and resumed.net_exposure == 1.0
    assert "left by an operator's resume" in alerts(logged, "hedge_a:unhedged_remainder")[-1]
    assert not alerts(logged, "hedge_a:unhedged_remainder", resolved=True)
    booked = pair.rt.ask("hedge_a", BookManualHedge(quantity=1.0, price=99.0, reference="later"))
    assert booked.residual == [] and booked.unhedged == 0.0
    assert alerts(logged, "hedge_a:unhedged_remainder", resolved=True)


# ---- an older journal -------------------------------------------------------------------------------


def test_a_pair_started_on_an_older_journal_keeps_its_position_and_hedges_the_open_fill(
    start_pair: PairFactory, tmp_path: Any
) -> None:
    with Journal(tmp_path / "journal.sqlite") as old:  # what the previous version left behind
        old.state.put("hedge_a", "state", OLD_A)
    pair = start_pair()
    pair.gate.set()
    report = pair.wait(lambda r: r.hedges_done == 4 and not r.unanswered)  # 3 done before the upgrade
    assert (report.a.position, report.b.position, report.net_exposure) == (1.0, -1.0, 0.0)
    assert pair.journal.state.get("hedge_a", "state") is None and len(pair.b_fills) == 1


def test_an_operator_pause_cancels_the_resting_order_and_opens_nothing_until_resume(start_pair: PairFactory) -> None:
    pair = start_pair(quantity=20.0)  # 2 fill at once, the rest rests
    pair.gate.set()
    pair.tick()
    pair.wait(lambda r: r.open_order is not None and not r.unanswered)
    paused = pair.rt.ask("hedge_a", PauseTrading(operator="ops", reason="venue maintenance"))
    assert paused.paused and "ops" in paused.pause_reason and "venue maintenance" in paused.pause_reason
    assert pair.wait(lambda r: r.open_order is None) and pair.venue.fetch_open_orders(K, "hedge_a") == []

    def a_orders() -> int:
        return sum(o.account == "hedge_a" for o in pair.venue._orders.orders.values())

    orders = a_orders()
    pair.clock.advance(10.0)
    pair.tick()  # a round while paused opens nothing
    assert pair.status().paused and a_orders() == orders
    resumed = pair.rt.ask("hedge_a", ResumeTrading(operator="ops"))
    assert not resumed.paused
    pair.wait(lambda r: r.hedges_done == 1 and not r.unanswered)  # the fill made before the pause is hedged
    pair.tick()
    assert pair.wait(lambda r: r.open_order is not None or r.hedges_done == 2)  # trading goes on
