"""One contract for every `TradingVenue`: the simulated venue and each real adapter against its
local fake exchange show the same behaviours and raise the same errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.venues.base import VenueRejected, VenueTimeout, VenueUnavailable
from messages.common import Currencies, Currency
from messages.trading import Fill, OrderStatus, OrderType, Side
from messages.venue import TransferStatus
from supervisor.clock import ManualClock
from tests.venue_harness import HARNESSES, WITHDRAW_FEE, Harness, harness


@pytest.fixture(params=sorted(HARNESSES))
def h(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[Harness]:
    yield from harness(request.param, clock)


def moving_money(h: Harness) -> Harness:
    if not h.moves_money:
        pytest.skip(f"{h.exchange} does not offer withdrawals through this adapter")
    return h


def sending(h: Harness) -> Harness:
    if not h.sends:
        pytest.skip("paper trading: orders and transfers never reach the exchange, so its faults cannot hit them")
    return h


def balance(h: Harness, currency: Currency) -> float:
    return h.venue.fetch_balance(h.exchange, h.account).get(currency, 0.0)


def test_the_balances_of_an_account_are_read_per_currency(h: Harness) -> None:
    balances = h.venue.fetch_balance(h.exchange, h.account)
    assert balances[h.quote] == pytest.approx(100000.0)
    assert balances[Currencies.BTC] == pytest.approx(1.0)


def test_an_unknown_account_is_rejected_naming_it(h: Harness) -> None:
    with pytest.raises(VenueRejected, match="nobody"):
        h.venue.fetch_balance(h.exchange, "nobody")


def test_a_ticker_has_a_bid_below_its_ask(h: Harness) -> None:
    ticker = h.venue.fetch_ticker(h.market)
    assert ticker.market == h.market
    assert 0 < ticker.bid < ticker.ask


def test_a_market_buy_fills_and_moves_base_and_quote(h: Harness) -> None:
    order = h.venue.create_order(
        h.exchange, h.account, h.market, Side.BUY, OrderType.MARKET, 0.01, client_order_id="m1"
    )
    assert order.status is OrderStatus.FILLED
    assert order.filled == pytest.approx(0.01)
    assert order.average_price is not None and order.average_price > 0
    assert balance(h, Currencies.BTC) == pytest.approx(1.01)
    assert balance(h, h.quote) < 100000.0 - 0.01 * order.average_price + 1e-6


def test_a_repeated_client_order_id_returns_the_first_order_and_trades_once(h: Harness) -> None:
    first = h.venue.create_order(
        h.exchange, h.account, h.market, Side.BUY, OrderType.MARKET, 0.01, client_order_id="once"
    )
    again = h.venue.create_order(
        h.exchange, h.account, h.market, Side.BUY, OrderType.MARKET, 0.01, client_order_id="once"
    )
    assert again.order_id == first.order_id
    assert balance(h, Currencies.BTC) == pytest.approx(1.01)


def test_an_order_is_found_by_its_client_id_and_an_unknown_one_is_none(h: Harness) -> None:
    placed = h.venue.create_order(
        h.exchange, h.account, h.market, Side.SELL, OrderType.MARKET, 0.02, client_order_id="c7"
    )
    found = h.venue.fetch_order_by_client_id(h.exchange, h.account, "c7")
    assert found is not None and found.order_id == placed.order_id and found.status is OrderStatus.FILLED
    assert h.venue.fetch_order_by_client_id(h.exchange, h.account, "never-sent") is None


def test_an_unaffordable_order_is_rejected_for_insufficient_funds_and_moves_nothing(h: Harness) -> None:
    order = h.venue.create_order(
        h.exchange, h.account, h.market, Side.BUY, OrderType.MARKET, 50.0, client_order_id="big"
    )
    assert order.status is OrderStatus.REJECTED
    assert "insufficient funds" in order.reason.lower()
    assert balance(h, Currencies.BTC) == pytest.approx(1.0)


def test_an_order_on_an_unknown_market_is_rejected_naming_it(h: Harness) -> None:
    order = h.venue.create_order(h.exchange, h.account, "eth/usdt", Side.BUY, OrderType.MARKET, 1.0)
    assert order.status is OrderStatus.REJECTED
    assert "eth/usdt" in order.reason


def test_a_resting_limit_order_is_open_until_canceled_and_cancel_is_idempotent(h: Harness) -> None:
    order = h.venue.create_order(
        h.exchange, h.account, h.market, Side.SELL, OrderType.LIMIT, 0.05, price=90000.0, client_order_id="rest"
    )
    assert order.status is OrderStatus.OPEN and order.filled == 0.0
    assert [o.order_id for o in h.venue.fetch_open_orders(h.exchange, h.account)] == [order.order_id]
    canceled = h.venue.cancel_order(order.order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert h.venue.cancel_order(order.order_id).status is OrderStatus.CANCELED
    assert h.venue.fetch_open_orders(h.exchange, h.account) == []
    assert h.venue.fetch_order(order.order_id).status is OrderStatus.CANCELED


def test_fetching_an_unknown_order_is_rejected(h: Harness) -> None:
    with pytest.raises(VenueRejected):
        h.venue.fetch_order("main|BTC/USD|999999" if h.real else "O999")


def test_fills_since_a_time_are_listed_oldest_first(h: Harness) -> None:
    start = h.clock.now()
    h.venue.create_order(h.exchange, h.account, h.market, Side.BUY, OrderType.MARKET, 0.01, client_order_id="f1")
    h.clock.advance(5.0)
    second = h.venue.create_order(
        h.exchange, h.account, h.market, Side.SELL, OrderType.MARKET, 0.01, client_order_id="f2"
    )
    fills = h.venue.fetch_fills(h.exchange, h.account, start)
    assert [f.side for f in fills] == [Side.BUY, Side.SELL]
    assert fills[0].timestamp <= fills[1].timestamp
    assert fills[1].order_id == second.order_id
    assert [f.side for f in h.venue.fetch_fills(h.exchange, h.account, start + 5.0)] == [Side.SELL]


def test_a_subscriber_is_pushed_each_later_fill_once(h: Harness) -> None:
    pushed: list[Fill] = []
    subscription = h.venue.subscribe_fills(h.exchange, h.account, pushed.append)
    order = h.venue.create_order(
        h.exchange, h.account, h.market, Side.BUY, OrderType.MARKET, 0.01, client_order_id="p1"
    )
    h.pump()
    h.pump()
    assert [f.order_id for f in pushed] == [order.order_id]
    assert pushed[0].quantity == pytest.approx(0.01)
    subscription.cancel()
    h.venue.create_order(h.exchange, h.account, h.market, Side.BUY, OrderType.MARKET, 0.01, client_order_id="p2")
    h.pump()
    assert len(pushed) == 1


def test_a_rate_limited_order_raises_rejected_and_places_nothing(h: Harness) -> None:
    sending(h)
    h.rate_limit("create_order")
    with pytest.raises(VenueRejected):
        h.venue.create_order(h.exchange, h.account, h.market, Side.BUY, OrderType.MARKET, 0.01, client_order_id="rl")
    assert h.venue.fetch_order_by_client_id(h.exchange, h.account, "rl") is None
    assert balance(h, Currencies.BTC) == pytest.approx(1.0)


def test_an_outage_makes_reads_unavailable(h: Harness) -> None:
    h.outage()
    with pytest.raises(VenueUnavailable):
        h.venue.fetch_balance(h.exchange, h.account)


def test_an_order_that_timed_out_after_placing_is_found_by_client_id_and_not_placed_again(h: Harness) -> None:
    sending(h)
    h.hang_after("create_order")
    with pytest.raises(VenueTimeout):
        h.venue.create_order(h.exchange, h.account, h.market, Side.BUY, OrderType.MARKET, 0.01, client_order_id="lost")
    found = h.venue.fetch_order_by_client_id(h.exchange, h.account, "lost")
    assert found is not None and found.status is OrderStatus.FILLED
    again = h.venue.create_order(
        h.exchange, h.account, h.market, Side.BUY, OrderType.MARKET, 0.01, client_order_id="lost"
    )
    assert again.order_id == found.order_id
    assert balance(h, Currencies.BTC) == pytest.approx(1.01)


def test_a_withdrawal_to_another_exchange_is_pending_with_its_fee_and_a_repeat_moves_nothing(h: Harness) -> None:
    to_exchange, to_account = moving_money(h).destination
    result = h.venue.transfer("w1", h.exchange, h.account, to_exchange, to_account, Currencies.USDT, 100.0)
    assert result.status is TransferStatus.PENDING
    assert result.fee == pytest.approx(WITHDRAW_FEE)
    assert balance(h, Currencies.USDT) == pytest.approx(400.0)
    again = h.venue.transfer("w1", h.exchange, h.account, to_exchange, to_account, Currencies.USDT, 100.0)
    assert again.client_id == "w1" and again.status is TransferStatus.PENDING
    assert balance(h, Currencies.USDT) == pytest.approx(400.0)
    assert h.venue.fetch_transfer("never-sent") is None


def test_a_withdrawal_beyond_the_balance_fails_for_insufficient_funds(h: Harness) -> None:
    to_exchange, to_account = moving_money(h).destination
    result = h.venue.transfer("w2", h.exchange, h.account, to_exchange, to_account, Currencies.USDT, 10_000.0)
    assert result.status is TransferStatus.FAILED
    assert "insufficient funds" in result.reason.lower()
    assert balance(h, Currencies.USDT) == pytest.approx(500.0)


def test_a_withdrawal_that_timed_out_after_sending_is_found_again_and_never_sent_twice(h: Harness) -> None:
    to_exchange, to_account = moving_money(h).destination
    sending(h)
    h.hang_after("transfer")
    with pytest.raises(VenueTimeout):
        h.venue.transfer("w3", h.exchange, h.account, to_exchange, to_account, Currencies.USDT, 50.0)
    found = h.venue.fetch_transfer("w3")
    assert found is not None and found.status is TransferStatus.PENDING and found.amount == pytest.approx(50.0)
    h.venue.transfer("w3", h.exchange, h.account, to_exchange, to_account, Currencies.USDT, 50.0)
    assert balance(h, Currencies.USDT) == pytest.approx(450.0)


def test_a_rate_limited_withdrawal_raises_rejected_and_can_be_sent_later(h: Harness) -> None:
    to_exchange, to_account = moving_money(h).destination
    sending(h)
    h.rate_limit("transfer")
    with pytest.raises(VenueRejected):
        h.venue.transfer("w4", h.exchange, h.account, to_exchange, to_account, Currencies.USDT, 20.0)
    assert balance(h, Currencies.USDT) == pytest.approx(500.0)
    assert h.venue.fetch_transfer("w4") is None


def between_accounts(h: Harness) -> str:
    if h.sibling is None:
        pytest.skip(f"{h.exchange} does not move money between its accounts through this adapter")
    return h.sibling


def test_a_transfer_between_two_accounts_of_one_exchange_is_done_at_once_and_a_repeat_moves_nothing(
    h: Harness,
) -> None:
    sibling = between_accounts(h)
    result = h.venue.transfer("x1", h.exchange, h.account, h.exchange, sibling, Currencies.USDT, 100.0)
    assert result.status is TransferStatus.OK
    assert balance(h, Currencies.USDT) == pytest.approx(400.0)
    assert h.venue.fetch_balance(h.exchange, sibling).get(Currencies.USDT, 0.0) == pytest.approx(100.0)
    again = h.venue.transfer("x1", h.exchange, h.account, h.exchange, sibling, Currencies.USDT, 100.0)
    assert again.client_id == "x1" and again.status is TransferStatus.OK
    assert balance(h, Currencies.USDT) == pytest.approx(400.0)
    found = h.venue.fetch_transfer("x1")
    assert found is not None and found.status is TransferStatus.OK


def test_a_transfer_between_accounts_beyond_the_balance_fails_for_insufficient_funds(h: Harness) -> None:
    sibling = between_accounts(h)
    result = h.venue.transfer("x2", h.exchange, h.account, h.exchange, sibling, Currencies.USDT, 10_000.0)
    assert result.status is TransferStatus.FAILED
    assert "insufficient funds" in result.reason.lower()
    assert balance(h, Currencies.USDT) == pytest.approx(500.0)


def test_a_transfer_between_accounts_that_timed_out_after_sending_is_found_again_and_never_sent_twice(
    h: Harness,
) -> None:
    sibling = between_accounts(h)
    sending(h)
    h.hang_after("account_transfer")
    with pytest.raises(VenueTimeout):
        h.venue.transfer("x3", h.exchange, h.account, h.exchange, sibling, Currencies.USDT, 50.0)
    found = h.venue.fetch_transfer("x3")
    assert found is not None and found.status is TransferStatus.OK and found.amount == pytest.approx(50.0)
    h.venue.transfer("x3", h.exchange, h.account, h.exchange, sibling, Currencies.USDT, 50.0)
    assert balance(h, Currencies.USDT) == pytest.approx(450.0)
    assert h.venue.fetch_balance(h.exchange, sibling).get(Currencies.USDT, 0.0) == pytest.approx(50.0)


def test_a_rate_limited_transfer_between_accounts_raises_rejected_and_can_be_sent_later(h: Harness) -> None:
    sibling = between_accounts(h)
    sending(h)
    h.rate_limit("account_transfer")
    with pytest.raises(VenueRejected):
        h.venue.transfer("x4", h.exchange, h.account, h.exchange, sibling, Currencies.USDT, 20.0)
    assert balance(h, Currencies.USDT) == pytest.approx(500.0)
    assert h.venue.fetch_transfer("x4") is None
    assert h.venue.transfer("x4", h.exchange, h.account, h.exchange, sibling, Currencies.USDT, 20.0).status is (
        TransferStatus.OK
    )
