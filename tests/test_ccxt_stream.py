"""Fill pushes over Kraken's websocket through ccxt.pro, bridged to the caller's thread: a fill
arrives without any poll, and after a dropped stream the fills of the gap arrive once each."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from actors.venues.ccxt_venue import CcxtAccount
from actors.venues.kraken import KrakenVenue, kraken_client, kraken_stream_client
from desk.config import LiveAccountConfig, LiveVenueConfig
from desk.live_venues import live_venue
from messages.common import Exchanges
from messages.trading import Fill, OrderType, Side
from supervisor.clock import ManualClock
from tests.fakes.kraken import FakeKraken
from tests.fakes.kraken_ws import FakeKrakenStream


@dataclass
class Streamed:
    venue: KrakenVenue
    rest: FakeKraken
    ws: FakeKrakenStream
    fills: list[Fill]
    arrived: threading.Semaphore

    def order(self, side: Side, client_order_id: str) -> str:
        return self.venue.create_order(
            Exchanges.KRAKEN, "main", "btc/usd", side, OrderType.MARKET, 0.01, None, client_order_id
        ).order_id


@pytest.fixture
def streamed(clock: ManualClock) -> Iterator[Streamed]:
    rest = FakeKraken(clock.now).start()
    ws = FakeKrakenStream(rest).start()
    secret = rest.add_key("kraken-key", {"ZUSD": 100000.0, "XXBT": 1.0})
    client = kraken_client("kraken-key", secret, url=rest.url, timeout=5.0)
    client.enableRateLimit = False
    venue = KrakenVenue(
        Exchanges.KRAKEN,
        {"main": CcxtAccount(client)},
        clock=clock,
        markets=["btc/usd"],
        poll_every=86_400.0,  # the clock never gets there: what arrives came by the stream
        streams={"main": kraken_stream_client("kraken-key", secret, url=rest.url, ws_url=ws.url)},
    )
    fills: list[Fill] = []
    arrived = threading.Semaphore(0)

    def receive(fill: Fill) -> None:
        fills.append(fill)
        arrived.release()

    venue.subscribe_fills(Exchanges.KRAKEN, "main", receive)
    assert ws.wait_subscriptions(1)
    yield Streamed(venue, rest, ws, fills, arrived)
    venue.close()
    ws.stop()
    rest.stop()


def test_a_fill_is_pushed_over_the_websocket_without_any_poll(streamed: Streamed) -> None:
    order_id = streamed.order(Side.BUY, "ws-1")
    assert streamed.arrived.acquire(timeout=30)
    assert [f.order_id for f in streamed.fills] == [order_id]
    assert streamed.fills[0].quantity == pytest.approx(0.01)


def test_after_a_dropped_stream_the_fills_of_the_gap_and_later_ones_arrive_once_each(streamed: Streamed) -> None:
    first = streamed.order(Side.BUY, "before")
    assert streamed.arrived.acquire(timeout=30)
    streamed.ws.drop_streams()
    in_gap = streamed.order(Side.SELL, "in-gap")  # no stream is listening: REST brings it
    assert streamed.arrived.acquire(timeout=30)
    assert streamed.ws.wait_subscriptions(2)
    after = streamed.order(Side.BUY, "after")
    assert streamed.arrived.acquire(timeout=30)
    assert [f.order_id for f in streamed.fills] == [first, in_gap, after]
    assert len({f.trade_id for f in streamed.fills}) == 3


def test_a_deployment_with_stream_true_gets_its_fills_from_the_websocket(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rest = FakeKraken(clock.now).start()
    ws = FakeKrakenStream(rest).start()
    monkeypatch.setenv("K_KEY", "desk-key")
    monkeypatch.setenv("K_SECRET", rest.add_key("desk-key", {"ZUSD": 1000.0}))
    config = LiveVenueConfig(
        adapter="kraken",
        accounts={"main": LiveAccountConfig(key_env="K_KEY", secret_env="K_SECRET")},
        markets=["btc/usd"],
        url=rest.url,
        stream=True,
        ws_url=ws.url,
        rate_limit_ms=1,
        poll_every=86_400.0,
    )
    venue = live_venue(Exchanges.KRAKEN, config, clock, base=tmp_path)
    arrived = threading.Event()
    try:
        venue.subscribe_fills(Exchanges.KRAKEN, "main", lambda _fill: arrived.set())
        assert ws.wait_subscriptions(1)
        venue.create_order(Exchanges.KRAKEN, "main", "btc/usd", Side.BUY, OrderType.MARKET, 0.01, None, "cfg")
        assert arrived.wait(30)
    finally:
        venue.close()
        ws.stop()
        rest.stop()
