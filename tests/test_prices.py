"""The price book: USD values from the venue's tickers, through stablecoins and crosses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from actors.prices import PriceBook, usd_values
from actors.venues import MarketSpec, SimulatedVenue
from messages.common import Currencies
from messages.reports import GetPrices, Prices, UpdatePrices
from supervisor import ChildSpec, ManualClock, Runtime, Supervisor


def test_usd_values_follow_markets_through_stablecoins_and_crosses() -> None:
    values = usd_values({"eth/btc": 0.05, "btc/usdc": 60_000.0, "usdc/usd": 0.999})
    assert values[Currencies.USDC] == 0.999
    assert values[Currencies.BTC] == pytest.approx(60_000.0 * 0.999)
    assert values[Currencies.ETH] == pytest.approx(0.05 * 60_000.0 * 0.999)
    assert values[Currencies.USD] == 1.0 and Currencies.QRL not in values


def test_the_price_book_keeps_the_venue_mid_and_refreshes_on_update(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    venue = SimulatedVenue(clock, seed=3, markets={"btc/usd": MarketSpec(price=50_000.0, volatility=0.01)})
    rt = make_runtime(Supervisor([ChildSpec("prices", lambda: PriceBook(venue, ["btc/usd"]))]))
    first = rt.ask("prices", GetPrices())
    assert isinstance(first, Prices)
    ticker = venue.fetch_ticker("btc/usd")
    assert first.usd[Currencies.BTC] == pytest.approx((ticker.bid + ticker.ask) / 2)
    clock.advance(30.0)
    updated = rt.ask("prices", UpdatePrices())
    assert updated.usd[Currencies.BTC] != first.usd[Currencies.BTC] and updated.updated_at == clock.now()
    venue.close()
