"""`LighterVenue`: Lighter (perpetuals) through the official lighter-sdk behind `TradingVenue`, for
the hedge pair's accounts (account index, API key index). The SDK is asyncio: one event loop runs
on the venue's own thread, where each account's `SignerClient` is created; calls wait on it.

Balances are the account's USDC collateral plus each market's position as its base currency.
Orders carry a ``client_order_index`` derived from the desk's client order id, so an order whose
answer was lost is found again by it. Order and fill status come over Lighter's websocket
(`LighterStream`), REST polling standing in while a stream is down. Transfers and withdrawals are
not offered (refused).

(About 490 lines, over the usual 400: the whole Lighter interface behind `TradingVenue`, with its
asyncio bridge; the SDK is loaded by `lighter_sdk`, the websocket is `lighter_stream`, the JSON
conversions are `lighter_parse`.)
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from loguru import logger

from actors.venues.base import (
    MarketRules,
    Subscription,
    VenueError,
    VenueRejected,
    VenueTimeout,
    VenueUnavailable,
    refused_order,
)
from actors.venues.ccxt_errors import Redactor
from actors.venues.fill_poller import FillPoller
from actors.venues.lighter_parse import fill_of, order_of
from actors.venues.lighter_sdk import sdk
from actors.venues.lighter_stream import LighterStream, ws_url_of
from messages.common import Currencies, Currency, Exchange, Exchanges
from messages.trading import Fill, Order, OrderStatus, OrderType, Side, Ticker, split_market
from messages.venue import Deposit, TransferResult, TransferStatus
from supervisor.clock import Clock

__all__ = ["LighterAccount", "LighterVenue", "client_order_index"]

T = TypeVar("T")
_MAX_CLIENT_INDEX = 2**48 - 1


@dataclass(frozen=True)
class LighterAccount:
    """A desk account on Lighter: its ``account_index``, and the API key (``api_key_index`` and
    its ``private_key``) that signs for it."""

    account_index: int
    api_key_index: int
    private_key: str

    def __repr__(self) -> str:  # never print the key
        return f"LighterAccount(account_index={self.account_index}, api_key_index={self.api_key_index})"


def client_order_index(client_order_id: str) -> int:
    """The Lighter ``client_order_index`` (a 48-bit integer) standing for a desk client order id."""
    return int.from_bytes(hashlib.sha256(client_order_id.encode()).digest()[:6], "big") % _MAX_CLIENT_INDEX or 1


class LighterVenue:
    """Lighter at ``url`` for the desk ``accounts`` (name -> `LighterAccount`), trading ``markets``
    (desk market such as ``"btc/usdc"`` -> Lighter market index). A market order is sent with a
    worst price ``slippage`` beyond the touch. Every call waits at most ``timeout`` seconds.
    Fills and orders are streamed from ``ws_url`` (None: the one beside ``url``); an account whose
    stream is down has its fills polled every ``poll_every`` seconds of ``clock``. Lighter's clock is
    taken to be within ``clock_skew`` seconds of the desk's. `close` stops it all."""

    def __init__(
        self,
        url: str,
        accounts: Mapping[str, LighterAccount],
        *,
        markets: Mapping[str, int],
        clock: Clock,
        exchange: Exchange = Exchanges.LIGHTER,
        timeout: float = 10.0,
        poll_every: float = 2.0,
        slippage: float = 0.01,
        ws_url: str | None = None,
        clock_skew: float = 1.0,
    ) -> None:
        if not accounts:
            raise ValueError("a Lighter venue needs at least one account")
        self.url = url
        self.exchange = exchange
        self.accounts = dict(accounts)
        self.markets = {market.lower(): index for market, index in markets.items()}
        self.clock = clock
        self.timeout = timeout
        self.slippage = slippage
        self.skew = clock_skew
        self.redact = Redactor(a.private_key for a in accounts.values())
        self.log = logger.bind(actor=f"venue.{exchange}")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"venue-{exchange}", daemon=True)
        self._thread.start()
        self._signers: dict[str, Any] = self._run(self._connect(), "connect")
        self._details: dict[int, Any] = {}
        self.stream = LighterStream(
            f"venue.{exchange}",
            ws_url or ws_url_of(url),
            self._loop,
            index=lambda account: self.accounts[account].account_index,
            auth=self._auth,
            on_trade=self._streamed_trade,
            catch_up=lambda account: self._poller.catch_up(account),
        )
        self._poller = FillPoller(
            f"venue.{exchange}",
            clock,
            poll_every,
            lambda account, since: self.fetch_fills(exchange, account, since),
            live=self.stream.live,
        )

    async def _connect(self) -> dict[str, Any]:
        """The signers, created inside the running loop as lighter-sdk requires; one REST client."""
        self._api = sdk().ApiClient(configuration=sdk().Configuration(host=self.url))
        self._orders = sdk().OrderApi(self._api)
        self._account_api = sdk().AccountApi(self._api)
        return {
            name: sdk().SignerClient(self.url, a.account_index, api_private_keys={a.api_key_index: a.private_key})
            for name, a in self.accounts.items()
        }

    def close(self) -> None:
        """Stop polling and streaming, close the SDK's sessions and the loop."""
        self._poller.close()
        self.stream.close()
        if not self._loop.is_running():
            return

        async def shut() -> None:
            for signer in self._signers.values():
                await signer.close()
            await self._api.close()

        try:
            self._run(shut(), "close")
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    # --- plumbing ----------------------------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T], what: str, *, write: bool = False) -> T:
        """Run ``coroutine`` on the venue's loop; the SDK's errors as the venue's."""
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, self.timeout), self._loop)
        try:
            return future.result(self.timeout + 5)
        except TimeoutError:
            future.cancel()
            raise VenueTimeout(
                f"lighter {what}: no answer within {self.timeout} s" + (" (it may have happened)" if write else "")
            ) from None
        except sdk().ApiException as error:
            raise self._error(error, what, write) from None
        except VenueError:
            raise
        except Exception as error:  # aiohttp's connection errors and the like
            text = f"lighter {what}: {type(error).__name__}: {self.redact(str(error))}"
            raise (VenueTimeout(f"{text} (it may have happened)") if write else VenueUnavailable(text)) from None

    def _error(self, error: Any, what: str, write: bool) -> VenueError:
        text = f"lighter {what}: HTTP {error.status}: {self.redact(str(error.body or error.reason))[:300]}"
        if error.status == 429:
            return VenueRejected(f"rate limited: {text}")
        if (error.status or 0) >= 500:
            return VenueTimeout(f"{text} (it may have happened)") if write else VenueUnavailable(text)
        return VenueRejected(text)

    def _account(self, account: str) -> LighterAccount:
        found = self.accounts.get(account)
        if found is None:
            raise VenueRejected(f"unknown account {self.exchange}.{account}")
        return found

    def _auth(self, account: str) -> str:
        signer = self._signers[account]
        token, error = signer.create_auth_token_with_expiry(api_key_index=self.accounts[account].api_key_index)
        if error is not None:
            raise VenueRejected(f"lighter could not sign an auth token for {account}: {error}")
        return str(token)

    def _detail(self, market_index: int) -> Any:
        if market_index not in self._details:
            answer = self._run(self._orders.order_book_details(market_id=market_index), "order_book_details")
            if not answer.order_book_details:
                raise VenueRejected(f"lighter has no market {market_index}")
            self._details[market_index] = answer.order_book_details[0]
        return self._details[market_index]

    def _market_of(self, index: int) -> str:
        return next(m for m, i in self.markets.items() if i == index)

    def market_rules(self, market: str) -> MarketRules:
        """Lighter's precision and minimums for ``market``; `VenueRejected` if it is not configured."""
        index = self.markets.get(market.lower())
        if index is None:
            raise VenueRejected(f"unknown market {market}")
        d = self._detail(index)
        return MarketRules(
            market=market.lower(),
            min_quantity=float(d.min_base_amount),
            quantity_step=10.0**-d.size_decimals,
            price_step=10.0**-d.price_decimals,
            min_cost=float(d.min_quote_amount),
        )

    def withdrawals_in_flight(self, account: str) -> list[str]:
        self._account(account)
        return []  # this adapter never withdraws

    def fill_feed(self, account: str) -> str:
        """How the account's fills arrive: its websocket is opened and subscribed (within
        ``timeout`` seconds, else `VenueUnavailable`: the fills would only be polled)."""
        self._account(account)
        subscription = self.subscribe_fills(self.exchange, account, lambda _fill: None)
        try:
            if not self.stream.settle(account, 0, self.timeout):
                raise VenueUnavailable(
                    f"lighter's websocket {self.stream.url} did not subscribe {account} within {self.timeout} s "
                    f"(its fills would be polled every {self._poller.every:g} s)"
                )
        finally:
            subscription.cancel()
        return f"websocket {self.stream.url}: account_all_trades and account_all_orders subscribed"

    # --- balances (no transfers on this venue) -------------------------------------------------------

    def fetch_balance(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        index = self._account(account).account_index
        answer = self._run(self._account_api.account(by="index", value=str(index)), "account")
        if not answer.accounts:
            raise VenueRejected(f"lighter has no account {index}")
        found = answer.accounts[0]
        balances = {Currencies.USDC: float(found.collateral)}
        for position in found.positions:
            market = next((m for m, i in self.markets.items() if i == position.market_id), None)
            if market is not None:
                balances[split_market(market)[0]] = float(position.position) * (1 if position.sign >= 0 else -1)
        return balances

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
        return TransferResult(
            client_id=client_id,
            status=TransferStatus.FAILED,
            from_exchange=from_exchange,
            from_account=from_account,
            to_exchange=to_exchange,
            to_account=to_account,
            currency=currency,
            amount=amount if math.isfinite(amount) else 0.0,
            reason="the Lighter adapter does not move money: transfer collateral by hand",
            created_at=self.clock.now(),
        )

    def fetch_transfer(self, client_id: str) -> TransferResult | None:
        return None

    def clock_skew(self, exchange: Exchange) -> float:
        """The margin given at construction (``clock_skew``): Lighter's clock is not the desk's."""
        return self.skew

    def fetch_deposits(self, exchange: Exchange, account: str) -> list[Deposit]:
        self._account(account)
        return []

    # --- trading ----------------------------------------------------------------------------------------

    def fetch_ticker(self, market: str) -> Ticker:
        index = self.markets.get(market.lower())
        if index is None:
            raise VenueRejected(f"unknown market {market}")
        book = self._run(self._orders.order_book_orders(market_id=index, limit=1), "order_book_orders")
        if not (book.bids and book.asks):
            raise VenueRejected(f"lighter has no two-sided book for {market}")
        bid, ask = float(book.bids[0].price), float(book.asks[0].price)
        last = float(self._detail(index).last_trade_price or (bid + ask) / 2)
        return Ticker(market=market.lower(), bid=bid, ask=ask, last=last, timestamp=self.clock.now())

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
        """Send a signed order with the client order index of ``client_order_id`` (an order already
        sent with it is returned instead). Refusals come back with status ``rejected``."""
        cid = client_order_id or uuid.uuid4().hex
        refused = refused_order(
            f"rejected-{cid}",
            self.exchange,
            account,
            market,
            side,
            order_type,
            quantity,
            price,
            client_order_id,
            self.clock.now(),
        )
        index = self.markets.get(market.lower())
        if account not in self.accounts:
            return _refuse(refused, f"unknown account {self.exchange}.{account}")
        if index is None:
            return _refuse(refused, f"unknown market {market}")
        existing = self.fetch_order_by_client_id(exchange, account, cid)
        if existing is not None:
            return existing
        detail = self._detail(index)
        if not (math.isfinite(quantity) and quantity > 0):
            return _refuse(refused, f"quantity must be a positive number, got {quantity!r}")
        base_amount = round(quantity * 10**detail.size_decimals)
        if base_amount / 10**detail.size_decimals < float(detail.min_base_amount):
            return _refuse(refused, f"quantity {quantity} is below the market minimum {detail.min_base_amount}")
        is_ask = Side(side) is Side.SELL
        if OrderType(order_type) is OrderType.MARKET:
            touch = self.fetch_ticker(market)
            worst = touch.bid * (1 - self.slippage) if is_ask else touch.ask * (1 + self.slippage)
        elif price is None or not (math.isfinite(price) and price > 0):
            return _refuse(refused, f"a limit order needs a positive price, got {price!r}")
        else:
            worst = price
        ticks = round(worst * 10**detail.price_decimals)
        signer = self._signers[account]
        if OrderType(order_type) is OrderType.MARKET:
            sent = signer.create_market_order(
                market_index=index,
                client_order_index=client_order_index(cid),
                base_amount=base_amount,
                avg_execution_price=ticks,
                is_ask=is_ask,
            )
        else:
            sent = signer.create_order(
                index,
                client_order_index(cid),
                base_amount,
                ticks,
                is_ask,
                signer.ORDER_TYPE_LIMIT,
                signer.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME,
            )
        _tx, answer, error = self._run(sent, "create_order", write=True)
        if error is not None or answer is None or answer.code != 200:
            reason = self.redact(str(error or getattr(answer, "message", "no answer")))
            if "insufficient" in reason.lower() or "not enough" in reason.lower():
                reason = f"insufficient funds: {reason}"
            return _refuse(refused, f"lighter refused the order: {reason}")
        streamed = self.stream.live(account) and self.stream.wait_order(account, client_order_index(cid), self.timeout)
        if streamed:  # what became of it, as the matching engine told the account's stream
            return self._order(account, streamed, client_order_id)
        placed = self.fetch_order_by_client_id(exchange, account, cid)
        return (
            placed
            if placed is not None
            else msgspec.structs.replace(
                refused,
                order_id=f"{account}|{index}|pending-{cid}",
                status=OrderStatus.OPEN,
                client_order_id=client_order_id,
            )
        )

    def _orders_of(self, account: str, active: bool) -> list[dict[str, Any]]:
        index = self.accounts[account].account_index
        found: list[Any] = []
        for market_index in self.markets.values():
            call: Awaitable[Any]
            if active:
                call = self._orders.account_active_orders(
                    authorization=self._auth(account), account_index=index, market_id=market_index
                )
            else:
                call = self._orders.account_inactive_orders(
                    authorization=self._auth(account), account_index=index, limit=100, market_id=market_index
                )
            found.extend(o.to_dict() for o in self._run(_awaited(call), "account_orders").orders)
        return found

    def _order(self, account: str, raw: Mapping[str, Any], client_order_id: str | None = None) -> Order:
        return order_of(self.exchange, account, self._market_of(raw["market_index"]), raw, client_order_id)

    def fetch_order(self, order_id: str) -> Order:
        account, _, rest = order_id.partition("|")
        market_index, _, order_index = rest.partition("|")
        if account not in self.accounts or not order_index.isdigit():
            raise VenueRejected(f"unknown order {order_id}")
        for active in (True, False):
            for raw in self._orders_of(account, active):
                if str(raw["order_index"]) == order_index and str(raw["market_index"]) == market_index:
                    return self._order(account, raw)
        raise VenueRejected(f"unknown order {order_id}")

    def cancel_order(self, order_id: str) -> Order:
        current = self.fetch_order(order_id)
        if current.status is not OrderStatus.OPEN:
            return current
        account, market_index, order_index = order_id.split("|")
        _tx, answer, error = self._run(
            self._signers[account].cancel_order(market_index=int(market_index), order_index=int(order_index)),
            "cancel_order",
            write=True,
        )
        if error is not None or answer is None or answer.code != 200:
            raise VenueRejected(f"lighter refused to cancel {order_id}: {self.redact(str(error))}")
        return self.fetch_order(order_id)

    def fetch_open_orders(self, exchange: Exchange, account: str) -> list[Order]:
        self._account(account)
        return sorted((self._order(account, raw) for raw in self._orders_of(account, True)), key=lambda o: o.created_at)

    def fetch_order_by_client_id(self, exchange: Exchange, account: str, client_order_id: str) -> Order | None:
        self._account(account)
        wanted = client_order_index(client_order_id)
        for active in (True, False):
            for raw in self._orders_of(account, active):
                if raw["client_order_index"] == wanted:
                    return self._order(account, raw, client_order_id)
        return None

    def fetch_fills(self, exchange: Exchange, account: str, since: float) -> list[Fill]:
        index = self._account(account).account_index
        fills: list[Fill] = []
        for market_index in self.markets.values():
            trades = self._orders.trades(
                sort_by="timestamp",
                limit=100,
                authorization=self._auth(account),
                account_index=index,
                market_id=market_index,
            )
            answer = self._run(_awaited(trades), "trades")
            fills.extend(f for t in answer.trades if (f := self._fill(account, t.to_dict())) and f.timestamp >= since)
        return sorted(fills, key=lambda f: (f.timestamp, f.trade_id))

    def _fill(self, account: str, raw: Mapping[str, Any]) -> Fill | None:
        market = next((m for m, i in self.markets.items() if i == raw["market_id"]), None)
        index = self.accounts[account].account_index
        return None if market is None else fill_of(self.exchange, account, index, market, raw)

    def _streamed_trade(self, account: str, raw: dict[str, Any]) -> None:
        fill = self._fill(account, raw)
        if fill is not None:
            self._poller.push(account, fill)

    def subscribe_fills(self, exchange: Exchange, account: str, callback: Callable[[Fill], None]) -> Subscription[str]:
        """Push every later fill of the account to ``callback``, each once: from the account's
        websocket stream, with what a dropped stream missed fetched by REST on its return, and
        polled every ``poll_every`` seconds while it is down (`LighterStream`, `FillPoller`)."""
        self._account(account)
        subscription = self._poller.subscribe(account, callback)
        self.stream.watch(account)
        return subscription

    def poll_fills(self) -> int:
        return self._poller.poll()


async def _awaited(call: Awaitable[T]) -> T:
    return await call


def _refuse(order: Order, reason: str) -> Order:
    return msgspec.structs.replace(order, reason=reason)
