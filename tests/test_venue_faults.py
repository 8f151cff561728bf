"""The simulated venue's faults for the whole-desk simulation: lost requests, callers crashing mid-call,
fills racing cancels, events racing a balance snapshot, cancels timing out after moving, lost pushes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.venues.base import VenueTimeout
from actors.venues.simulated import MarketSpec, Route, SimulatedCrash, SimulatedVenue
from messages.common import Currencies, Exchanges
from messages.trading import Fill, OrderStatus, OrderType, Side
from messages.venue import TransferStatus
from supervisor import ManualClock

K, M = Exchanges.KRAKEN, Exchanges.MEXC
USDC, USD, BTC = Currencies.USDC, Currencies.USD, Currencies.BTC


@pytest.fixture
def venue(clock: ManualClock) -> Iterator[SimulatedVenue]:
    world = SimulatedVenue(
        clock,
        seed=3,
        default_route=Route(60.0, 1.0),
        balances={(K, "a"): {USDC: 1000.0, USD: 10_000.0, BTC: 1.0}, (K, "b"): {}, (M, "a"): {}},
        markets={"btc/usd": MarketSpec(price=100.0, spread=0.0, depth=0.5, volatility=0.0)},
    )
    yield world
    world.close()


def test_a_lost_request_times_out_and_moves_nothing(venue: SimulatedVenue) -> None:
    venue.faults.timeout_next(1, "transfer")
    with pytest.raises(VenueTimeout):
        venue.transfer("c1", K, "a", K, "b", USDC, 10.0)
    assert venue.fetch_transfer("c1") is None and venue.fetch_balance(K, "a")[USDC] == 1000.0
    assert venue.faults.fired == {"timeout": 1}


def test_a_caller_crashes_before_or_after_the_money_moved(venue: SimulatedVenue) -> None:
    venue.faults.crash_next(1, "transfer")
    with pytest.raises(SimulatedCrash):
        venue.transfer("c1", K, "a", K, "b", USDC, 10.0)
    assert venue.fetch_transfer("c1") is None
    venue.faults.crash_next(1, "transfer", after=True)
    with pytest.raises(SimulatedCrash):
        venue.transfer("c2", K, "a", K, "b", USDC, 10.0)
    moved = venue.fetch_transfer("c2")
    assert moved is not None and moved.status is TransferStatus.OK and venue.fetch_balance(K, "b")[USDC] == 10.0
    assert venue.faults.fired == {"crash_before": 1, "crash_after": 1}


def test_a_fill_races_a_cancel_and_a_cancel_can_time_out_after_it_took_effect(venue: SimulatedVenue) -> None:
    fills: list[Fill] = []
    venue.subscribe_fills(K, "a", fills.append)
    order = venue.create_order(K, "a", "btc/usd", Side.BUY, OrderType.LIMIT, 1.0, 90.0)
    assert order.status is OrderStatus.OPEN
    venue.faults.fill_next_cancel()
    cancelled = venue.cancel_order(order.order_id)
    assert cancelled.status is OrderStatus.CANCELED and cancelled.filled == 0.5
    assert [f.quantity for f in fills] == [0.5]  # the race's fill is pushed like any other
    second = venue.create_order(K, "a", "btc/usd", Side.BUY, OrderType.LIMIT, 1.0, 90.0)
    venue.faults.timeout_after_move_next(1, "cancel_order")
    with pytest.raises(VenueTimeout):
        venue.cancel_order(second.order_id)
    assert venue.fetch_order(second.order_id).status is OrderStatus.CANCELED


def test_a_balance_snapshot_races_an_arrival_and_a_fill(venue: SimulatedVenue, clock: ManualClock) -> None:
    fills: list[Fill] = []
    venue.deposit(M, "a", USDC, 100.0)
    sent = venue.transfer("in", M, "a", K, "a", USDC, 100.0)
    assert sent.status is TransferStatus.PENDING
    venue.subscribe_fills(K, "a", fills.append)
    venue.create_order(K, "a", "btc/usd", Side.SELL, OrderType.LIMIT, 0.2, 110.0)
    venue.faults.race_next_snapshot()
    snapshot = venue.fetch_balance(K, "a")
    assert snapshot[USDC] == 1000.0 + 99.0  # the transfer arrived while the snapshot was taken
    assert snapshot[BTC] == pytest.approx(0.8)  # and the resting order filled
    arrived = venue.fetch_transfer("in")
    assert arrived is not None and arrived.status is TransferStatus.OK and arrived.completed_at == clock.now()
    assert [f.timestamp for f in fills] == [clock.now()]  # its event comes out with the snapshot's time
    assert venue.faults.fired == {"snapshot_races_events": 1}
    assert all(abs(e) < 1e-9 for e in venue.conservation_error().values())


def test_a_fill_nobody_hears_of_is_a_lost_push(venue: SimulatedVenue) -> None:
    venue.create_order(K, "a", "btc/usd", Side.BUY, OrderType.MARKET, 0.1)
    seen: list[Fill] = []
    venue.subscribe_fills(K, "a", seen.append)
    venue.faults.drop_next_fill_push()
    venue.create_order(K, "a", "btc/usd", Side.BUY, OrderType.MARKET, 0.1)
    venue.create_order(K, "a", "btc/usd", Side.BUY, OrderType.MARKET, 0.1)
    assert len(venue.lost_pushes()) == 2 and len(seen) == 1
    assert venue.faults.fired == {"dropped_push": 1}
