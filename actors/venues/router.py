"""`VenueRouter`: one `TradingVenue` made of one venue per exchange (real adapters, and the
simulated venue for the exchanges left simulated), so the actors keep talking to one venue.

Order ids are prefixed with their exchange (``kraken:main|BTC/USD|O12``), in orders and in fills
alike, so a cancel or a fetch reaches the venue that made the order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgspec

from actors.venues.base import FillSubscription, TradingVenue, VenueError, VenueRejected
from messages.common import Currency, Exchange, exchange_name
from messages.trading import Fill, Order, OrderType, Side, Ticker
from messages.venue import Deposit, TransferResult, TransferStatus

__all__ = ["VenueRouter"]


class VenueRouter:
    """Routes each call by its exchange to ``venues[exchange]`` (or ``default``). A transfer goes
    to the venue of its source; a ticker to the venue named for its market in ``tickers`` (else
    the default venue, else the first). `close` closes every venue."""

    def __init__(
        self,
        venues: Mapping[Exchange, TradingVenue],
        default: TradingVenue | None = None,
        tickers: Mapping[str, Exchange] | None = None,
    ) -> None:
        if not venues and default is None:
            raise ValueError("a router needs at least one venue")
        self.venues = dict(venues)
        self.default = default
        self.tickers = {market.lower(): exchange for market, exchange in (tickers or {}).items()}

    def close(self) -> None:
        for venue in self._distinct():
            close = getattr(venue, "close", None)
            if close is not None:
                close()

    def _distinct(self) -> list[TradingVenue]:
        seen: list[TradingVenue] = []
        for venue in [*self.venues.values(), *([self.default] if self.default is not None else [])]:
            if all(venue is not other for other in seen):
                seen.append(venue)
        return seen

    def venue(self, exchange: Exchange) -> TradingVenue:
        """The venue serving ``exchange``; `VenueRejected` naming it if none does."""
        found = self.venues.get(exchange, self.default)
        if found is None:
            raise VenueRejected(f"no venue serves {exchange}")
        return found

    # --- ids -----------------------------------------------------------------------------------

    @staticmethod
    def _wrap(exchange: Exchange, order: Order) -> Order:
        return msgspec.structs.replace(order, order_id=f"{exchange}:{order.order_id}")

    @staticmethod
    def _wrap_fill(fill: Fill) -> Fill:
        return msgspec.structs.replace(fill, order_id=f"{fill.exchange}:{fill.order_id}")

    def _unwrap(self, order_id: str) -> tuple[TradingVenue, str]:
        exchange, sep, inner = order_id.partition(":")
        if not sep:
            raise VenueRejected(f"unknown order {order_id}")
        try:
            return self.venue(exchange_name(exchange)), inner
        except ValueError:
            raise VenueRejected(f"unknown order {order_id}") from None

    # --- Venue ------------------------------------------------------------------------------------

    def fetch_balance(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        return self.venue(exchange).fetch_balance(exchange, account)

    def transfer(
        self,
        client_id: str,
        from_exchange: Exchange,
        from_account: str,
        to_exchange: Exchange,
        to_account: str,
        currency: Currency,
        amount: float,
    ) -> TransferResult:
        return self.venue(from_exchange).transfer(
            client_id, from_exchange, from_account, to_exchange, to_account, currency, amount
        )

    def fetch_transfer(self, client_id: str) -> TransferResult | None:
        """Asked of every venue: the one that sent it answers; an error from one that may know wins
        over "never seen" from the others (a transfer in doubt is never reported unknown to the caller).
        A withdrawal to another venue is done when its deposit is there (`_arrival`)."""
        failure: VenueError | None = None
        for venue in self._distinct():
            try:
                found = venue.fetch_transfer(client_id)
            except VenueError as error:
                failure = failure or error
                continue
            if found is not None:
                return self._arrival(venue, found)
        if failure is not None:
            raise failure
        return None

    def clock_skew(self, exchange: Exchange) -> float:
        return self.venue(exchange).clock_skew(exchange)

    def _arrival(self, source: TradingVenue, result: TransferResult) -> TransferResult:
        """A withdrawal the source exchange calls done has left it, not arrived: until the other
        venue lists its deposit (named by its client id) it is still pending; once there, it
        completed when the deposit was credited (the time the destination's balances know)."""
        destination = self.venues.get(result.to_exchange, self.default)
        if result.status is not TransferStatus.OK or destination is None or destination is source:
            return result
        deposits = destination.fetch_deposits(result.to_exchange, result.to_account)
        arrived = next((d for d in deposits if d.client_id == result.client_id), None)
        if arrived is None:
            return msgspec.structs.replace(result, status=TransferStatus.PENDING, completed_at=None)
        return msgspec.structs.replace(result, completed_at=arrived.credited_at)

    def fetch_deposits(self, exchange: Exchange, account: str) -> list[Deposit]:
        return self.venue(exchange).fetch_deposits(exchange, account)

    # --- TradingVenue -----------------------------------------------------------------------------

    def fetch_ticker(self, market: str) -> Ticker:
        exchange = self.tickers.get(market.lower())
        venue = self.venue(exchange) if exchange is not None else (self.default or self._distinct()[0])
        return venue.fetch_ticker(market)

    def create_order(
        self,
        exchange: Exchange,
        account: str,
        market: str,
        side: Side,
        order_type: OrderType,
        quantity: float,
        price: float | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        order = self.venue(exchange).create_order(
            exchange, account, market, side, order_type, quantity, price, client_order_id
        )
        return self._wrap(exchange, order)

    def cancel_order(self, order_id: str) -> Order:
        venue, inner = self._unwrap(order_id)
        order = venue.cancel_order(inner)
        return self._wrap(order.exchange, order)

    def fetch_order(self, order_id: str) -> Order:
        venue, inner = self._unwrap(order_id)
        order = venue.fetch_order(inner)
        return self._wrap(order.exchange, order)

    def fetch_open_orders(self, exchange: Exchange, account: str) -> list[Order]:
        return [self._wrap(exchange, o) for o in self.venue(exchange).fetch_open_orders(exchange, account)]

    def fetch_order_by_client_id(self, exchange: Exchange, account: str, client_order_id: str) -> Order | None:
        order = self.venue(exchange).fetch_order_by_client_id(exchange, account, client_order_id)
        return None if order is None else self._wrap(exchange, order)

    def fetch_fills(self, exchange: Exchange, account: str, since: float) -> list[Fill]:
        return [self._wrap_fill(f) for f in self.venue(exchange).fetch_fills(exchange, account, since)]

    def subscribe_fills(self, exchange: Exchange, account: str, callback: Callable[[Fill], None]) -> FillSubscription:
        return self.venue(exchange).subscribe_fills(exchange, account, lambda fill: callback(self._wrap_fill(fill)))
