"""Order and fill status over Lighter's websocket, bridged to the caller's thread: fills arrive
without any poll, a dropped stream's gap is fetched by REST once it is back, a frame sent twice
is pushed once, and an order's fate is read from the stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from actors.venues.lighter import LighterAccount, LighterVenue
from actors.venues.lighter_sdk import sdk
from messages.common import Exchanges
from messages.trading import Fill, OrderStatus, OrderType, Side
from supervisor.clock import ManualClock
from tests.fakes.lighter import FakeLighter
from tests.fakes.lighter_ws import FakeLighterStream

POLL_EVERY = 60.0


@dataclass
class Streamed:
    venue: LighterVenue
    rest: FakeLighter
    ws: FakeLighterStream
    clock: ManualClock
    fills: list[Fill]
    arrived: threading.Semaphore

    def order(self, side: Side, client_order_id: str) -> str:
        return self.venue.create_order(
            Exchanges.LIGHTER, "main", "btc/usdc", side, OrderType.MARKET, 0.01, None, client_order_id
        ).order_id

    def trade_reads(self) -> int:
        return len([r for r in self.rest.requests if r.path.endswith("/trades")])


@pytest.fixture
def streamed(clock: ManualClock) -> Iterator[Streamed]:
    rest = FakeLighter(clock.now).start()
    ws = FakeLighterStream(rest).start()
    rest.add_account(281, 3, {"USDC": 100000.0, "BTC": 1.0})
    private_key, _public, error = sdk().create_api_key()
    assert error is None
    venue = LighterVenue(
        rest.url,
        {"main": LighterAccount(281, 3, private_key)},
        markets={"btc/usdc": 1},
        clock=clock,
        timeout=5.0,
        poll_every=POLL_EVERY,  # the clock only gets there where a test moves it
        ws_url=ws.url,
    )
    fills: list[Fill] = []
    arrived = threading.Semaphore(0)

    def receive(fill: Fill) -> None:
        fills.append(fill)
        arrived.release()

    venue.subscribe_fills(Exchanges.LIGHTER, "main", receive)
    assert venue.stream.settle("main", 0)
    yield Streamed(venue, rest, ws, clock, fills, arrived)
    venue.close()
    ws.stop()
    rest.stop()


def test_a_fill_is_pushed_over_the_websocket_without_any_poll(streamed: Streamed) -> None:
    reads = streamed.trade_reads()
    order_id = streamed.order(Side.BUY, "ws-1")
    assert streamed.arrived.acquire(timeout=30)
    assert [f.order_id for f in streamed.fills] == [order_id]
    assert streamed.fills[0].quantity == pytest.approx(0.01)
    assert streamed.trade_reads() == reads  # nothing was asked by REST


def test_the_stream_subscribes_to_the_accounts_trades_and_orders_with_its_auth_token(streamed: Streamed) -> None:
    assert streamed.ws.subscriptions == 2  # account_all_trades/281 and account_all_orders/281, both authorised


def test_a_fill_made_while_the_stream_was_down_is_fetched_on_its_return_and_pushed_once(streamed: Streamed) -> None:
    first = streamed.order(Side.BUY, "before")
    assert streamed.arrived.acquire(timeout=30)
    streamed.ws.refuse_streams()
    streamed.ws.drop_streams()
    in_gap = streamed.order(Side.SELL, "in-gap")  # no stream is listening: only REST knows it
    assert not streamed.arrived.acquire(timeout=0.5)
    streamed.ws.accept_streams()
    assert streamed.arrived.acquire(timeout=30)  # caught up once the stream was back
    assert streamed.venue.stream.settle("main", streamed.ws.frames)
    after = streamed.order(Side.BUY, "after")
    assert streamed.arrived.acquire(timeout=30)
    assert streamed.venue.stream.settle("main", streamed.ws.frames)
    assert [f.order_id for f in streamed.fills] == [first, in_gap, after]
    assert len({f.trade_id for f in streamed.fills}) == 3
    assert streamed.venue.stream.connects >= 2


def test_a_trade_frame_sent_twice_is_pushed_once(streamed: Streamed) -> None:
    streamed.ws.duplicate_next(5)
    streamed.order(Side.BUY, "twice")
    assert streamed.arrived.acquire(timeout=30)
    assert streamed.venue.stream.settle("main", streamed.ws.frames)
    streamed.order(Side.SELL, "next")
    assert streamed.arrived.acquire(timeout=30)
    assert streamed.venue.stream.settle("main", streamed.ws.frames)
    assert [f.side for f in streamed.fills] == [Side.BUY, Side.SELL]


def test_while_the_stream_is_down_the_fills_are_polled(streamed: Streamed) -> None:
    streamed.ws.refuse_streams()
    streamed.ws.drop_streams()
    assert streamed.venue.stream.wait_down("main")
    order_id = streamed.order(Side.BUY, "polled")
    assert not streamed.arrived.acquire(timeout=0.5)
    streamed.clock.advance(POLL_EVERY)
    assert streamed.arrived.acquire(timeout=30)
    assert [f.order_id for f in streamed.fills] == [order_id]


def test_a_streamed_account_is_not_polled(streamed: Streamed) -> None:
    reads = streamed.trade_reads()
    streamed.clock.advance(POLL_EVERY)
    streamed.clock.advance(POLL_EVERY)
    assert streamed.trade_reads() == reads


def test_a_placed_orders_status_is_read_from_the_stream_not_asked_by_rest(streamed: Streamed) -> None:
    before = len(streamed.rest.requests)
    order = streamed.venue.create_order(
        Exchanges.LIGHTER, "main", "btc/usdc", Side.BUY, OrderType.MARKET, 0.01, None, "status"
    )
    assert order.status is OrderStatus.FILLED and order.filled == pytest.approx(0.01)
    assert order.client_order_id == "status"
    after_send = [r.path for r in streamed.rest.requests[before:]]
    assert after_send[-1].endswith("/sendTx")  # nothing asked after sending: the stream told it
