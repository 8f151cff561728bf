"""The hedge pair through messages: real Runtime, manual clock, the simulated venue with a market, the real gateway."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from actors.gateway import Gateway, GatewayAccount
from actors.hedge import HedgeAccountA, HedgeAccountB, HedgeJob
from actors.stores.board import InMemoryBoard
from actors.stores.journal import Journal
from actors.venues.simulated import MarketSpec, SimulatedVenue
from messages import Currencies, Currency, Exchange, Exchanges, Ping, decode, encode
from messages.balances import GetBalances, Reconcile
from messages.hedge import (
    AFilled,
    BHedged,
    BHedgeFailed,
    HedgeReport,
    HedgerReport,
    HedgeStatus,
    HedgeTick,
    HedgeWaitTimer,
    LegReport,
    ResumeTrading,
    RetryHedge,
)
from messages.trading import Fill, Order, Side
from supervisor import ChildSpec, ManualClock, Runtime, Supervisor
from tests.money import Collector, Inbox
from tests.probe import Block, Crash

K, M = Exchanges.KRAKEN, Exchanges.MEXC
USD, BTC = Currencies.USD, Currencies.BTC
FLAT = MarketSpec(price=100.0, volatility=0.0, tick=1.0, spread=0.02, depth=2.0, slippage_bps=10.0, fee_bps=10.0)
"""A market whose price never moves: bid 99, ask 101, 2 BTC per level or tick."""
OPENING = {(K, "hedge_a"): {USD: 10_000.0}, (M, "hedge_b"): {USD: 10_000.0, BTC: 10.0}}


# ---- test actors ------------------------------------------------------------------------------------


class Watch:
    """A's book after every message it handles, so a test can wait for a state instead of sleeping."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.latest: HedgeReport | None = None

    def update(self, report: HedgeReport) -> None:
        with self.changed:
            self.latest = report
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[HedgeReport], bool], timeout: float = 5.0) -> HedgeReport:
        with self.changed:
            ok = self.changed.wait_for(lambda: self.latest is not None and predicate(self.latest), timeout)
            assert ok, f"A never got there; last seen: {self.latest}"
            assert self.latest is not None
            return self.latest


class WatchedA(HedgeAccountA):
    """The real A, publishing its book to a `Watch` after each message; crashes on `Crash`."""

    def __init__(self, watch: Watch, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watch = watch

    def receive(self, message: Any) -> Any:
        try:
            return super().receive(message)
        finally:
            self.watch.update(self.book.report((self.name, self.where), (self.hedger, ""), None))

    def on_crash(self, message: Crash) -> None:
        raise RuntimeError(message.why)


class GatedB(HedgeAccountB):
    """The real B, which a `Block` holds until the test opens ``gate`` (B is silent meanwhile)."""

    def __init__(self, gate: threading.Event, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate

    def on_block(self, message: Block) -> None:
        self.gate.wait(10)


class CrashOnceAfterPlacing(HedgeAccountB):
    """The real B, killed once between placing its hedge order and answering A."""

    def __init__(self, crashed: threading.Event, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crashed = crashed

    def _place(self, job: HedgeJob) -> Order:
        order = super()._place(job)
        if not self.crashed.is_set():
            self.crashed.set()
            raise RuntimeError("killed between placing the hedge and answering")
        return order


# ---- the pair under test ----------------------------------------------------------------------------


@dataclass
class Pair:
    rt: Runtime
    venue: SimulatedVenue
    board: InMemoryBoard
    clock: ManualClock
    watch: Watch
    gate: threading.Event
    journal: Journal
    operator: Inbox
    a_fills: list[Fill] = field(default_factory=list)
    b_fills: list[Fill] = field(default_factory=list)

    def tick(self) -> HedgeReport:
        return self.rt.ask("hedge_a", HedgeTick(reason="test"))  # type: ignore[no-any-return]

    def status(self) -> HedgeReport:
        return self.rt.ask("hedge_a", HedgeStatus())  # type: ignore[no-any-return]

    def b_status(self) -> HedgerReport:
        return self.rt.ask("hedge_b", HedgeStatus())  # type: ignore[no-any-return]

    def wait(self, predicate: Callable[[HedgeReport], bool]) -> HedgeReport:
        return self.watch.wait_for(predicate)

    def hedged(self, count: int) -> HedgeReport:
        """Wait until A has ``count`` hedges done and nothing unanswered; then B's fills have reached the gateway."""
        report = self.wait(lambda r: r.hedges_done == count and not r.unanswered)
        self.rt.ask("hedge_b", Ping())  # B forwarded the fills of its hedges (queued before it answered)
        self.rt.ask("gateway", GetBalances())  # and the gateway applied them
        return report

    def fill_a_while_b_is_silent(self) -> HedgeReport:
        """Hold B, then run a round: A's order fills at once and A waits for B's answer about T1."""
        self.rt.tell("hedge_b", Block(gate="b"))
        self.tick()
        return self.wait(lambda r: r.unanswered == ["T1"])

    def ledgers_match_venue(self) -> None:
        for (exchange, account), balances in self.venue.all_balances().items():
            for currency, amount in balances.items():
                view = self.board.read(exchange, account, currency)
                assert view is not None and abs(view.total - amount) < 1e-6, f"{exchange}.{account} {currency}"


@pytest.fixture
def logged() -> Iterator[list[Any]]:
    """Every loguru record at INFO or above while the test runs."""
    records: list[Any] = []
    sink = logger.add(lambda message: records.append(message.record), level="INFO", format="{message}")
    yield records
    logger.remove(sink)


def messages_with(records: list[Any], text: str, level: str | None = None) -> list[str]:
    return [r["message"] for r in records if text in r["message"] and (level is None or r["level"].name == level)]


PairFactory = Callable[..., Pair]


@pytest.fixture
def start_pair(make_runtime: Callable[..., Runtime], clock: ManualClock, tmp_path: Path) -> Iterator[PairFactory]:
    pairs: list[Pair] = []

    def start(
        balances: Mapping[tuple[Exchange, str], Mapping[Currency, float]] = OPENING,
        b: Callable[[SimulatedVenue, Journal], HedgeAccountB] | None = None,
        venue_class: type[SimulatedVenue] = SimulatedVenue,
        a_class: type[WatchedA] = WatchedA,
        **a_options: Any,
    ) -> Pair:
        venue = venue_class(clock, seed=3, balances=balances, markets={"btc/usd": FLAT})
        journal = Journal(tmp_path / "journal.sqlite")
        board, watch, gate, operator = InMemoryBoard(), Watch(), threading.Event(), Inbox()
        accounts = [
            GatewayAccount(K, "hedge_a", currencies=(USD, BTC)),
            GatewayAccount(M, "hedge_b", currencies=(USD, BTC)),
        ]
        a_options.setdefault("quantity", 1.0)
        make_b = b or (lambda venue, journal: GatedB(gate, venue, M, "hedge_b", journal=journal))
        pair = Pair(None, venue, board, clock, watch, gate, journal, operator)  # type: ignore[arg-type]
        pairs.append(pair)
        venue.subscribe_fills(K, "hedge_a", pair.a_fills.append)  # what the venue pushed, to count orders and hedges
        venue.subscribe_fills(M, "hedge_b", pair.b_fills.append)
        pair.rt = make_runtime(
            Supervisor(
                [
                    ChildSpec("gateway", lambda: Gateway(venue, board, accounts)),
                    ChildSpec("hedge_b", lambda: make_b(venue, journal)),
                    ChildSpec(
                        "hedge_a",
                        lambda: a_class(
                            watch,
                            venue,
                            K,
                            "hedge_a",
                            market="btc/usd",
                            hedger_account="mexc.hedge_b",
                            journal=journal,
                            **a_options,
                        ),
                    ),
                    ChildSpec("operator", lambda: Collector(operator)),
                ],
                backoff=(0.0, 0.0),
                intensity=10,
            )
        )
        return pair

    yield start
    for pair in pairs:
        pair.gate.set()  # a test that failed while B was held must not hold up the stop
        if pair.rt is not None:
            pair.rt.stop()  # before the journal closes under the actors
        pair.journal.close()
        pair.venue.close()


def test_hedge_messages_cross_the_wire_unchanged() -> None:
    leg = LegReport(
        name="hedge_a",
        account="kraken.a",
        position=1.0,
        average_price=101.0,
        realised_pnl=0.0,
        unrealised_pnl=-1.0,
        fees=0.1,
    )
    report = HedgeReport(
        market="btc/usd",
        a=leg,
        b=leg,
        net_exposure=0.0,
        paused=False,
        pause_reason="",
        unanswered=["T1"],
        waiting_since=1.0,
        failed=[],
        open_order=None,
        hedges_done=1,
        hedges_failed=0,
        timeouts=0,
        realised_pnl=0.0,
        unrealised_pnl=0.0,
        mark_price=None,
    )
    for message in (
        AFilled("T1", "O1", "btc/usd", Side.BUY, 1.0, 101.0, request=2),
        BHedged("T1", 1.0, 99.0, "O2", 0.1),
        BHedgeFailed("T1", "no funds", 3, 0.5, 99.0),
        HedgeTick(),
        HedgeStatus(reply_to="ops"),
        ResumeTrading(operator="ops", retry_failed=False),
        HedgeWaitTimer("x-1"),
        RetryHedge("T1"),
        report,
    ):
        assert decode(encode(message)) == message


# ---- the cycle ----------------------------------------------------------------------------------


def test_a_full_open_close_cycle_leaves_both_legs_flat_and_the_gateway_matching_the_venue(
    start_pair: PairFactory,
) -> None:
    pair = start_pair()
    pair.gate.set()
    pair.tick()  # open long: buy 1 at the ask (offset 0 crosses)
    opened = pair.hedged(1)
    assert (opened.a.position, opened.b.position, opened.net_exposure) == (1.0, -1.0, 0.0)
    [bought] = pair.a_fills
    assert (bought.side, bought.quantity, bought.price) == (Side.BUY, 1.0, 101.0)
    [sold] = pair.b_fills
    assert (sold.side, sold.quantity) == (Side.SELL, 1.0) and sold.price <= 99.0

    pair.tick()  # close long: sell 1 at the bid
    closed = pair.hedged(2)
    assert [f.side for f in pair.a_fills] == [Side.BUY, Side.SELL]
    assert [f.side for f in pair.b_fills] == [Side.SELL, Side.BUY]
    assert (closed.a.position, closed.b.position, closed.net_exposure) == (0.0, 0.0, 0.0)
    assert closed.hedges_done == 2 and not closed.paused and closed.open_order is None

    pair.ledgers_match_venue()
    balances = pair.venue.all_balances()
    assert balances[(K, "hedge_a")].get(BTC, 0.0) == 0.0 and balances[(M, "hedge_b")][BTC] == 10.0
    pnl = balances[(K, "hedge_a")][USD] + balances[(M, "hedge_b")][USD] - 20_000.0
    report = pair.status()
    assert report.realised_pnl == pytest.approx(pnl, abs=1e-6)  # the pair's PnL is what the accounts lost or made
    assert report.unrealised_pnl == 0.0 and report.realised_pnl < 0  # crossing the spread twice costs


def test_a_new_round_starts_only_after_b_answered(start_pair: PairFactory) -> None:
    pair = start_pair()
    pair.fill_a_while_b_is_silent()
    for _ in range(3):
        report = pair.tick()
        assert report.unanswered == ["T1"] and report.a.position == 1.0
    assert len(pair.a_fills) == 1 and pair.venue.fetch_open_orders(K, "hedge_a") == []
    pair.gate.set()
    pair.hedged(1)
    pair.tick()
    assert len(pair.a_fills) == 2  # the close round
    assert pair.hedged(2).net_exposure == 0.0


def test_hedge_status_reports_both_positions_the_net_exposure_and_pnl(start_pair: PairFactory) -> None:
    pair = start_pair()
    pair.fill_a_while_b_is_silent()
    started = pair.clock.now()
    pair.clock.advance(1.0)  # the market ticks: the last price goes back to the mid, 100
    waiting = pair.status()
    assert (waiting.a.position, waiting.b.position, waiting.net_exposure) == (1.0, 0.0, 1.0)
    assert waiting.a.name == "hedge_a" and waiting.a.account == "kraken.hedge_a" and waiting.b.account == "mexc.hedge_b"
    assert waiting.unanswered == ["T1"] and waiting.waiting_since == started
    assert waiting.mark_price == 100.0 and waiting.a.average_price == 101.0
    assert waiting.unrealised_pnl == pytest.approx(-1.0)  # bought at 101, the last price is 100
    assert waiting.realised_pnl == pytest.approx(-0.101)  # A's fee so far
    pair.gate.set()
    pair.hedged(1)
    hedged = pair.status()
    assert hedged.net_exposure == 0.0 and hedged.unanswered == [] and hedged.waiting_since is None
    assert hedged.b.position == -1.0 and hedged.b.average_price == pair.b_fills[0].price
    assert pair.b_status().leg.position == -1.0 and pair.b_status().hedges_done == 1
    [latency] = hedged.latencies  # asked at the fill, answered 1 s later on the manual clock
    assert (latency.trade_id, latency.asked_at, latency.seconds) == ("T1", started, 1.0)
    assert waiting.latencies == ()


# ---- failures -----------------------------------------------------------------------------------


def test_b_failing_its_attempt_and_three_retries_pauses_a_until_an_operator_resumes_trading(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair(
        balances={(K, "hedge_a"): {USD: 10_000.0}, (M, "hedge_b"): {USD: 10_000.0}}
    )  # B has no BTC to sell
    pair.gate.set()
    pair.tick()
    paused = pair.wait(lambda r: r.paused)
    assert paused.failed == ["T1"] and paused.hedges_failed == 1 and paused.net_exposure == 1.0
    assert "after 4 attempts" in paused.pause_reason and "insufficient funds" in paused.pause_reason
    assert pair.b_fills == [] and pair.b_status().hedges_failed == 1
    assert messages_with(logged, "an operator must look", "ERROR")

    pair.tick()
    assert len(pair.a_fills) == 1  # paused: no new order

    pair.venue.deposit(M, "hedge_b", BTC, 5.0)  # the operator fixed B's account
    resumed = pair.rt.ask("hedge_a", ResumeTrading(operator="ops"))
    assert not resumed.paused and resumed.unanswered == ["T1"]
    report = pair.hedged(1)
    assert report.net_exposure == 0.0 and report.failed == [] and len(pair.b_fills) == 1
    pair.tick()
    pair.hedged(2)
    assert len(pair.a_fills) == 2 and pair.status().net_exposure == 0.0  # trading resumed: the close round


def test_pausing_cancels_a_resting_order_so_no_more_fills_pile_up_unhedged(start_pair: PairFactory) -> None:
    pair = start_pair(balances={(K, "hedge_a"): {USD: 10_000.0}, (M, "hedge_b"): {USD: 10_000.0}}, quantity=5.0)
    pair.gate.set()
    pair.tick()  # 2 of 5 fill at once; B cannot sell BTC it does not have
    paused = pair.wait(lambda r: r.paused)
    assert paused.open_order is None and pair.venue.fetch_open_orders(K, "hedge_a") == []
    pair.clock.advance(5.0)
    assert [f.quantity for f in pair.a_fills] == [2.0] and pair.status().a.position == 2.0


def test_b_waits_retry_delay_seconds_between_attempts(start_pair: PairFactory) -> None:
    gate = threading.Event()
    pair = start_pair(b=lambda venue, journal: GatedB(gate, venue, M, "hedge_b", retry_delay=5.0, journal=journal))
    pair.gate = gate
    pair.fill_a_while_b_is_silent()
    pair.venue.faults.reject_next(1, "create_order")
    gate.set()
    assert pair.b_status().open_hedges == ["T1"]  # the first attempt was refused
    pair.clock.advance(4.9)
    assert pair.b_status().open_hedges == ["T1"] and pair.b_fills == []
    pair.clock.advance(0.1)
    report = pair.hedged(1)
    assert report.net_exposure == 0.0 and len(pair.b_fills) == 1


def test_with_continue_after_hedge_a_starts_the_next_round_itself(start_pair: PairFactory) -> None:
    pair = start_pair(quantity=5.0, continue_after_hedge=True)  # 2 fill per tick: the rounds pace themselves
    pair.gate.set()
    pair.tick()
    pair.hedged(1)
    pair.clock.advance(1.0)
    pair.hedged(2)
    pair.clock.advance(1.0)  # the open order completes; its hedge starts the close round at once
    report = pair.hedged(4)
    assert [(f.side, f.quantity) for f in pair.a_fills] == [
        (Side.BUY, 2.0),
        (Side.BUY, 2.0),
        (Side.BUY, 1.0),
        (Side.SELL, 2.0),
    ]
    assert (report.a.position, report.net_exposure) == (3.0, 0.0)


def test_venue_refusals_are_retried_and_the_third_attempt_hedges(start_pair: PairFactory) -> None:
    pair = start_pair()
    pair.fill_a_while_b_is_silent()
    pair.venue.faults.reject_next(2, "create_order")  # only B calls the venue from here on
    pair.gate.set()
    report = pair.hedged(1)
    assert not report.paused and report.net_exposure == 0.0 and len(pair.b_fills) == 1


def test_a_silent_b_times_a_out_after_60_seconds_without_a_new_order_or_a_second_hedge(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair()
    pair.fill_a_while_b_is_silent()
    pair.clock.advance(59.0)
    assert pair.status().timeouts == 0
    pair.clock.advance(1.0)
    timed_out = pair.status()
    assert timed_out.timeouts == 1 and timed_out.unanswered == ["T1"]
    assert messages_with(logged, "has not answered ['T1'] within 60.0 s", "WARNING")

    again = pair.tick()  # the re-check: no new order, B is asked again about T1
    assert again.unanswered == ["T1"] and len(pair.a_fills) == 1 and pair.venue.fetch_open_orders(K, "hedge_a") == []
    assert messages_with(logged, "re-check: A 1.0 B 0.0 net 1.0", "WARNING")

    pair.gate.set()  # B wakes up to two requests for T1
    report = pair.hedged(1)
    assert pair.b_status().hedges_done == 1
    assert len(pair.b_fills) == 1 and report.net_exposure == 0.0  # hedged once


def test_still_waiting_is_logged_every_10_seconds_of_waiting(start_pair: PairFactory, logged: list[Any]) -> None:
    pair = start_pair()
    pair.fill_a_while_b_is_silent()
    pair.clock.advance(9.9)
    pair.status()
    assert messages_with(logged, "still waiting") == []
    pair.clock.advance(0.1)
    pair.status()
    for _ in range(4):
        pair.clock.advance(10.0)
        pair.status()
    reminders = messages_with(logged, "still waiting for hedge_b to answer ['T1']")
    assert [r.rsplit("(", 1)[1] for r in reminders] == ["10 s)", "20 s)", "30 s)", "40 s)", "50 s)"]
    pair.gate.set()
    pair.hedged(1)
    pair.clock.advance(60.0)
    assert len(messages_with(logged, "still waiting")) == 5  # answered: no more reminders, no timeout
    assert pair.status().timeouts == 0


# ---- partial and repeated fills -----------------------------------------------------------------


def test_partial_fills_are_each_hedged_for_exactly_their_quantity(start_pair: PairFactory) -> None:
    pair = start_pair(quantity=5.0)  # the market fills 2 per tick
    pair.gate.set()
    pair.tick()
    pair.hedged(1)
    assert pair.tick().open_order is not None  # the order still rests: no new round
    pair.clock.advance(1.0)
    pair.hedged(2)
    pair.clock.advance(1.0)
    report = pair.hedged(3)
    assert [f.quantity for f in pair.a_fills] == [2.0, 2.0, 1.0]
    assert len({f.order_id for f in pair.a_fills}) == 1
    assert [f.quantity for f in pair.b_fills] == [2.0, 2.0, 1.0]
    assert (report.a.position, report.b.position, report.net_exposure) == (5.0, -5.0, 0.0)
    pair.ledgers_match_venue()


def test_a_fill_pushed_twice_is_hedged_once(start_pair: PairFactory) -> None:
    pair = start_pair()
    pair.gate.set()
    pair.venue.faults.duplicate_next_fill()
    pair.tick()
    report = pair.hedged(1)
    assert [f.trade_id for f in pair.a_fills] == ["T1", "T1"]
    assert len(pair.b_fills) == 1 and (report.a.position, report.net_exposure) == (1.0, 0.0)
    pair.ledgers_match_venue()  # the gateway applied it once too


def test_b_answers_a_repeated_request_from_memory_without_hedging_again(start_pair: PairFactory) -> None:
    pair = start_pair()
    pair.gate.set()
    request = AFilled(
        trade_id="X1", order_id="O0", market="btc/usd", side=Side.BUY, quantity=0.5, price=101.0, reply_to="operator"
    )
    pair.rt.tell("hedge_b", request, "hedge_a")  # AFilled is actor-only: A is who sends it
    pair.rt.tell("hedge_b", request, "hedge_a")
    [first, second] = pair.operator.wait_for(BHedged, 2)
    assert first == second and (first.trade_id, first.quantity) == ("X1", 0.5)
    assert len(pair.b_fills) == 1 and pair.b_fills[0].side is Side.SELL


def test_a_fill_whose_push_was_lost_is_found_at_the_venue_and_hedged(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair()
    pair.gate.set()
    pair.venue.faults.drop_next_fill_push()
    pair.tick()
    lost = pair.status()
    assert pair.a_fills == [] and lost.a.position == 0.0
    assert lost.open_order == "O1"  # the venue said filled when it took the order; no fill was pushed
    pair.tick()  # still not pushed by the next round: it was lost
    report = pair.hedged(1)
    assert report.a.position == 1.0 and report.net_exposure == 0.0 and len(pair.b_fills) == 1
    assert messages_with(logged, "never pushed to us; hedging it as O1:unseen:1", "WARNING")
    pair.rt.ask("gateway", Reconcile())  # the gateway learns the lost fill from the venue
    pair.ledgers_match_venue()
    pair.tick()
    assert [f.side for f in pair.a_fills] == [Side.SELL]  # the next round closes the long
    assert pair.hedged(2).net_exposure == 0.0


def test_a_resting_order_is_cancelled_after_requote_after_and_quoted_again(start_pair: PairFactory) -> None:
    pair = start_pair(offset_bps=300.0, requote_after=60.0)  # a buy at 97.97 while the ask is 101: it rests
    pair.gate.set()
    first = pair.tick().open_order
    [resting] = pair.venue.fetch_open_orders(K, "hedge_a")
    assert resting.order_id == first and resting.price == pytest.approx(97.97)
    pair.clock.advance(30.0)
    assert pair.tick().open_order == first
    pair.clock.advance(31.0)
    assert pair.tick().open_order is None  # cancelled, nothing filled
    pair.tick()
    [again] = pair.venue.fetch_open_orders(K, "hedge_a")
    assert again.order_id != first and again.quantity == 1.0


def test_an_order_placement_that_timed_out_is_recovered_by_client_id_and_hedged_once(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair()
    pair.gate.set()
    pair.venue.faults.timeout_after_move_next(1, "create_order")  # placed and filled, but A hears nothing
    pair.tick()
    assert messages_with(logged, "tries again with the same client id", "WARNING")
    unsure = pair.status()
    assert unsure.a.position == 0.0 and len(pair.a_fills) == 1
    assert unsure.placement_in_doubt is not None and unsure.unconfirmed == 1.0  # not 0: it may have filled
    pair.tick()  # resolved by client id: O1, filled; its fill was pushed before A knew the order: hedged
    report = pair.hedged(1)
    assert report.placement_in_doubt is None and report.unconfirmed == 0.0
    assert (report.a.position, report.net_exposure) == (1.0, 0.0)
    assert len(pair.a_fills) == 1 and len(pair.b_fills) == 1  # one order, one hedge
    pair.ledgers_match_venue()


# ---- restarts -----------------------------------------------------------------------------------


def test_b_killed_after_placing_its_hedge_finishes_it_exactly_once_after_restart(start_pair: PairFactory) -> None:
    crashed = threading.Event()
    pair = start_pair(b=lambda venue, journal: CrashOnceAfterPlacing(crashed, venue, M, "hedge_b", journal=journal))
    pair.tick()
    report = pair.hedged(1)
    assert crashed.is_set() and pair.rt.status_of("hedge_b").restarts == 1
    assert len(pair.b_fills) == 1  # the restarted B found its order by client id instead of placing another
    assert report.net_exposure == 0.0 and not report.paused
    assert pair.b_status().hedges_done == 1 and pair.b_status().open_hedges == []
    pair.ledgers_match_venue()


def test_a_restarted_while_waiting_keeps_waiting_and_opens_nothing_until_b_answers(
    start_pair: PairFactory, logged: list[Any]
) -> None:
    pair = start_pair()
    pair.fill_a_while_b_is_silent()
    pair.rt.tell("hedge_a", Crash(why="A dies while waiting"))
    assert pair.rt.wait_until(
        lambda: pair.rt.status_of("hedge_a").restarts == 1 and pair.rt.status_of("hedge_a").state == "running"
    )
    after = pair.tick()
    assert after.unanswered == ["T1"] and after.a.position == 1.0 and len(pair.a_fills) == 1
    pair.clock.advance(60.0)
    assert pair.status().timeouts == 1
    assert len(messages_with(logged, "has not answered ['T1']")) == 1  # the new incarnation's timer only
    pair.gate.set()
    report = pair.hedged(1)
    assert report.net_exposure == 0.0
    pair.tick()
    assert [f.side for f in pair.a_fills] == [Side.BUY, Side.SELL]
    assert pair.hedged(2).net_exposure == 0.0
