"""The venue over ZeroMQ: `RemoteVenue` against a `VenueServer` serving a simulated venue, on ipc:// sockets."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from actors.venues import (
    RemoteVenue,
    TradingVenue,
    VenueError,
    VenueRejected,
    VenueServer,
    VenueTimeout,
    VenueUnavailable,
)
from actors.venues.remote.wire import WIRE, protocol_methods
from actors.venues.simulated import MarketSpec, Route, SimulatedVenue
from messages import Currencies, Exchanges
from messages.trading import Fill, OrderStatus, OrderType, Side
from messages.venue import TransferStatus
from supervisor import ManualClock

KRAKEN, MEXC = Exchanges.KRAKEN, Exchanges.MEXC
USD, BTC = Currencies.USD, Currencies.BTC
BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET

FLAT = MarketSpec(price=100.0, volatility=0.0, tick=1.0, spread=0.02, depth=2.0, slippage_bps=10.0, fee_bps=10.0)
"""A market whose price never moves: bid 99, ask 101."""

REPO = Path(__file__).resolve().parent.parent


def make_venue(clock: ManualClock, spec: MarketSpec = FLAT) -> SimulatedVenue:
    return SimulatedVenue(
        clock,
        seed=7,
        balances={(KRAKEN, "a"): {USD: 10_000.0, BTC: 10.0}, (KRAKEN, "b"): {}, (MEXC, "b"): {USD: 500.0}},
        default_route=Route(delay=60.0, fee=1.0),
        markets={"btc/usd": spec},
    )


class Endpoints:
    def __init__(self, folder: Path) -> None:
        self.rpc = f"ipc://{folder}/venue.sock"
        self.fills = f"ipc://{folder}/fills.sock"


@pytest.fixture
def endpoints(tmp_path: Path) -> Endpoints:
    return Endpoints(tmp_path)


@pytest.fixture
def venue(clock: ManualClock) -> Iterator[SimulatedVenue]:
    venue = make_venue(clock)
    yield venue
    venue.close()


@pytest.fixture
def server(venue: SimulatedVenue, endpoints: Endpoints) -> Iterator[VenueServer]:
    with VenueServer(venue, endpoints.rpc, endpoints.fills) as server:
        yield server


@pytest.fixture
def remote(server: VenueServer, endpoints: Endpoints) -> Iterator[RemoteVenue]:
    with RemoteVenue(endpoints.rpc, endpoints.fills) as remote:
        yield remote


@pytest.fixture
def twin(clock: ManualClock) -> Iterator[SimulatedVenue]:
    """A second venue, built the same on the same clock: the answers a direct caller gets."""
    twin = make_venue(clock)
    yield twin
    twin.close()


def same(twin: SimulatedVenue, remote: RemoteVenue, call: Callable[[Any], Any]) -> Any:
    """Make ``call`` directly on the twin and through the remote venue; both must answer alike."""
    direct, through = call(twin), call(remote)
    assert through == direct
    assert type(through) is type(direct)
    for key in through if isinstance(through, dict) else ():
        assert type(key) is type(next(iter(direct)))
    return through


def test_a_remote_venue_is_a_trading_venue(endpoints: Endpoints) -> None:
    with RemoteVenue(endpoints.rpc, endpoints.fills) as remote:
        assert isinstance(remote, TradingVenue)


def test_balances_transfers_and_deposits_answer_as_the_venue_does(
    clock: ManualClock, venue: SimulatedVenue, twin: SimulatedVenue, remote: RemoteVenue
) -> None:
    assert same(twin, remote, lambda v: v.fetch_balance(KRAKEN, "a")) == {USD: 10_000.0, BTC: 10.0}
    instant = same(twin, remote, lambda v: v.transfer("t1", KRAKEN, "a", KRAKEN, "b", USD, 100.0))
    assert instant.status is TransferStatus.OK
    on_chain = same(twin, remote, lambda v: v.transfer("t2", KRAKEN, "a", MEXC, "b", USD, 50.0))
    assert (on_chain.status, on_chain.fee) == (TransferStatus.PENDING, 1.0)
    repeated = same(twin, remote, lambda v: v.transfer("t1", KRAKEN, "a", KRAKEN, "b", USD, 999.0))
    assert repeated == instant
    refused = same(twin, remote, lambda v: v.transfer("t3", KRAKEN, "b", KRAKEN, "a", USD, 1e9))
    assert refused.status is TransferStatus.FAILED and "insufficient funds" in refused.reason
    assert same(twin, remote, lambda v: v.fetch_transfer("never")) is None
    assert same(twin, remote, lambda v: v.in_flight(USD)) == 49.0
    clock.advance(60.0)
    assert same(twin, remote, lambda v: v.fetch_transfer("t2")).status is TransferStatus.OK
    deposits = same(twin, remote, lambda v: v.fetch_deposits(MEXC, "b"))
    assert [(d.client_id, d.amount) for d in deposits] == [("t2", 49.0)]
    external = same(twin, remote, lambda v: v.deposit(KRAKEN, "b", BTC, 0.5, note="airdrop"))
    assert (external.amount, external.currency) == (0.5, BTC)
    same(twin, remote, lambda v: v.external_adjust(MEXC, "b", USD, -2.0, "unseen fee"))
    same(twin, remote, lambda v: v.settle())
    assert same(twin, remote, lambda v: v.fees_collected(USD)) == 1.0
    assert same(twin, remote, lambda v: v.all_balances())[(MEXC, "b")] == {USD: 547.0}
    assert same(twin, remote, lambda v: v.audit())[-1].note == "unseen fee"
    assert all(abs(error) < 1e-6 for error in same(twin, remote, lambda v: v.conservation_error()).values())
    assert venue.fetch_balance(KRAKEN, "b") == {USD: 100.0, BTC: 0.5}  # the served venue moved the money


def test_tickers_and_orders_answer_as_the_venue_does(
    clock: ManualClock, twin: SimulatedVenue, remote: RemoteVenue
) -> None:
    assert same(twin, remote, lambda v: v.fetch_ticker("BTC/USD")).ask == 101.0
    market = same(twin, remote, lambda v: v.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 3.0))
    assert market.status is OrderStatus.FILLED and market.filled == 3.0
    resting = same(
        twin,
        remote,
        lambda v: v.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 1.0, price=150.0, client_order_id="c1"),
    )
    assert resting.status is OrderStatus.OPEN and resting.price == 150.0
    assert (
        same(
            twin,
            remote,
            lambda v: v.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 1.0, price=150.0, client_order_id="c1"),
        )
        == resting
    )
    assert same(twin, remote, lambda v: v.fetch_open_orders(KRAKEN, "a")) == [resting]
    clock.advance(1.0)
    canceled = same(twin, remote, lambda v: v.cancel_order(resting.order_id))
    assert canceled.status is OrderStatus.CANCELED
    assert same(twin, remote, lambda v: v.fetch_order(resting.order_id)) == canceled
    assert same(twin, remote, lambda v: v.fetch_open_orders(KRAKEN, "a")) == []
    poor = same(twin, remote, lambda v: v.create_order(MEXC, "b", "btc/usd", BUY, MARKET, 100.0))
    assert poor.status is OrderStatus.REJECTED and "insufficient funds" in poor.reason


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (lambda venue: venue.faults.reject_next(method="transfer"), VenueRejected),
        (lambda venue: venue.faults.outage(30.0), VenueUnavailable),
        (lambda venue: venue.faults.timeout_after_move_next(), VenueTimeout),
    ],
    ids=["rejected", "outage", "timeout-after-moving"],
)
def test_venue_errors_are_raised_again_as_the_same_class(
    venue: SimulatedVenue, remote: RemoteVenue, fault: Callable[[SimulatedVenue], None], error: type[VenueError]
) -> None:
    fault(venue)
    with pytest.raises(error) as raised:
        remote.transfer("t1", KRAKEN, "a", KRAKEN, "b", USD, 10.0)
    assert type(raised.value) is error and "simulated" in str(raised.value)


def test_a_transfer_that_timed_out_after_moving_is_found_by_its_client_id(
    venue: SimulatedVenue, remote: RemoteVenue
) -> None:
    venue.faults.timeout_after_move_next()
    with pytest.raises(VenueTimeout):
        remote.transfer("t1", KRAKEN, "a", KRAKEN, "b", USD, 10.0)
    found = remote.fetch_transfer("t1")
    assert found is not None and found.status is TransferStatus.OK
    assert remote.fetch_balance(KRAKEN, "b") == {USD: 10.0}


def test_an_unknown_market_is_rejected_naming_it(remote: RemoteVenue) -> None:
    with pytest.raises(VenueRejected, match="unknown market eth/usd"):
        remote.fetch_ticker("eth/usd")


def test_any_other_server_side_exception_arrives_as_a_venue_error_naming_it(remote: RemoteVenue) -> None:
    with pytest.raises(VenueError, match="ValueError: a deposit must be a positive amount") as raised:
        remote.deposit(KRAKEN, "a", USD, -5.0)
    assert type(raised.value) is VenueError


def test_a_call_with_no_answer_in_time_times_out_and_the_next_call_gets_its_own_answer(
    venue: SimulatedVenue, server: VenueServer, endpoints: Endpoints
) -> None:
    with RemoteVenue(endpoints.rpc, endpoints.fills, timeout=0.1) as remote:
        venue.faults.latency(0.5)
        with pytest.raises(VenueTimeout, match="no answer to fetch_balance"):
            remote.fetch_balance(KRAKEN, "a")
        venue.faults.latency(0.0)
        remote.timeout = 5.0  # the server answers the late call first
        assert remote.fetch_balance(MEXC, "b") == {USD: 500.0}
        assert remote.fetch_ticker("btc/usd").bid == 99.0


def test_a_call_to_a_server_that_is_not_there_times_out(endpoints: Endpoints) -> None:
    with RemoteVenue(endpoints.rpc, endpoints.fills, timeout=0.05) as remote, pytest.raises(VenueTimeout):
        remote.fetch_ticker("btc/usd")


def test_many_threads_calling_at_once_each_get_their_own_answers(venue: SimulatedVenue, remote: RemoteVenue) -> None:
    threads, calls = 8, 25
    start = threading.Barrier(threads)

    def work(worker: int) -> list[tuple[str, float, float | None]]:
        start.wait(timeout=5)
        answers = []
        for call in range(calls):
            sent = remote.transfer(f"w{worker}-{call}", KRAKEN, "a", KRAKEN, "b", USD, worker + 1)
            placed = remote.create_order(KRAKEN, "a", "btc/usd", BUY, LIMIT, 0.01, price=50.0 + worker)
            answers.append((sent.client_id, sent.amount, remote.fetch_order(placed.order_id).price))
        return answers

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(threads)))
    for worker, answers in enumerate(results):
        assert answers == [(f"w{worker}-{call}", float(worker + 1), 50.0 + worker) for call in range(calls)]
    assert venue.fetch_balance(KRAKEN, "b")[USD] == calls * sum(range(1, threads + 1))


def test_fills_pushed_by_the_venue_reach_a_subscriber_in_the_client(
    clock: ManualClock, venue: SimulatedVenue, remote: RemoteVenue
) -> None:
    served: list[Fill] = []
    venue.subscribe_fills(KRAKEN, "a", served.append)
    received: list[Fill] = []
    arrived = threading.Event()

    def on_fill(fill: Fill) -> None:
        received.append(fill)
        if len(received) == 4:
            arrived.set()

    remote.subscribe_fills(KRAKEN, "a", on_fill)
    remote.create_order(
        KRAKEN, "a", "btc/usd", BUY, MARKET, 3.0
    )  # two levels of depth 2: pushed on the server's thread
    venue.create_order(KRAKEN, "a", "btc/usd", BUY, LIMIT, 3.0, price=101.0)  # 2 at once on this thread, the rest...
    clock.advance(1.0)  # ...on the market's next tick
    assert arrived.wait(timeout=5)
    assert received == served and len(received) == 4
    assert all(isinstance(fill, Fill) and fill.exchange == KRAKEN for fill in received)


def test_a_cancelled_fill_subscription_gets_no_more_fills(venue: SimulatedVenue, remote: RemoteVenue) -> None:
    cancelled: list[Fill] = []
    kept: list[Fill] = []
    arrived = threading.Event()

    def keep(fill: Fill) -> None:
        kept.append(fill)
        arrived.set()

    subscription = remote.subscribe_fills(KRAKEN, "a", cancelled.append)
    remote.subscribe_fills(KRAKEN, "a", keep)
    subscription.cancel()
    venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0)
    assert arrived.wait(timeout=5)
    assert len(kept) == 1 and cancelled == []  # one listener thread calls both, in order


def test_subscribing_to_an_unknown_account_is_rejected(remote: RemoteVenue) -> None:
    with pytest.raises(VenueRejected, match=r"unknown account kraken\.nope"):
        remote.subscribe_fills(KRAKEN, "nope", lambda fill: None)


@pytest.mark.parametrize(
    "garbage",
    [
        [b"\xc1 not messagepack"],
        [msgpack.packb([1, 2, 3])],
        [msgpack.packb({"id": 1, "method": "fetch_balance"})],
        [msgpack.packb({"id": 1, "method": "launch_rockets", "args": {}})],
        [msgpack.packb({"id": 1, "method": "fetch_balance", "args": {"exchange": "Nasdaq!", "account": "a"}})],
        [msgpack.packb({"id": 1, "method": "transfer", "args": {"client_id": "x"}})],
        [b"", b"several", b"frames"],
    ],
    ids=["not-msgpack", "not-a-map", "no-args", "unknown-method", "unknown-exchange", "missing-args", "frames"],
)
def test_garbage_gets_an_error_answer_and_the_server_keeps_serving(
    venue: SimulatedVenue, remote: RemoteVenue, endpoints: Endpoints, garbage: list[bytes]
) -> None:
    socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    try:
        socket.connect(endpoints.rpc)
        socket.send_multipart(garbage)
        assert socket.poll(5000), "the server did not answer"
        *envelope, payload = socket.recv_multipart()
        answer = msgpack.unpackb(payload)  # an independent MessagePack reader
    finally:
        socket.close()
    assert envelope == garbage[:-1]
    assert answer["error"] == "VenueError" and answer["message"]
    assert remote.fetch_balance(KRAKEN, "a") == {USD: 10_000.0, BTC: 10.0}


def test_a_plain_messagepack_client_can_call_the_venue(server: VenueServer, endpoints: Endpoints) -> None:
    socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.REQ)
    socket.linger = 0
    try:
        socket.connect(endpoints.rpc)
        socket.send(msgpack.packb({"id": 9, "method": "fetch_ticker", "args": {"market": "btc/usd"}}))
        assert socket.poll(5000)
        answer = msgpack.unpackb(socket.recv())
    finally:
        socket.close()
    assert answer["id"] == 9
    assert answer["result"]["type"] == "Ticker" and answer["result"]["bid"] == 99.0


def other_threads() -> set[threading.Thread]:
    return set(threading.enumerate()) - {threading.current_thread()}


def test_closing_the_client_and_stopping_the_server_leave_nothing_behind(
    venue: SimulatedVenue, endpoints: Endpoints
) -> None:
    before = other_threads()
    server = VenueServer(venue, endpoints.rpc, endpoints.fills)
    server.start()
    server.start()
    remote = RemoteVenue(endpoints.rpc, endpoints.fills)
    remote.subscribe_fills(KRAKEN, "a", lambda fill: None)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: remote.fetch_ticker("btc/usd").ask, range(8))) == [101.0] * 8
    assert {thread.name for thread in other_threads() - before} == {"venue-server", "remote-venue-fills"}
    remote.close()
    remote.close()
    server.stop()
    server.stop()
    assert other_threads() == before
    assert not Path(endpoints.rpc.removeprefix("ipc://")).exists()
    assert not Path(endpoints.fills.removeprefix("ipc://")).exists()
    with pytest.raises(RuntimeError, match="closed"):
        remote.fetch_ticker("btc/usd")


CLIENT_PROCESS = """
import json, os, sys
from actors.venues.remote import RemoteVenue
from messages import Currencies, Currency, Exchange, Exchanges

with RemoteVenue(sys.argv[1], sys.argv[2]) as remote:
    result = remote.transfer("from-another-process", Exchanges.KRAKEN, "a", Exchanges.KRAKEN, "b", Currencies.USD, 250.0)
    print(json.dumps({"pid": os.getpid(), "status": result.status, "balance": remote.fetch_balance(Exchanges.KRAKEN, "b")}))
"""


def test_a_client_in_another_process_transfers_on_the_served_venue(
    venue: SimulatedVenue, server: VenueServer, endpoints: Endpoints
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CLIENT_PROCESS, endpoints.rpc, endpoints.fills],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    answer = json.loads(child.stdout)
    assert answer["pid"] != threading.get_native_id()
    assert answer["status"] == "ok" and answer["balance"] == {"usd": 250.0}
    assert venue.fetch_balance(KRAKEN, "b") == {USD: 250.0}
    assert venue.fetch_transfer("from-another-process") is not None


def test_the_wire_serves_every_method_of_the_venue_protocol_with_its_signature() -> None:
    names = protocol_methods(TradingVenue)
    assert {"fetch_order_by_client_id", "fetch_fills", "create_order", "fetch_balance"} <= set(names)
    assert set(names) <= set(WIRE)
    for name in names:
        assert inspect.signature(getattr(RemoteVenue, name)) == inspect.signature(getattr(TradingVenue, name))
    with RemoteVenue("ipc:///nowhere-rpc", "ipc:///nowhere-fills") as remote:
        assert isinstance(remote, TradingVenue)


def test_new_protocol_methods_cross_the_wire(clock: ManualClock) -> None:
    venue = SimulatedVenue(
        clock,
        balances={(Exchanges.KRAKEN, "a"): {Currencies.USD: 1000.0}},
        markets={"btc/usd": MarketSpec(price=100.0, volatility=0.0)},
    )
    endpoints = (f"inproc://rpc-{id(venue)}", f"inproc://fills-{id(venue)}")
    with VenueServer(venue, *endpoints), RemoteVenue(*endpoints) as remote:
        order = remote.create_order(
            Exchanges.KRAKEN, "a", "btc/usd", Side.BUY, OrderType.MARKET, 1.0, client_order_id="x"
        )
        assert remote.fetch_order_by_client_id(Exchanges.KRAKEN, "a", "x") == order
        assert [f.order_id for f in remote.fetch_fills(Exchanges.KRAKEN, "a", 0.0)] == [order.order_id]
    venue.close()
