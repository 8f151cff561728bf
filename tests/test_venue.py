"""The simulated venue: balances, instant and on-chain transfers, idempotence, faults, audit and conservation."""

from __future__ import annotations

import math
import threading
import time

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from actors.venues import Venue, VenueError, VenueRejected, VenueTimeout, VenueUnavailable
from actors.venues.simulated import MarketSpec, MovementKind, Route, SimulatedVenue
from messages import Currencies, Currency, Exchange, Exchanges
from messages.venue import TransferStatus
from supervisor import ManualClock

KRAKEN, MEXC, BINANCE = Exchanges.KRAKEN, Exchanges.MEXC, Exchanges.BINANCE
USDC, BTC = Currencies.USDC, Currencies.BTC


def make_venue(clock: ManualClock, **options: object) -> SimulatedVenue:
    options.setdefault(
        "balances",
        {
            (KRAKEN, "main"): {USDC: 1000.0, BTC: 2.0},
            (KRAKEN, "trade"): {USDC: 0.0},
            (MEXC, "main"): {USDC: 50.0},
        },
    )
    return SimulatedVenue(clock, **options)  # type: ignore[arg-type]


def assert_conserved(venue: SimulatedVenue) -> None:
    errors = venue.conservation_error()
    assert all(abs(error) < 0.005 for error in errors.values()), errors


def test_the_simulated_venue_implements_the_venue_interface(clock: ManualClock) -> None:
    assert isinstance(make_venue(clock), Venue)


def test_opening_balances_are_fetched_and_audited_as_money_entering_the_world(clock: ManualClock) -> None:
    venue = make_venue(clock)
    assert venue.fetch_balance(KRAKEN, "main") == {USDC: 1000.0, BTC: 2.0}
    assert venue.fetch_balance(KRAKEN, "trade") == {}
    opening = [(m.exchange, m.account, m.currency, m.delta) for m in venue.audit()]
    assert opening == [(KRAKEN, "main", USDC, 1000.0), (KRAKEN, "main", BTC, 2.0), (MEXC, "main", USDC, 50.0)]
    assert {m.kind for m in venue.audit()} == {MovementKind.OPENING}
    assert venue.conservation_error() == {USDC: 0.0, BTC: 0.0}


def test_fetching_an_unknown_account_is_rejected_naming_the_account(clock: ManualClock) -> None:
    venue = make_venue(clock)
    with pytest.raises(VenueRejected, match=r"unknown account kraken\.nope"):
        venue.fetch_balance(KRAKEN, "nope")
    with pytest.raises(VenueRejected, match=r"unknown account mexc\.nope"):
        venue.fetch_deposits(MEXC, "nope")


def test_an_added_account_starts_empty_and_can_receive_money(clock: ManualClock) -> None:
    venue = make_venue(clock)
    venue.add_account(BINANCE, "hedge")
    assert venue.fetch_balance(BINANCE, "hedge") == {}
    venue.deposit(BINANCE, "hedge", USDC, 25.0)
    assert venue.fetch_balance(BINANCE, "hedge") == {USDC: 25.0}


def test_a_same_exchange_transfer_is_instant_free_and_leaves_a_deposit(clock: ManualClock) -> None:
    venue = make_venue(clock)
    result = venue.transfer("t1", KRAKEN, "main", KRAKEN, "trade", USDC, 300.0)
    assert result.status is TransferStatus.OK
    assert (result.amount, result.fee, result.completed_at) == (300.0, 0.0, clock.now())
    assert venue.fetch_balance(KRAKEN, "main")[USDC] == 700.0
    assert venue.fetch_balance(KRAKEN, "trade")[USDC] == 300.0
    [deposit] = venue.fetch_deposits(KRAKEN, "trade")
    assert (deposit.client_id, deposit.amount, deposit.from_account) == ("t1", 300.0, "main")
    assert_conserved(venue)


def test_a_cross_exchange_transfer_is_debited_at_once_and_credited_after_the_delay_minus_the_fee(
    clock: ManualClock,
) -> None:
    venue = make_venue(clock, default_route=Route(delay=60.0, fee=1.5))
    start = clock.now()
    result = venue.transfer("w1", KRAKEN, "main", MEXC, "main", USDC, 100.0)
    assert result.status is TransferStatus.PENDING and result.fee == 1.5
    assert venue.fetch_balance(KRAKEN, "main")[USDC] == 900.0
    assert venue.fetch_balance(MEXC, "main")[USDC] == 50.0
    assert venue.in_flight(USDC) == 98.5
    assert venue.fees_collected(USDC) == 1.5
    assert_conserved(venue)

    clock.advance(59.0)
    assert venue.fetch_transfer("w1").status is TransferStatus.PENDING  # type: ignore[union-attr]
    assert venue.fetch_deposits(MEXC, "main") == []

    clock.advance(1.0)
    arrived = venue.fetch_transfer("w1")
    assert arrived is not None and arrived.status is TransferStatus.OK and arrived.completed_at == start + 60.0
    assert venue.fetch_balance(MEXC, "main")[USDC] == 148.5
    [deposit] = venue.fetch_deposits(MEXC, "main")
    assert (deposit.client_id, deposit.amount, deposit.credited_at, deposit.from_exchange) == (
        "w1",
        98.5,
        start + 60.0,
        KRAKEN,
    )
    assert venue.in_flight(USDC) == 0.0
    assert_conserved(venue)


def test_the_audit_records_debit_fee_and_credit_of_a_withdrawal_at_the_times_they_happened(clock: ManualClock) -> None:
    venue = make_venue(clock, default_route=Route(delay=30.0, fee=2.0))
    start = clock.now()
    venue.transfer("w1", KRAKEN, "main", MEXC, "main", USDC, 10.0)
    clock.advance(500.0)
    venue.settle()
    moves = [(m.kind, m.exchange, m.delta, m.at, m.client_id) for m in venue.audit() if m.client_id == "w1"]
    assert moves == [
        (MovementKind.DEBIT, KRAKEN, -8.0, start, "w1"),
        (MovementKind.FEE, KRAKEN, -2.0, start, "w1"),
        (MovementKind.CREDIT, MEXC, 8.0, start + 30.0, "w1"),
    ]
    assert [m.seq for m in venue.audit()] == list(range(1, len(venue.audit()) + 1))


def test_routes_are_chosen_per_direction_and_the_default_covers_the_rest(clock: ManualClock) -> None:
    venue = make_venue(
        clock, routes={(KRAKEN, MEXC): Route(delay=10.0, fee=0.5)}, default_route=Route(delay=100.0, fee=3.0)
    )
    venue.transfer("fast", KRAKEN, "main", MEXC, "main", USDC, 20.0)
    venue.transfer("slow", MEXC, "main", KRAKEN, "trade", USDC, 20.0)
    clock.advance(10.0)
    assert venue.fetch_transfer("fast").status is TransferStatus.OK  # type: ignore[union-attr]
    assert venue.fetch_transfer("slow").status is TransferStatus.PENDING  # type: ignore[union-attr]
    assert venue.fetch_transfer("fast").fee == 0.5  # type: ignore[union-attr]
    assert venue.fetch_transfer("slow").fee == 3.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((KRAKEN, "nope", KRAKEN, "trade", USDC, 10.0), "unknown account kraken.nope"),
        ((KRAKEN, "main", MEXC, "nope", USDC, 10.0), "unknown account mexc.nope"),
        ((KRAKEN, "main", KRAKEN, "trade", USDC, 0.0), "amount must be a positive number"),
        ((KRAKEN, "main", KRAKEN, "trade", USDC, -5.0), "amount must be a positive number"),
        ((KRAKEN, "main", KRAKEN, "trade", USDC, math.nan), "amount must be a positive number"),
        ((KRAKEN, "main", KRAKEN, "trade", USDC, math.inf), "amount must be a positive number"),
        ((KRAKEN, "main", KRAKEN, "trade", USDC, 1000.01), "insufficient funds"),
        ((KRAKEN, "main", MEXC, "main", BTC, 1.0), "fee 1.0 btc is not less than the amount 1.0"),
        ((KRAKEN, "main", KRAKEN, "main", USDC, 10.0), "source and destination are the same account"),
    ],
)
def test_a_refused_transfer_fails_with_a_reason_and_moves_nothing(clock: ManualClock, args: tuple, reason: str) -> None:
    venue = make_venue(clock)
    before = venue.audit()
    result = venue.transfer("bad", *args)
    assert result.status is TransferStatus.FAILED
    assert reason in result.reason
    assert venue.audit() == before
    assert venue.in_flight(args[4]) == 0.0
    assert venue.fetch_transfer("bad") == result  # remembered: a retry needs a new client id


def test_a_repeated_client_id_never_moves_money_twice(clock: ManualClock) -> None:
    venue = make_venue(clock)
    first = venue.transfer("t1", KRAKEN, "main", KRAKEN, "trade", USDC, 100.0)
    again = venue.transfer("t1", KRAKEN, "main", KRAKEN, "trade", USDC, 100.0)
    different = venue.transfer("t1", KRAKEN, "main", MEXC, "main", USDC, 500.0)
    assert first == again == different
    assert venue.fetch_balance(KRAKEN, "main")[USDC] == 900.0
    assert len(venue.fetch_deposits(KRAKEN, "trade")) == 1


def test_a_repeated_client_id_returns_the_first_transfers_current_state(clock: ManualClock) -> None:
    venue = make_venue(clock, default_route=Route(delay=60.0, fee=1.0))
    assert venue.transfer("w1", KRAKEN, "main", MEXC, "main", USDC, 10.0).status is TransferStatus.PENDING
    clock.advance(60.0)
    assert venue.transfer("w1", KRAKEN, "main", MEXC, "main", USDC, 10.0).status is TransferStatus.OK
    assert venue.fetch_balance(KRAKEN, "main")[USDC] == 990.0


def test_fetch_transfer_of_a_client_id_never_seen_is_none(clock: ManualClock) -> None:
    assert make_venue(clock).fetch_transfer("never") is None


def test_reject_next_refuses_that_many_calls_and_changes_nothing(clock: ManualClock) -> None:
    venue = make_venue(clock)
    venue.faults.reject_next(2)
    with pytest.raises(VenueRejected):
        venue.transfer("t1", KRAKEN, "main", KRAKEN, "trade", USDC, 10.0)
    with pytest.raises(VenueRejected):
        venue.fetch_balance(KRAKEN, "main")
    assert venue.fetch_transfer("t1") is None
    assert venue.transfer("t1", KRAKEN, "main", KRAKEN, "trade", USDC, 10.0).status is TransferStatus.OK


def test_reject_next_for_one_method_leaves_other_calls_alone(clock: ManualClock) -> None:
    venue = make_venue(clock)
    venue.faults.reject_next(1, "transfer")
    assert venue.fetch_balance(KRAKEN, "main")[USDC] == 1000.0
    with pytest.raises(VenueRejected, match="transfer"):
        venue.transfer("t1", KRAKEN, "main", KRAKEN, "trade", USDC, 10.0)
    assert venue.transfer("t1", KRAKEN, "main", KRAKEN, "trade", USDC, 10.0).status is TransferStatus.OK


def test_faulting_a_method_the_venue_does_not_have_is_an_error(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="cannot fault 'tranfser'"):
        make_venue(clock).faults.reject_next(1, "tranfser")


def test_a_timeout_after_the_move_keeps_the_transfer_and_a_retry_does_not_pay_again(clock: ManualClock) -> None:
    venue = make_venue(clock)
    venue.faults.timeout_after_move_next(1)
    with pytest.raises(VenueTimeout):
        venue.transfer("t1", KRAKEN, "main", KRAKEN, "trade", USDC, 100.0)
    assert venue.fetch_balance(KRAKEN, "trade")[USDC] == 100.0  # the money moved
    known = venue.fetch_transfer("t1")
    assert known is not None and known.status is TransferStatus.OK
    assert venue.transfer("t1", KRAKEN, "main", KRAKEN, "trade", USDC, 100.0) == known
    assert venue.fetch_balance(KRAKEN, "main")[USDC] == 900.0


def test_an_outage_refuses_every_call_until_it_ends_while_withdrawals_keep_arriving(clock: ManualClock) -> None:
    venue = make_venue(clock, default_route=Route(delay=20.0, fee=1.0))
    venue.transfer("w1", KRAKEN, "main", MEXC, "main", USDC, 10.0)
    venue.faults.reject_next(1)
    venue.faults.outage(30.0)
    for call in (
        lambda: venue.fetch_balance(KRAKEN, "main"),
        lambda: venue.transfer("t2", KRAKEN, "main", KRAKEN, "trade", USDC, 1.0),
        lambda: venue.fetch_transfer("w1"),
        lambda: venue.fetch_deposits(MEXC, "main"),
    ):
        with pytest.raises(VenueUnavailable):
            call()
    clock.advance(29.0)
    with pytest.raises(VenueUnavailable):
        venue.fetch_balance(MEXC, "main")
    assert venue.in_flight(USDC) == 0.0  # the chain kept going during the outage
    clock.advance(1.0)
    with pytest.raises(VenueRejected):  # the outage consumed no other fault
        venue.fetch_balance(MEXC, "main")
    assert venue.fetch_balance(MEXC, "main")[USDC] == 59.0
    assert venue.fetch_transfer("t2") is None


def test_latency_makes_each_call_take_that_long_in_real_time(clock: ManualClock) -> None:
    venue = make_venue(clock)
    venue.faults.latency(0.05)
    started = time.monotonic()
    venue.fetch_balance(KRAKEN, "main")
    assert time.monotonic() - started >= 0.05
    venue.faults.latency(0)
    started = time.monotonic()
    venue.fetch_balance(KRAKEN, "main")
    assert time.monotonic() - started < 0.05


def test_clear_forgets_every_pending_fault(clock: ManualClock) -> None:
    venue = make_venue(clock)
    venue.faults.reject_next(5)
    venue.faults.timeout_after_move_next(5)
    venue.faults.outage(100.0)
    venue.faults.clear()
    assert venue.transfer("t1", KRAKEN, "main", KRAKEN, "trade", USDC, 1.0).status is TransferStatus.OK


def test_deposits_and_external_adjustments_are_external_flows_in_the_audit(clock: ManualClock) -> None:
    venue = make_venue(clock)
    deposit = venue.deposit(MEXC, "main", USDC, 25.0, note="wire from bank")
    venue.external_adjust(KRAKEN, "main", USDC, -3.25, note="unseen fee")
    assert venue.fetch_balance(MEXC, "main")[USDC] == 75.0
    assert venue.fetch_balance(KRAKEN, "main")[USDC] == 996.75
    assert venue.fetch_deposits(MEXC, "main") == [deposit] and deposit.client_id is None
    assert venue.fetch_deposits(KRAKEN, "main") == []
    *_, wire, fee = venue.audit()
    assert (wire.kind, wire.delta, wire.note) == (MovementKind.DEPOSIT, 25.0, "wire from bank")
    assert (fee.kind, fee.delta, fee.note) == (MovementKind.EXTERNAL, -3.25, "unseen fee")
    assert_conserved(venue)


def test_an_external_adjustment_cannot_take_a_balance_below_zero(clock: ManualClock) -> None:
    venue = make_venue(clock)
    with pytest.raises(ValueError, match="would leave"):
        venue.external_adjust(MEXC, "main", USDC, -50.01, note="too much")
    assert venue.fetch_balance(MEXC, "main")[USDC] == 50.0


def test_the_audit_replayed_gives_every_balance(clock: ManualClock) -> None:
    venue = make_venue(clock, default_route=Route(delay=5.0, fee=0.25))
    venue.transfer("a", KRAKEN, "main", MEXC, "main", USDC, 10.1)
    venue.transfer("b", KRAKEN, "main", KRAKEN, "trade", BTC, 0.3)
    venue.deposit(KRAKEN, "trade", USDC, 0.1)
    clock.advance(5.0)
    replayed: dict[tuple[Exchange, str], dict[Currency, float]] = {}
    for move in venue.audit():
        account = replayed.setdefault((move.exchange, move.account), {})
        account[move.currency] = round(account.get(move.currency, 0.0) + move.delta, 8)
    for (exchange, account), balances in replayed.items():
        assert venue.fetch_balance(exchange, account) == balances


def test_jitter_varies_each_arrival_within_its_fraction_of_the_delay(clock: ManualClock) -> None:
    venue = make_venue(clock, default_route=Route(delay=100.0, fee=0.0, jitter=0.5))
    for n in range(20):
        venue.transfer(f"w{n}", KRAKEN, "main", MEXC, "main", USDC, 1.0)
    clock.advance(150.0)
    delays = {venue.fetch_transfer(f"w{n}").completed_at - venue.fetch_transfer(f"w{n}").created_at for n in range(20)}  # type: ignore[union-attr, operator]
    assert len(delays) == 20
    assert all(50.0 <= delay <= 150.0 for delay in delays)


def run_a_scripted_day(seed: int) -> tuple[list, list]:
    clock = ManualClock()
    venue = make_venue(clock, seed=seed, default_route=Route(delay=60.0, fee=1.0, jitter=0.9))
    results = []
    for n in range(10):
        results.append(venue.transfer(f"w{n}", KRAKEN, "main", MEXC, "main", USDC, 10.0 + n))
        clock.advance(13.0)
    clock.advance(200.0)
    results += [venue.fetch_transfer(f"w{n}") for n in range(10)]
    return results, venue.audit()


def test_the_same_seed_and_calls_give_the_same_world_and_another_seed_does_not() -> None:
    assert run_a_scripted_day(seed=7) == run_a_scripted_day(seed=7)
    assert run_a_scripted_day(seed=7)[1] != run_a_scripted_day(seed=8)[1]


def test_threads_racing_the_same_client_ids_pay_each_once_and_conserve_money(clock: ManualClock) -> None:
    venue = make_venue(clock, default_route=Route(delay=1.0, fee=0.1))
    start = threading.Barrier(8)

    def send(worker: int) -> None:
        start.wait()
        for n in range(100):
            exchange = MEXC if n % 2 else KRAKEN
            venue.transfer(f"t{n}", KRAKEN, "main", exchange, "trade" if exchange == KRAKEN else "main", USDC, 1.0)
            venue.fetch_balance(KRAKEN, "main")

    threads = [threading.Thread(target=send, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    clock.advance(2.0)
    assert venue.fetch_balance(KRAKEN, "main")[USDC] == 900.0
    assert venue.fetch_balance(KRAKEN, "trade")[USDC] == 50.0
    assert venue.fetch_balance(MEXC, "main")[USDC] == pytest.approx(50.0 + 50 * 0.9)
    assert_conserved(venue)


ACCOUNTS = [(KRAKEN, "main"), (KRAKEN, "trade"), (MEXC, "main"), (BINANCE, "main")]
accounts = st.sampled_from(ACCOUNTS)
currencies = st.sampled_from([USDC, BTC])
amounts = st.one_of(
    st.floats(min_value=-1.0, max_value=2000.0, allow_nan=False),
    st.decimals(min_value=0, max_value=500, places=2).map(float),
    st.sampled_from([0.0, math.nan, math.inf, 1e-9, 0.1, 0.3]),
)


class ConservationMachine(RuleBasedStateMachine):
    """Random transfers, deposits, adjustments, faults and time: money is always conserved to the cent."""

    MARKETS: dict[str, MarketSpec] = {}  # noqa: RUF012 - subclasses that also trade set markets

    @initialize(seed=st.integers(0, 2**32))
    def build(self, seed: int) -> None:
        self.clock = ManualClock()
        self.venue = SimulatedVenue(
            self.clock,
            seed=seed,
            markets=self.MARKETS,
            balances={(KRAKEN, "main"): {USDC: 1000.0, BTC: 3.0}, (MEXC, "main"): {USDC: 200.0}},
            routes={
                (KRAKEN, MEXC): Route(delay=30.0, fee=0.7, jitter=0.5),
                (MEXC, KRAKEN): Route(delay=90.0, fee=0.01),
            },
            default_route=Route(delay=45.0, fee=0.33, jitter=1.0),
        )
        self.venue.add_account(KRAKEN, "trade")
        self.venue.add_account(BINANCE, "main")
        self.client_ids: list[str] = []

    @rule(source=accounts, destination=accounts, currency=currencies, amount=amounts, reuse=st.booleans())
    def transfer(self, source, destination, currency, amount, reuse) -> None:  # type: ignore[no-untyped-def]
        client_id = self.client_ids[-1] if reuse and self.client_ids else f"c{len(self.client_ids)}"
        self.client_ids.append(client_id)
        try:
            result = self.venue.transfer(client_id, *source, *destination, currency, amount)
        except VenueError:
            return
        assert result.status is TransferStatus.FAILED or result.amount > result.fee

    @rule(account=accounts, currency=currencies, amount=st.floats(min_value=0.01, max_value=1e6))
    def deposit(self, account, currency, amount) -> None:  # type: ignore[no-untyped-def]
        self.venue.deposit(*account, currency, amount)

    @rule(account=accounts, currency=currencies, delta=st.floats(min_value=-100.0, max_value=100.0))
    def external_adjust(self, account, currency, delta) -> None:  # type: ignore[no-untyped-def]
        if self.venue.all_balances()[account].get(currency, 0.0) + delta >= 0:
            self.venue.external_adjust(*account, currency, delta, note="hypothesis")

    @rule(n=st.integers(1, 3), method=st.sampled_from([None, "transfer", "fetch_balance"]))
    def reject(self, n, method) -> None:  # type: ignore[no-untyped-def]
        self.venue.faults.reject_next(n, method)

    @rule(n=st.integers(1, 3))
    def timeout_after_move(self, n) -> None:  # type: ignore[no-untyped-def]
        self.venue.faults.timeout_after_move_next(n)

    @rule(seconds=st.floats(min_value=0.0, max_value=120.0))
    def outage(self, seconds) -> None:  # type: ignore[no-untyped-def]
        self.venue.faults.outage(seconds)

    @rule(seconds=st.floats(min_value=0.0, max_value=100.0))
    def advance(self, seconds) -> None:  # type: ignore[no-untyped-def]
        self.clock.advance(seconds)

    @invariant()
    def money_is_conserved_to_the_cent(self) -> None:
        assert_conserved(self.venue)

    @invariant()
    def no_balance_is_negative(self) -> None:
        assert all(move.delta == round(move.delta, 8) for move in self.venue.audit())
        for account, balances in self.venue.all_balances().items():
            assert all(amount >= 0 for amount in balances.values()), (account, balances)

    def teardown(self) -> None:
        if not hasattr(self, "venue"):
            return
        self.clock.advance(1000.0)
        assert self.venue.in_flight(USDC) == 0.0 and self.venue.in_flight(BTC) == 0.0
        assert_conserved(self.venue)


ConservationMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestMoneyIsConservedUnderAnySequenceOfOperations = ConservationMachine.TestCase
