"""The hedge bookkeeping on its own: legs and PnL, A's rounds and fills (`OpenerBook`), B's jobs (`JobBook`), the journal form."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import msgspec
import pytest

from actors.hedge import (
    Direction,
    HedgeJob,
    JobBook,
    JobState,
    Leg,
    OpenerBook,
    PendingHedge,
)
from actors.hedge.legacy import legacy_hedger, legacy_opener
from messages.common import Exchanges
from messages.hedge import AFilled, BHedged, BHedgeFailed
from messages.trading import Fill, Order, OrderStatus, OrderType, Side

BUY, SELL = Side.BUY, Side.SELL
NOW = 1_000.0


def fill(
    trade_id: str, order_id: str = "O1", side: Side = BUY, quantity: float = 1.0, price: float = 100.0, fee: float = 0.1
) -> Fill:
    return Fill(
        exchange=Exchanges.KRAKEN,
        account="a",
        market="btc/usd",
        side=side,
        quantity=quantity,
        price=price,
        trade_id=trade_id,
        order_id=order_id,
        fee=fee,
    )


def order(
    order_id: str = "O1",
    side: Side = BUY,
    quantity: float = 1.0,
    filled: float = 0.0,
    status: OrderStatus = OrderStatus.OPEN,
    average_price: float | None = None,
    **extra: Any,
) -> Order:
    return Order(
        order_id=order_id,
        exchange=Exchanges.KRAKEN,
        account="a",
        market="btc/usd",
        side=side,
        order_type=OrderType.LIMIT,
        quantity=quantity,
        status=status,
        price=100.0,
        filled=filled,
        average_price=average_price,
        **extra,
    )


def book_with_order(quantity: float = 1.0, side: Side = BUY) -> OpenerBook:
    book = OpenerBook("btc/usd", session="s")
    book.order_placed(order(side=side, quantity=quantity), NOW)
    return book


T = TypeVar("T")


def round_trip(value: T, of: type[T]) -> T:
    """What the journal gives back: the Struct through MessagePack."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(value), type=of)


# ---- legs ---------------------------------------------------------------------------------------


def test_a_leg_averages_its_entries_and_realises_pnl_when_it_closes() -> None:
    leg = Leg()
    leg.trade(BUY, 1.0, 100.0, fee=0.1)
    leg.trade(BUY, 1.0, 110.0, fee=0.1)
    assert (leg.position, leg.average_price) == (2.0, 105.0)
    assert leg.unrealised(115.0) == 20.0
    leg.trade(SELL, 2.0, 120.0, fee=0.2)
    assert (leg.position, leg.average_price, leg.realised) == (0.0, None, 30.0)
    assert leg.fees == pytest.approx(0.4)
    assert leg.unrealised(200.0) == 0.0


def test_a_short_leg_gains_when_it_buys_back_cheaper_and_a_flip_starts_a_new_average() -> None:
    leg = Leg()
    leg.trade(SELL, 2.0, 100.0)
    assert leg.unrealised(90.0) == 20.0
    leg.trade(BUY, 3.0, 90.0)  # closes 2 at a gain of 10 each, then 1 long at 90
    assert (leg.position, leg.average_price, leg.realised) == (1.0, 90.0, 20.0)


# ---- A's rounds ---------------------------------------------------------------------------------


def test_rounds_open_long_then_close_long_and_complete_a_partly_filled_order() -> None:
    book = OpenerBook("btc/usd", session="s")
    assert book.next_order(1.0) == (BUY, 1.0)
    book.a.trade(BUY, 0.4, 100.0)  # the order was cancelled with 0.4 filled
    assert book.next_order(1.0) == (BUY, 0.6)
    book.a.trade(BUY, 0.6, 100.0)
    assert book.next_order(1.0) == (SELL, 1.0)
    book.a.trade(SELL, 1.0, 100.0)
    assert book.next_order(1.0) == (BUY, 1.0)


def test_the_client_order_id_stays_the_same_until_an_order_is_placed() -> None:
    book = OpenerBook("btc/usd", session="hedge_a-x")
    assert book.next_client_order_id() == book.next_client_order_id() == "hedge_a-x-1"
    book.order_placed(order(status=OrderStatus.REJECTED, reason="insufficient funds"), NOW)
    assert book.next_client_order_id() == "hedge_a-x-2"
    assert book.current_order is not None and book.current_order.settled  # a rejected order is finished


def test_a_fill_is_hedged_once_by_trade_id_and_fills_of_other_orders_are_not_hedged() -> None:
    book = book_with_order(quantity=2.0)
    first = book.record_fill(fill("T1"), NOW)
    assert first is not None and (first.trade_id, first.quantity, first.side) == ("T1", 1.0, BUY)
    assert book.record_fill(fill("T1"), NOW) is None  # the same fill pushed twice
    assert book.record_fill(fill("T9", order_id="O9"), NOW) is None  # another strategy's order
    assert book.a.position == 1.0 and list(book.pending) == ["T1"]
    assert not book.can_open and not book.current_order.settled  # type: ignore[union-attr]


def test_an_order_filled_by_its_pushed_fills_is_settled_without_asking_the_venue() -> None:
    book = book_with_order(quantity=1.0)
    book.record_fill(fill("T1", quantity=0.5), NOW)
    book.record_fill(fill("T2", quantity=0.5), NOW)
    assert book.current_order is not None and book.current_order.settled


def test_a_fill_the_venue_never_pushed_is_hedged_after_the_second_check_and_a_late_push_is_not_hedged_again() -> None:
    book = book_with_order(quantity=1.0)
    filled = order(filled=1.0, status=OrderStatus.FILLED, average_price=101.0)
    assert book.observe_order(filled, NOW) is None  # the push may still be on its way
    assert not book.current_order.settled  # type: ignore[union-attr]
    unseen = book.observe_order(filled, NOW + 1)
    assert unseen is not None and (unseen.trade_id, unseen.quantity, unseen.price) == ("O1:unseen:1", 1.0, 101.0)
    assert book.a.position == 1.0 and book.current_order.settled  # type: ignore[union-attr]
    assert book.record_fill(fill("T1", price=101.0), NOW + 2) is None  # the push turns up after all
    assert book.a.position == 1.0


def test_b_answers_are_applied_once_and_a_late_answer_changes_nothing() -> None:
    book = book_with_order()
    book.record_fill(fill("T1"), NOW)
    answer = BHedged("T1", 1.0, 99.0, "O2", fee=0.1)
    assert book.hedged(answer) is not None
    assert book.hedged(answer) is None
    assert (book.b.position, book.net_exposure, book.hedges_done) == (-1.0, 0.0, 1)
    assert book.can_open


def test_a_failed_hedge_pauses_keeps_the_unhedged_rest_and_resume_asks_again_with_a_new_request() -> None:
    book = book_with_order(quantity=1.0)
    book.record_fill(fill("T1"), NOW)
    book.hedge_failed(BHedgeFailed("T1", "insufficient funds", 3, quantity=0.25, average_price=99.0))
    assert book.paused and "failed after 3 attempts: insufficient funds" in book.pause_reason
    assert (book.b.position, book.net_exposure, list(book.failed)) == (-0.25, 0.75, ["T1"])
    assert not book.can_open
    [again] = book.resume(retry_failed=True, now=NOW + 5)
    assert (again.trade_id, again.quantity, again.request, again.sent_at) == ("T1", 0.75, 2, NOW + 5)
    assert not book.paused and list(book.pending) == ["T1"]
    assert book.hedged(BHedged("T1", 0.75, 99.0, "O3", request=1)) is None  # an answer to the old request
    assert book.hedged(BHedged("T1", 0.75, 99.0, "O3", request=2)) is not None
    assert book.net_exposure == 0.0 and book.can_open


def test_resuming_without_retry_keeps_the_failed_rest_as_residual() -> None:
    book = book_with_order()
    book.record_fill(fill("T1"), NOW)
    book.hedge_failed(BHedgeFailed("T1", "down", 3))
    assert book.resume(retry_failed=False, now=NOW) == []
    assert not book.paused and not book.failed and list(book.residual) == ["T1"] and book.net_exposure == 1.0


def test_unanswered_hedges_time_out_once_and_a_recheck_restarts_their_wait() -> None:
    book = book_with_order(quantity=2.0)
    book.record_fill(fill("T1"), NOW)
    book.record_fill(fill("T2"), NOW + 30)
    assert book.next_deadline(60.0) == NOW + 60
    assert [p.trade_id for p in book.time_out(NOW + 60, 60.0)] == ["T1"]
    assert book.time_out(NOW + 61, 60.0) == []
    assert book.next_deadline(60.0) == NOW + 90 and book.timeouts == 1
    assert [p.trade_id for p in book.recheck(NOW + 70)] == ["T1"]
    assert book.next_deadline(60.0) == NOW + 90 and book.waiting_since == NOW + 30


def test_the_report_values_both_legs_at_the_mark_and_nets_the_exposure() -> None:
    book = book_with_order()
    book.record_fill(fill("T1", price=100.0, fee=0.1), NOW)
    report = book.report(("hedge_a", "kraken.a"), ("hedge_b", ""), mark=110.0)
    assert (report.a.position, report.b.position, report.net_exposure) == (1.0, 0.0, 1.0)
    assert report.unanswered == ["T1"] and report.waiting_since == NOW and report.open_order is None
    assert report.unrealised_pnl == 10.0 and report.realised_pnl == -0.1
    book.hedged(BHedged("T1", 1.0, 99.0, "O2", fee=0.1))
    report = book.report(("hedge_a", "kraken.a"), ("hedge_b", ""), mark=None)  # no mark: the last price seen
    assert report.net_exposure == 0.0 and report.mark_price == 100.0
    assert report.unrealised_pnl == pytest.approx(0.0 + (-1.0) * (100.0 - 99.0))


def test_a_book_survives_the_journal_round_trip_as_its_record_and_one_row_per_open_hedge() -> None:
    book = book_with_order(quantity=2.0)
    book.record_fill(fill("T1"), NOW)
    book.record_fill(fill("T2", order_id="O1", quantity=1.0), NOW)
    book.hedged(BHedged("T1", 1.0, 99.0, "O2"))
    book.time_out(NOW + 100, 60.0)
    again = round_trip(book, OpenerBook)
    assert again.pending == {}  # the open hedges are rows of their own, not part of the record
    again.restore([round_trip(p, PendingHedge) for p in book.open_hedges()])
    assert again == book and again.pending == book.pending
    assert again.record_fill(fill("T2"), NOW) is None  # still remembered
    assert again.pending["T2"].side is BUY and again.current_order is not None
    assert again.direction is Direction.OPEN_LONG


# ---- B's jobs -----------------------------------------------------------------------------------


def request(trade_id: str = "T1", quantity: float = 1.0, request_no: int = 1) -> AFilled:
    return AFilled(
        trade_id=trade_id, order_id="O1", market="btc/usd", side=BUY, quantity=quantity, price=100.0, request=request_no
    )


def market_order(
    order_id: str,
    quantity: float,
    filled: float,
    status: OrderStatus,
    price: float = 99.0,
    fee: float = 0.0,
    reason: str = "",
) -> Order:
    return Order(
        order_id=order_id,
        exchange=Exchanges.MEXC,
        account="b",
        market="btc/usd",
        side=SELL,
        order_type=OrderType.MARKET,
        quantity=quantity,
        status=status,
        filled=filled,
        average_price=price if filled else None,
        fee=fee,
        reason=reason,
    )


def test_a_job_hedges_the_opposite_side_and_seeing_the_same_order_again_books_it_once() -> None:
    book = JobBook()
    job = book.open(request(), "btc/usd", NOW)
    assert job is not None and job.side is SELL and job.client_order_id("hedge_b") == "hedge_b-T1-1"
    assert book.open(request(), "btc/usd", NOW) is None  # already being worked on
    filled = market_order("O7", 1.0, 1.0, OrderStatus.FILLED, fee=0.1)
    answer = book.order_seen(job, filled)
    assert answer == BHedged("T1", 1.0, 99.0, "O7", 0.1, 1)
    assert book.leg.position == -1.0
    assert book.answer_for(request()) == answer  # a repeated request is answered from memory
    assert book.answer_for(request(request_no=2)) is None


def test_an_exception_keeps_the_client_id_and_a_rejected_order_moves_to_the_next() -> None:
    book = JobBook(retries=3)
    job = book.open(request(), "btc/usd", NOW)
    assert job is not None
    assert book.attempt_failed(job, "VenueTimeout: no answer") is None
    assert job.client_order_id("b") == "b-T1-1"  # the venue may hold that order: ask with the same id
    assert book.order_seen(job, market_order("O8", 1.0, 0.0, OrderStatus.REJECTED, reason="no funds")) is None
    assert job.client_order_id("b") == "b-T1-2" and job.reason == "no funds"


def test_a_job_gives_up_after_its_retries_reporting_what_it_hedged() -> None:
    book = JobBook(retries=1)
    job = book.open(request(quantity=2.0), "btc/usd", NOW)
    assert job is not None
    partial = market_order("O8", 2.0, 0.5, OrderStatus.CANCELED, price=98.0)
    assert book.order_seen(job, partial) is None
    assert job.remaining == 1.5
    failed = book.attempt_failed(job, "VenueUnavailable: outage")
    assert failed == BHedgeFailed("T1", "VenueUnavailable: outage", 2, 0.5, 98.0, 0.0, 1)
    assert not book.jobs and book.hedges_failed == 1 and book.leg.position == -0.5
    assert book.answer_for(request()) == failed
    assert book.open(request(request_no=2), "btc/usd", NOW) is not None  # an operator's retry is new work


def test_retries_count_after_the_first_attempt_and_zero_means_one_attempt() -> None:
    with pytest.raises(ValueError, match="retries"):
        JobBook(retries=-1)
    book = JobBook(retries=0)
    job = book.open(request(), "btc/usd", NOW)
    assert job is not None
    failed = book.attempt_failed(job, "VenueUnavailable: outage")
    assert failed is not None and failed.retries == 1  # one attempt, no retry


def test_a_hedger_book_survives_the_journal_round_trip_as_its_record_jobs_and_answers() -> None:
    book = JobBook()
    done = book.open(request("T1"), "btc/usd", NOW)
    assert done is not None
    answer = book.order_seen(done, market_order("O7", 1.0, 1.0, OrderStatus.FILLED))
    open_job = book.open(request("T2"), "btc/usd", NOW)
    assert open_job is not None and answer is not None
    assert book.order_seen(open_job, market_order("O8", 1.0, 0.0, OrderStatus.CANCELED)) is None  # retrying
    record = msgspec.msgpack.encode(book)
    assert b"T1" not in record and b"T2" not in record  # the record is the leg and counters only
    again = msgspec.msgpack.decode(record, type=JobBook)
    again.restore([round_trip(open_job, HedgeJob)], [round_trip(answer, BHedged)])
    assert again.leg == book.leg and (again.hedges_done, again.hedges_failed) == (1, 0)
    resumed = again.jobs["T2"]
    assert (resumed.attempt, resumed.failures, resumed.side, resumed.state) == (2, 1, SELL, JobState.OPEN)
    assert resumed.client_order_id("hedge_b") == open_job.client_order_id("hedge_b")  # a restarted B reuses it
    assert isinstance(again.answer_for(request("T1")), BHedged)


def test_an_operators_retry_continues_the_failed_job_with_its_client_ids_and_books() -> None:
    book = JobBook(retries=0)
    job = book.open(request(quantity=2.0), "btc/usd", NOW)
    assert job is not None
    assert book.order_seen(job, market_order("O8", 2.0, 0.5, OrderStatus.CANCELED, price=98.0)) is not None
    assert list(book.stalled) == ["T1"] and job.client_order_id("b") == "b-T1-2"
    again = book.open(request(quantity=1.5, request_no=2), "btc/usd", NOW)
    assert again is job and again.recheck and again.client_order_id("b") == "b-T1-2"  # no new id for a retry
    assert (again.remaining, again.new_quantity) == (1.5, 0.0)
    answer = book.order_seen(again, market_order("O9", 1.5, 1.5, OrderStatus.FILLED, price=97.0))
    assert answer == BHedged("T1", 1.5, 97.0, "O9", 0.0, 2)  # this request's part only
    assert book.leg.position == -2.0 and not book.stalled


def test_an_unresolved_attempt_is_unknown_and_neither_retried_nor_failed() -> None:
    book = JobBook(retries=0)
    job = book.open(request(), "btc/usd", NOW)
    assert job is not None
    book.sending(job, NOW)
    book.outcome_unknown(job, "venue down")
    assert book.unknown == ["T1"] and job.failures == 0 and job.in_doubt and book.hedges_failed == 0
    assert book.absent(job, "no such order") is not None  # resolved: it did nothing, and no retry is left
    assert book.unknown == [] and book.hedges_failed == 1


def test_unconfirmed_counts_a_placement_in_doubt_and_fills_the_venue_reported_but_never_pushed() -> None:
    book = OpenerBook("btc/usd", session="s")
    book.placement_in_doubt("s-1", BUY, 1.0, NOW)
    assert (book.unconfirmed, book.unhedged, book.can_open) == (1.0, 0.0, False)
    book.order_placed(order(filled=1.0, status=OrderStatus.FILLED), NOW)
    assert book.placing is None and book.unconfirmed == 1.0  # filled at the venue, not pushed yet
    assert book.exposure_age(NOW + 5) == 0.0 and book.exposure_age(NOW + 9) == 4.0
    book.record_fill(fill("T1"), NOW + 9)
    assert (book.unconfirmed, book.unhedged) == (0.0, 1.0)
    book.hedged(BHedged("T1", 1.0, 99.0, "O2"))
    assert book.exposure_age(NOW + 10) is None and book.exposed_since is None


def test_a_manual_hedge_covers_failed_remainders_and_a_resume_without_retry_keeps_them_as_residual() -> None:
    book = book_with_order(quantity=2.0)
    book.record_fill(fill("T1"), NOW)
    book.record_fill(fill("T2"), NOW)
    book.hedge_failed(BHedgeFailed("T1", "down", 4))
    book.hedge_failed(BHedgeFailed("T2", "down", 4))
    assert book.resume(retry_failed=False, now=NOW) == []
    assert list(book.residual) == ["T1", "T2"] and book.unhedged == 2.0 and book.can_open
    with pytest.raises(ValueError, match="exceeds"):
        book.book_manual_hedge(3.0, 99.0, "ref", "", 0.0, NOW)
    assert book.book_manual_hedge(1.5, 99.0, "ref", "", 0.0, NOW) == ["T1", "T2"]
    assert list(book.residual) == ["T2"] and book.unhedged == 0.5 and book.net_exposure == 0.5
    assert book.manual_hedges[0].reference == "ref"


# ---- an older journal ---------------------------------------------------------------------------

OLD_A = json.loads(
    '{"market": "btc/usd", "session": "hedge_a-abc", "a": {"position": 1.0, "average_price": 100.0, '
    '"realised": 0.0, "fees": 0.1, "last_price": 100.0}, "b": {"position": 0.0, "average_price": null, '
    '"realised": 0.0, "fees": 0.0, "last_price": null}, "direction": "open", "round": 1, "paused": false, '
    '"pause_reason": "", "pending": [{"trade_id": "T1", "order_id": "O1", "market": "btc/usd", "side": '
    '"buy", "quantity": 1.0, "price": 100.0, "sent_at": 6.0, "request": 1, "timed_out": false}], '
    '"failed": [], "orders": [{"order_id": "O1", "side": "buy", "quantity": 1.0, "price": 100.0, '
    '"placed_at": 5.0, "seen": 1.0, "covered": 1.0, "venue_filled": 0.0, "average_price": null, '
    '"finished": true, "unseen_fills": 0, "trade_ids": ["T1"]}], "current": "O1", "counts": [3, 1, 2], '
    '"last_price": 100.0}'
)
OLD_B = json.loads(
    '{"retry_times": 3, "remember": 10000, "leg": {"position": -0.5, "average_price": 99.0, '
    '"realised": 0.0, "fees": 0.0, "last_price": 99.0}, "jobs": [{"trade_id": "T1", "request": 1, '
    '"reply_to": "hedge_a", "market": "btc/usd", "side": "sell", "quantity": 1.0, "opened_at": 6.0, '
    '"attempt": 1, "failures": 0, "reason": "", "orders": {}}], "answers": [{"type": "BHedged", '
    '"trade_id": "T0", "quantity": 0.5, "average_price": 99.0, "order_id": "O9", "fee": 0.0, '
    '"request": 1}], "counts": [1, 0]}'
)
"""Whole-book documents as the previous version journaled them (its to_dict)."""


def test_an_older_journals_books_convert_with_their_positions_open_hedges_and_answers() -> None:
    book, hedges = legacy_opener(OLD_A)
    book.restore(hedges)
    assert (book.a.position, book.session, book.round, book.direction) == (1.0, "hedge_a-abc", 1, Direction.OPEN_LONG)
    assert list(book.pending) == ["T1"] and book.pending["T1"].side is BUY and book.current_order is not None
    assert (book.hedges_done, book.hedges_failed, book.timeouts) == (3, 1, 2)
    hedger, jobs, answers = legacy_hedger(OLD_B)
    hedger.restore(jobs, answers)
    assert hedger.leg.position == -0.5 and hedger.hedges_done == 1
    [job] = hedger.jobs.values()
    assert job.in_doubt and job.sent_at == 6.0  # resolved at the venue before anything is placed
    assert isinstance(hedger.answer_for(request("T0")), BHedged)
