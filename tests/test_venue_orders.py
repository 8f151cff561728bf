"""The simulated venue's markets: seeded prices, limit and market orders, pushed fills, order faults."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from actors.venues import VenueRejected, VenueTimeout, VenueUnavailable
from actors.venues.simulated import MarketSpec, MovementKind, SimulatedVenue
from messages import Currencies, Exchange, Exchanges, decode, encode
from messages.trading import Fill, OrderStatus, OrderType, Side
from messages.venue import TransferStatus
from supervisor import ManualClock, SystemClock
from tests.test_venue import ConservationMachine, assert_conserved

KRAKEN, MEXC = Exchanges.KRAKEN, Exchanges.MEXC
USD, BTC = Currencies.USD, Currencies.BTC
BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET

FLAT = MarketSpec(price=100.0, volatility=0.0, tick=1.0, spread=0.02, depth=2.0, slippage_bps=10.0, fee_bps=10.0)
"""A market whose price never moves: bid 99, ask 101."""


def make_venue(clock: ManualClock, spec: MarketSpec = FLAT, **options: object) -> SimulatedVenue:
    options.setdefault("balances", {(KRAKEN, "a"): {USD: 10_000.0, BTC: 10.0}, (MEXC, "b"): {USD: 10_000.0}})
    return SimulatedVenue(clock, markets={"btc/usd": spec}, **options)  # type: ignore[arg-type]


def fills_of(venue: SimulatedVenue, exchange: Exchange = KRAKEN, account: str = "a") -> list[Fill]:
    fills: list[Fill] = []
    venue.subscribe_fills(exchange, account, fills.append)
    return fills


def test_a_ticker_starts_at_the_configured_price_and_spread(clock: ManualClock) -> None:
    ticker = make_venue(clock).fetch_ticker("BTC/USD")
    assert (ticker.market, ticker.bid, ticker.ask, ticker.last, ticker.timestamp) == (
        "btc/usd",
        99.0,
        101.0,
        100.0,
        clock.now(),
    )


def test_orders_tickers_and_fills_cross_the_wire_unchanged(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills = fills_of(venue)
    order = venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0)
    for message in (order, venue.fetch_ticker("btc/usd"), fills[0]):
        assert decode(encode(message)) == message


def test_fetching_an_unknown_market_is_rejected_naming_it(clock: ManualClock) -> None:
    with pytest.raises(VenueRejected, match="unknown market eth/usd"):
        make_venue(clock).fetch_ticker("eth/usd")


def walk(seed: int, ticks: int, spec: MarketSpec) -> list[float]:
    clock = ManualClock()
    venue = make_venue(clock, spec, seed=seed)
    path = []
    for _ in range(ticks):
        clock.advance(spec.tick)
        path.append(venue.fetch_ticker("btc/usd").last)
    return path


def test_prices_follow_a_seeded_random_walk_stepped_by_the_clock(clock: ManualClock) -> None:
    spec = MarketSpec(price=100.0, volatility=0.01, tick=5.0)
    venue = make_venue(clock, spec, seed=3)
    clock.advance(4.9)
    assert venue.fetch_ticker("btc/usd").last == 100.0  # no tick yet
    clock.advance(0.1)
    ticker = venue.fetch_ticker("btc/usd")
    assert ticker.last != 100.0 and ticker.timestamp == clock.now()
    assert ticker.bid < ticker.last < ticker.ask
    assert walk(3, 50, spec) == walk(3, 50, spec)
    assert walk(3, 50, spec) != walk(4, 50, spec)
    assert len(set(walk(3, 50, spec))) == 50


def test_orders_do_not_change_the_price_path(clock: ManualClock) -> None:
    spec = MarketSpec(price=100.0, volatility=0.01, tick=1.0)
    venue = make_venue(clock, spec, seed=3)
    path = []
    for n in range(30):
        venue.create_order(KRAKEN, "a", "btc/usd", BUY if n % 2 else SELL, MARKET, 0.1)
        clock.advance(1.0)
        path.append(venue.fetch_ticker("btc/usd").bid)
    assert path == [round(last * (1 - spec.spread / 2), 8) for last in walk(3, 30, spec)]


def test_a_market_buy_fills_at_once_just_above_the_ask_and_pushes_the_fill(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills = fills_of(venue)
    order = venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.5)
    assert order.status is OrderStatus.FILLED and order.filled == 1.5 and order.price is None
    [fill] = fills
    assert 101.0 <= fill.price <= 101.0 * 1.001  # within one level of slippage
    assert (fill.side, fill.quantity, fill.order_id, fill.fee_currency) == (BUY, 1.5, order.order_id, USD)
    assert fill.fee == pytest.approx(1.5 * fill.price * 0.001, abs=1e-8)
    assert order.average_price == fill.price and order.fee == fill.fee


def test_a_market_order_larger_than_the_depth_fills_in_levels_each_worse(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills = fills_of(venue)
    order = venue.create_order(KRAKEN, "a", "btc/usd", SELL, MARKET, 5.0)
    assert [fill.quantity for fill in fills] == [2.0, 2.0, 1.0]
    prices = [fill.price for fill in fills]
    assert prices == sorted(prices, reverse=True) and prices[0] <= 99.0
    assert len({fill.trade_id for fill in fills}) == 3
    assert order.status is OrderStatus.FILLED
    assert order.average_price == pytest.approx(sum(f.quantity * f.price for f in fills) / 5.0)


def test_fills_move_base_quote_and_fee_and_keep_money_conserved(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills = fills_of(venue)
    venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0)
    [fill] = fills
    cost = round(fill.price * fill.quantity, 8)
    assert venue.fetch_balance(KRAKEN, "a") == {USD: pytest.approx(10_000.0 - cost - fill.fee, abs=1e-8), BTC: 11.0}
    kinds = [(m.kind, m.currency, m.note) for m in venue.audit() if m.client_id == fill.order_id]
    assert kinds == [
        (MovementKind.TRADE, BTC, fill.trade_id),
        (MovementKind.TRADE, USD, fill.trade_id),
        (MovementKind.TRADE_FEE, USD, fill.trade_id),
    ]
    assert venue.fees_collected(USD) == fill.fee
    assert_conserved(venue)


def test_a_limit_order_marketable_on_arrival_fills_at_the_touch_up_to_the_depth(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills = fills_of(venue)
    order = venue.create_order(KRAKEN, "a", "btc/usd", BUY, LIMIT, 1.0, price=105.0)
    assert [(f.quantity, f.price) for f in fills] == [(1.0, 101.0)]
    assert order.status is OrderStatus.FILLED and order.price == 105.0


def test_a_large_limit_order_fills_partially_over_several_ticks(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills = fills_of(venue)
    order = venue.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 5.0, price=98.0)
    assert (order.status, order.filled) == (OrderStatus.OPEN, 2.0)
    clock.advance(1.0)
    assert venue.fetch_order(order.order_id).filled == 4.0
    clock.advance(1.0)
    done = venue.fetch_order(order.order_id)
    assert (done.status, done.filled, done.remaining) == (OrderStatus.FILLED, 5.0, 0.0)
    assert [(f.quantity, f.price) for f in fills] == [(2.0, 99.0), (2.0, 98.0), (1.0, 98.0)]
    assert [f.timestamp for f in fills] == [clock.now() - 2, clock.now() - 1, clock.now()]
    clock.advance(10.0)
    assert len(fills) == 3


def test_a_resting_limit_buy_fills_at_its_price_when_the_ask_comes_down_to_it(clock: ManualClock) -> None:
    venue = make_venue(clock, MarketSpec(price=100.0, volatility=0.01, tick=1.0, spread=0.001, depth=10.0), seed=11)
    fills = fills_of(venue)
    limit = 99.0
    order = venue.create_order(KRAKEN, "a", "btc/usd", BUY, LIMIT, 1.0, price=limit)
    asks = []
    while not fills and len(asks) < 1000:
        clock.advance(1.0)
        asks.append(venue.fetch_ticker("btc/usd").ask)
    assert all(ask > limit for ask in asks[:-1]) and asks[-1] <= limit
    assert [(f.quantity, f.price) for f in fills] == [(1.0, limit)]
    assert venue.fetch_order(order.order_id).status is OrderStatus.FILLED


def test_cancel_stops_an_order_and_keeps_what_was_filled(clock: ManualClock) -> None:
    venue = make_venue(clock)
    order = venue.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 5.0, price=98.0)
    canceled = venue.cancel_order(order.order_id)
    assert (canceled.status, canceled.filled) == (OrderStatus.CANCELED, 2.0)
    clock.advance(5.0)
    assert venue.fetch_order(order.order_id).filled == 2.0
    assert venue.fetch_open_orders(KRAKEN, "a") == []
    assert venue.cancel_order(order.order_id) == venue.fetch_order(order.order_id)  # idempotent


def test_a_repeated_client_order_id_never_places_twice(clock: ManualClock) -> None:
    venue = make_venue(clock)
    first = venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0, client_order_id="hedge-1")
    again = venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 3.0, client_order_id="hedge-1")
    assert again == first
    assert venue.fetch_balance(KRAKEN, "a")[BTC] == 11.0


@pytest.mark.parametrize(
    ("args", "price", "reason"),
    [
        ((KRAKEN, "nope", "btc/usd", BUY, MARKET, 1.0), None, "unknown account kraken.nope"),
        ((KRAKEN, "a", "eth/usd", BUY, MARKET, 1.0), None, "unknown market eth/usd"),
        ((KRAKEN, "a", "btc/usd", BUY, MARKET, 0.0), None, "quantity must be a positive number"),
        ((KRAKEN, "a", "btc/usd", SELL, MARKET, -1.0), None, "quantity must be a positive number"),
        ((KRAKEN, "a", "btc/usd", SELL, LIMIT, math.nan), 99.0, "quantity must be a positive number"),
        ((KRAKEN, "a", "btc/usd", BUY, LIMIT, 1.0), None, "a limit order needs a positive price"),
        ((KRAKEN, "a", "btc/usd", BUY, LIMIT, 1.0), -3.0, "a limit order needs a positive price"),
        ((KRAKEN, "a", "btc/usd", BUY, MARKET, 99.0), None, "insufficient funds"),
        ((KRAKEN, "a", "btc/usd", BUY, LIMIT, 100.0), 100.0, "insufficient funds: 10010.0 usd needed"),
        ((KRAKEN, "a", "btc/usd", SELL, MARKET, 10.5), None, "insufficient funds: 10.5 btc needed"),
        ((MEXC, "b", "btc/usd", SELL, LIMIT, 1.0), 200.0, "insufficient funds: 1.0 btc needed, 0.0 available"),
    ],
)
def test_an_order_that_cannot_be_placed_is_rejected_with_a_reason_and_moves_nothing(
    clock: ManualClock, args: tuple, price: float | None, reason: str
) -> None:
    venue = make_venue(clock)
    before = venue.audit()
    order = venue.create_order(*args, price=price, client_order_id="bad")
    assert order.status is OrderStatus.REJECTED
    assert reason in order.reason
    assert venue.audit() == before
    assert venue.fetch_order(order.order_id) == order
    assert venue.create_order(*args, price=price, client_order_id="bad") == order


def test_open_orders_hold_their_funds_from_transfers_and_new_orders(clock: ManualClock) -> None:
    venue = make_venue(clock)
    venue.add_account(KRAKEN, "b")
    buy = venue.create_order(KRAKEN, "a", "btc/usd", BUY, LIMIT, 50.0, price=90.0)  # holds 4504.5 usd
    sell = venue.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 8.0, price=120.0)  # holds 8 btc
    assert venue.fetch_open_orders(KRAKEN, "a") == [buy, sell]
    assert venue.fetch_balance(KRAKEN, "a") == {USD: 10_000.0, BTC: 10.0}  # totals, as REST shows them
    refused = venue.transfer("t1", KRAKEN, "a", KRAKEN, "b", BTC, 2.5)
    assert refused.status is TransferStatus.FAILED and "2.0 available" in refused.reason
    assert venue.create_order(KRAKEN, "a", "btc/usd", BUY, LIMIT, 50.0, price=110.0).status is OrderStatus.REJECTED
    venue.cancel_order(sell.order_id)
    assert venue.transfer("t2", KRAKEN, "a", KRAKEN, "b", BTC, 2.5).status is TransferStatus.OK


def test_an_order_whose_held_money_vanished_is_canceled_at_its_next_fill(clock: ManualClock) -> None:
    venue = make_venue(clock)
    order = venue.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 5.0, price=98.0)
    venue.external_adjust(KRAKEN, "a", BTC, -7.0, note="seized")  # 8 left after the first 2 sold, 3 still held
    clock.advance(1.0)
    canceled = venue.fetch_order(order.order_id)
    assert (canceled.status, canceled.filled) == (OrderStatus.CANCELED, 2.0)
    assert "insufficient funds at fill" in canceled.reason
    assert venue.fetch_balance(KRAKEN, "a")[BTC] == 1.0  # the next 2 could not be sold
    assert_conserved(venue)


def test_threads_trading_while_the_clock_ticks_get_every_fill_once_and_in_order(clock: ManualClock) -> None:
    venue = make_venue(
        clock, MarketSpec(price=100.0, volatility=0.01, depth=0.5), balances={(KRAKEN, "a"): {USD: 1e9, BTC: 1e4}}
    )
    fills = fills_of(venue)
    start = threading.Barrier(5)

    def trade(worker: int) -> None:
        start.wait()
        for n in range(50):
            venue.create_order(KRAKEN, "a", "btc/usd", BUY if (n + worker) % 2 else SELL, MARKET, 1.2)
            venue.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 1.0, price=100.0 + n % 3)

    def tick() -> None:
        start.wait()
        for _ in range(200):
            clock.advance(1.0)

    threads = [threading.Thread(target=trade, args=(worker,)) for worker in range(4)] + [threading.Thread(target=tick)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    trades = [m.note for m in venue.audit() if m.kind is MovementKind.TRADE and m.currency == BTC]
    assert [fill.trade_id for fill in fills] == trades
    assert len(trades) >= 4 * 50 * 3
    assert_conserved(venue)


def test_fetching_or_canceling_an_unknown_order_is_rejected_naming_it(clock: ManualClock) -> None:
    venue = make_venue(clock)
    with pytest.raises(VenueRejected, match="unknown order O99"):
        venue.fetch_order("O99")
    with pytest.raises(VenueRejected, match="unknown order O99"):
        venue.cancel_order("O99")


def test_fills_are_pushed_only_to_subscribers_of_that_account_each_with_a_unique_trade_id(clock: ManualClock) -> None:
    venue = make_venue(clock)
    mine, also_mine, theirs = fills_of(venue), fills_of(venue), fills_of(venue, MEXC, "b")
    for _ in range(3):
        venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 3.0)
    venue.create_order(MEXC, "b", "btc/usd", BUY, MARKET, 1.0)
    assert mine == also_mine and len(mine) == 6
    assert len({fill.trade_id for fill in mine + theirs}) == 7
    assert [fill.account for fill in theirs] == ["b"]


def test_subscribing_to_an_unknown_account_is_rejected(clock: ManualClock) -> None:
    with pytest.raises(VenueRejected, match="unknown account kraken.nope"):
        make_venue(clock).subscribe_fills(KRAKEN, "nope", print)


def test_a_canceled_subscription_receives_nothing_more(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills: list[Fill] = []
    subscription = venue.subscribe_fills(KRAKEN, "a", fills.append)
    venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0)
    subscription.cancel()
    venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0)
    assert len(fills) == 1


def test_subscribers_are_called_without_the_venue_lock_so_they_may_call_the_venue(clock: ManualClock) -> None:
    venue = make_venue(clock)
    seen: list[float] = []

    def on_fill(fill: Fill) -> None:  # another thread asks the venue; it would hang if the lock were held
        worker = threading.Thread(target=lambda: seen.append(venue.fetch_balance(KRAKEN, "a")[BTC]))
        worker.start()
        worker.join(timeout=5)
        seen.append(venue.fetch_order(fill.order_id).filled)  # and so does this thread

    venue.subscribe_fills(KRAKEN, "a", on_fill)
    venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0)
    venue.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 3.0, price=98.0)
    clock.advance(1.0)
    assert seen == [11.0, 1.0, 9.0, 2.0, 8.0, 3.0]


def test_a_failing_subscriber_does_not_stop_the_others_or_the_market(clock: ManualClock) -> None:
    venue = make_venue(clock)

    def broken(fill: Fill) -> None:
        raise RuntimeError("subscriber bug")

    venue.subscribe_fills(KRAKEN, "a", broken)
    fills = fills_of(venue)
    order = venue.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 4.0, price=98.0)
    clock.advance(1.0)
    assert [f.quantity for f in fills] == [2.0, 2.0]
    assert venue.fetch_order(order.order_id).status is OrderStatus.FILLED


def test_reject_next_create_order_places_nothing(clock: ManualClock) -> None:
    venue = make_venue(clock)
    venue.faults.reject_next(1, "create_order")
    with pytest.raises(VenueRejected):
        venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0, client_order_id="x")
    assert venue.fetch_balance(KRAKEN, "a")[BTC] == 10.0
    assert venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0, client_order_id="x").filled == 1.0


def test_a_create_order_timeout_after_placing_is_recovered_by_its_client_order_id(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills = fills_of(venue)
    venue.faults.timeout_after_move_next(1, "create_order")
    with pytest.raises(VenueTimeout):
        venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0, client_order_id="hedge-7")
    assert len(fills) == 1  # the websocket still told us
    retry = venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0, client_order_id="hedge-7")
    assert (retry.order_id, retry.status) == (fills[0].order_id, OrderStatus.FILLED)
    assert venue.fetch_balance(KRAKEN, "a")[BTC] == 11.0


def test_an_outage_refuses_order_calls_while_resting_orders_keep_filling(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills = fills_of(venue)
    order = venue.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 4.0, price=98.0)
    venue.faults.outage(10.0)
    for call in (
        lambda: venue.fetch_ticker("btc/usd"),
        lambda: venue.create_order(KRAKEN, "a", "btc/usd", BUY, MARKET, 1.0),
        lambda: venue.cancel_order(order.order_id),
        lambda: venue.fetch_order(order.order_id),
        lambda: venue.fetch_open_orders(KRAKEN, "a"),
    ):
        with pytest.raises(VenueUnavailable):
            call()
    clock.advance(1.0)
    assert len(fills) == 2


def test_duplicate_next_fill_pushes_the_same_trade_id_twice(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills = fills_of(venue)
    venue.faults.duplicate_next_fill()
    venue.create_order(KRAKEN, "a", "btc/usd", SELL, MARKET, 3.0)
    assert [f.trade_id for f in fills] == ["T1", "T1", "T2"]
    assert fills[0] == fills[1]
    assert venue.fetch_balance(KRAKEN, "a")[BTC] == 7.0  # the trade happened once


def test_drop_next_fill_push_loses_the_push_but_not_the_trade(clock: ManualClock) -> None:
    venue = make_venue(clock)
    fills = fills_of(venue)
    venue.faults.drop_next_fill_push()
    order = venue.create_order(KRAKEN, "a", "btc/usd", SELL, MARKET, 3.0)
    assert [f.quantity for f in fills] == [1.0]
    assert venue.fetch_order(order.order_id).filled == 3.0


def test_with_a_system_clock_resting_orders_fill_in_real_time() -> None:
    spec = MarketSpec(price=100.0, volatility=0.0, tick=0.01, spread=0.02, depth=1.0)
    venue = SimulatedVenue(SystemClock(), balances={(KRAKEN, "a"): {BTC: 5.0}}, markets={"btc/usd": spec})
    done = threading.Event()
    fills: list[Fill] = []

    def on_fill(fill: Fill) -> None:
        fills.append(fill)
        if sum(f.quantity for f in fills) >= 5.0:
            done.set()

    try:
        venue.subscribe_fills(KRAKEN, "a", on_fill)
        venue.create_order(KRAKEN, "a", "btc/usd", SELL, LIMIT, 5.0, price=99.0)
        assert done.wait(5)
    finally:
        venue.close()
    assert [f.quantity for f in fills] == [1.0] * 5
    assert venue.fetch_balance(KRAKEN, "a")[USD] == pytest.approx(5 * 99.0 * 0.999)


def test_close_stops_the_market(clock: ManualClock) -> None:
    venue = make_venue(clock, MarketSpec(price=100.0, volatility=0.05))
    venue.close()
    clock.advance(100.0)
    assert venue.fetch_ticker("btc/usd").last == 100.0


def trade_for_a_while(seed: int) -> tuple[list[Fill], list]:
    clock = ManualClock()
    venue = make_venue(clock, MarketSpec(price=100.0, volatility=0.01, depth=0.7), seed=seed)
    fills = fills_of(venue)
    for n in range(20):
        venue.create_order(KRAKEN, "a", "btc/usd", SELL if n % 3 else BUY, MARKET, 1.3)
        venue.create_order(KRAKEN, "a", "btc/usd", BUY, LIMIT, 1.5, price=99.0 + n % 4)
        clock.advance(3.0)
    return fills, venue.audit()


def test_the_same_seed_and_orders_give_the_same_fills_and_another_seed_does_not() -> None:
    assert trade_for_a_while(5) == trade_for_a_while(5)
    assert trade_for_a_while(5)[0] != trade_for_a_while(6)[0]


class TradingConservationMachine(ConservationMachine):
    """The transfer machine plus orders on a moving market: trades are flows to the world, fees stay counted."""

    MARKETS = {"btc/usdc": MarketSpec(price=300.0, volatility=0.02, tick=7.0, depth=0.4, slippage_bps=30.0)}  # noqa: RUF012

    @initialize(seed=st.integers(0, 2**32))
    def build(self, seed: int) -> None:
        super().build(seed)
        self.orders: list[str] = []
        self.pushed: list[Fill] = []
        self.venue.subscribe_fills(KRAKEN, "main", self.pushed.append)

    @rule(
        account=st.sampled_from([(KRAKEN, "main"), (KRAKEN, "trade"), (MEXC, "main")]),
        side=st.sampled_from([BUY, SELL]),
        quantity=st.floats(min_value=-0.1, max_value=5.0),
        offset=st.one_of(st.none(), st.floats(min_value=-0.05, max_value=0.05)),
    )
    def place_order(self, account, side, quantity, offset) -> None:  # type: ignore[no-untyped-def]
        price = None if offset is None else round(300.0 * (1 + offset), 2)
        try:
            order = self.venue.create_order(
                *account, "btc/usdc", side, MARKET if price is None else LIMIT, quantity, price=price
            )
        except (VenueRejected, VenueTimeout, VenueUnavailable):
            return
        self.orders.append(order.order_id)

    @rule(data=st.data())
    def cancel_order(self, data) -> None:  # type: ignore[no-untyped-def]
        if self.orders:
            try:
                self.venue.cancel_order(data.draw(st.sampled_from(self.orders)))
            except (VenueRejected, VenueUnavailable):
                pass

    @invariant()
    def every_fill_is_pushed_once(self) -> None:
        trades = {
            m.note
            for m in self.venue.audit()
            if m.kind is MovementKind.TRADE and m.account == "main" and m.exchange == KRAKEN
        }
        assert [fill.trade_id for fill in self.pushed] == sorted(trades, key=lambda trade_id: int(trade_id[1:]))

    def teardown(self) -> None:
        if hasattr(self, "venue"):
            self.venue.close()
        super().teardown()


TradingConservationMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
TestMoneyIsConservedWhileTrading = TradingConservationMachine.TestCase
