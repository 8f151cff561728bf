"""The price book: on `UpdatePrices` it fetches the venue's tickers and keeps each currency's USD value.

Stablecoins are worth 1 USD unless a market prices them (``"usdc/usd"``); a currency priced
only against a stablecoin (``"btc/usdc"``) is valued through it. Status and the daily report
value balances and positions with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from actors.base import Actor
from actors.venues.base import TradingVenue, VenueError
from messages.common import Currencies, Currency
from messages.reports import GetPrices, Prices, UpdatePrices
from messages.trading import split_market

__all__ = ["PriceBook", "usd_values"]

STABLE = {Currencies.USD: 1.0, Currencies.USDC: 1.0, Currencies.USDT: 1.0}


def usd_values(mids: Mapping[str, float]) -> dict[Currency, float]:
    """Each currency's USD value from market mid prices (``{"btc/usd": 60000.0}``)."""
    priced = {split_market(market)[0] for market in mids}
    values = {c: v for c, v in STABLE.items() if c not in priced or c == Currencies.USD}  # USD is the unit
    pending = dict(mids)
    for _ in range(len(pending) + 1):  # resolve chains such as eth/btc after btc/usdc after usdc/usd
        for market, mid in list(pending.items()):
            base, quote = split_market(market)
            if quote in values:
                values[base] = mid * values[quote]
                del pending[market]
    for currency, value in STABLE.items():
        values.setdefault(currency, value)  # priced only by a market we could not resolve
    return values


class PriceBook(Actor):
    """Keeps the last USD value of every currency the configured markets price. Conventional name: "prices"."""

    def __init__(self, venue: TradingVenue, markets: Sequence[str]) -> None:
        super().__init__()
        self.venue = venue
        self.markets = list(markets)
        self.mids: dict[str, float] = {}
        self.updated_at: float | None = None

    def on_start(self) -> None:
        self.on_update_prices(UpdatePrices())

    def on_update_prices(self, message: UpdatePrices) -> Prices:
        for market in self.markets:
            try:
                ticker = self.venue.fetch_ticker(market)
            except VenueError as error:
                self.log.warning("no price for {} now: {}", market, error)
                continue
            self.mids[market] = (ticker.bid + ticker.ask) / 2
        self.updated_at = self.clock.now()
        return self.prices()

    def on_get_prices(self, message: GetPrices) -> Prices:
        return self.reply(self.prices())

    def prices(self) -> Prices:
        return Prices(usd=usd_values(self.mids), updated_at=self.updated_at)
