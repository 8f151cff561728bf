"""`CcxtVenue`: one real exchange through ccxt (its request signing, parsing, rate limiting)
behind the `TradingVenue` interface, for every desk account mapped to an API key and wallet.

Order ids are ``account|SYMBOL|exchange id`` (`ccxt_parse`), so a cancel or a fetch knows its key
and market without any state. Withdrawals and transfers are recorded (`SentLog`) before they are
sent; one that timed out is found again in the exchange's history (withdrawals by amount, currency,
address and time; transfers between accounts in the history an exchange adapter gives,
`_transfer_history`). Fill pushes come from ccxt.pro's websocket when given (`FillStream`) and from
``fetch_fills`` polled on the injected clock (`FillPoller`).

(About 610 lines, over the usual 400: it is one exchange's whole interface, its transfers between
accounts with their hooks for the exchanges (`KrakenVenue`, `MexcVenue`) included, and what could
leave has left: conversions in `ccxt_parse`, errors in `ccxt_errors`, the sent log in `sent`,
pushes in `fill_poller` and `ccxt_stream`, the library in `ccxt_lib`.)
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgspec
from loguru import logger

from actors.venues.base import (
    MarketRules,
    Subscription,
    VenueOutcomeUnknown,
    VenueRejected,
    VenueTimeout,
    refused_order,
)
from actors.venues.ccxt_errors import Redactor, is_refusal, venue_error
from actors.venues.ccxt_lib import ccxt
from actors.venues.ccxt_parse import (
    desk_currency,
    desk_order_id,
    fill_of,
    order_of,
    split_order_id,
    transfer_result,
    transfer_status,
)
from actors.venues.ccxt_stream import FillStream
from actors.venues.fill_poller import FillPoller
from actors.venues.sent import MemoryState, SentLog, SentTransfer, StateStore, named_deposits
from messages.common import Currency, Exchange
from messages.trading import Fill, Order, OrderStatus, OrderType, Side, Ticker
from messages.venue import Deposit, TransferResult, TransferStatus
from supervisor.clock import Clock

__all__ = ["CcxtAccount", "CcxtVenue", "WithdrawRoute"]


@dataclass(frozen=True)
class CcxtAccount:
    """A desk account on the exchange: the ccxt client holding its API key, its wallet (ccxt's
    account type, such as ``"spot"`` or ``"funding"``) for transfers under one key, and the name
    the exchange gives it in transfers between its accounts (``sub_account``: Kraken's IIBAN, MEXC's
    sub-account name; None for MEXC's master account) for transfers between keys."""

    client: Any  # a ccxt exchange client
    wallet: str = "spot"
    sub_account: str | None = None


@dataclass(frozen=True)
class WithdrawRoute:
    """Where a withdrawal of ``currency`` to ``to_exchange``/``to_account`` goes: the destination's
    deposit ``address`` (and ``tag``/memo), the ``network``, the whitelisted address name ``key``
    where the exchange wants one (Kraken), and the withdrawal ``fee`` the exchange charges."""

    currency: Currency
    to_exchange: Exchange
    to_account: str
    address: str
    network: str | None = None
    tag: str | None = None
    key: str | None = None
    fee: float = 0.0


class CcxtVenue:
    """One exchange (``exchange``) through ccxt: balances, wallet transfers, withdrawals, deposits,
    tickers, orders and fills for the desk ``accounts`` (name -> `CcxtAccount`).

    ``markets`` are the desk's markets traded here (``"btc/usd"``). ``state`` keeps what was sent
    (the journal's ``state`` store in a deployment). A withdrawal that timed out is searched in the
    history for ``resolve_within`` seconds, then reported with `VenueOutcomeUnknown`. ``master``
    names the account whose key moves money between accounts under different keys. The exchange's
    clock is taken to be within ``clock_skew`` seconds of the desk's. Calls are serialised by one
    lock (ccxt's sync clients are not thread safe).
    """

    fills_need_symbol = False  # True where fetch_my_trades needs a symbol (MEXC)

    def __init__(
        self,
        exchange: Exchange,
        accounts: Mapping[str, CcxtAccount],
        *,
        clock: Clock,
        markets: Sequence[str] = (),
        withdrawals: Sequence[WithdrawRoute] = (),
        state: StateStore | None = None,
        resolve_within: float = 600.0,
        poll_every: float = 2.0,
        streams: Mapping[str, Any] | None = None,
        master: str | None = None,
        clock_skew: float = 1.0,
        peers: Sequence[Exchange] = (),
    ) -> None:
        if not accounts:
            raise ValueError(f"{exchange}: a venue needs at least one account")
        self.exchange = exchange
        self.accounts = dict(accounts)
        self.markets = [m.lower() for m in markets]
        self.withdrawals = list(withdrawals)
        self.master = master
        self.skew = clock_skew
        self.clock = clock
        self.resolve_within = resolve_within
        self.poll_every = poll_every
        self.state: StateStore = state if state is not None else MemoryState()
        self.sent = SentLog(self.state, exchange)
        self.peers = [SentLog(self.state, peer) for peer in peers if peer != exchange]
        self.redact = Redactor(s for a in accounts.values() for s in (a.client.apiKey, a.client.secret))
        self._lock = threading.RLock()
        self._poller = FillPoller(
            f"venue.{exchange}", clock, poll_every, lambda account, since: self.fetch_fills(exchange, account, since)
        )
        self._stream = (
            FillStream(
                f"venue.{exchange}",
                streams,
                to_fill=partial(fill_of, exchange),
                push=self._poller.push,
                catch_up=self._poller.poll,
            )
            if streams
            else None
        )
        self.log = logger.bind(actor=f"venue.{exchange}")

    def close(self) -> None:
        """Stop polling and streaming fills."""
        self._poller.close()
        if self._stream is not None:
            self._stream.close()

    # --- plumbing -------------------------------------------------------------------------------

    def _client(self, account: str) -> Any:
        found = self.accounts.get(account)
        if found is None:
            raise VenueRejected(f"unknown account {self.exchange}.{account}")
        return found.client

    def _call(self, what: str, function: Callable[..., Any], *args: Any, write: bool = False, **kwargs: Any) -> Any:
        """Run one ccxt call, its errors mapped to the venue's (refusals are re-raised as they are)."""
        with self._lock:
            try:
                return function(*args, **kwargs)
            except ccxt().BaseError as error:
                if write and is_refusal(error):
                    raise
                raise venue_error(error, f"{self.exchange} {what}", write=write, redact=self.redact) from None

    def _reason(self, error: Exception) -> str:
        prefix = "insufficient funds: " if isinstance(error, ccxt().InsufficientFunds) else ""
        return f"{prefix}{type(error).__name__}: {self.redact(str(error))}"

    def symbol(self, market: str) -> str:
        """The desk's ``"btc/usd"`` as ccxt's ``"BTC/USD"``."""
        return market.upper()

    def _market(self, client: Any, market: str) -> dict[str, Any] | None:
        markets = self._call("load_markets", client.load_markets)
        found: dict[str, Any] | None = markets.get(self.symbol(market))
        return found

    def market_rules(self, market: str) -> MarketRules:
        """The exchange's precision and minimums for ``market``; `VenueRejected` if it is not listed."""
        client = next(iter(self.accounts.values())).client
        spec = self._market(client, market)
        if spec is None:
            raise VenueRejected(f"{self.exchange} does not list {market}")
        limits, precision = spec.get("limits") or {}, spec.get("precision") or {}
        return MarketRules(
            market=market.lower(),
            min_quantity=(limits.get("amount") or {}).get("min"),
            quantity_step=precision.get("amount"),
            price_step=precision.get("price"),
            min_cost=(limits.get("cost") or {}).get("min"),
        )

    def fill_feed(self, account: str) -> str:
        """How the account's fills arrive (nothing is asked of the exchange)."""
        self._client(account)
        polled = f"fetch_fills polled every {self.poll_every:g} s"
        return f"websocket (ccxt.pro), and {polled}" if self._stream is not None else polled

    def withdrawals_in_flight(self, account: str) -> list[str]:
        """The account's withdrawals the exchange has not finished, one line each."""
        client = self._client(account)
        entries = self._call("fetch_withdrawals", client.fetch_withdrawals)
        return [
            f"{e.get('id')}: {e.get('amount')} {e.get('currency')} to {e.get('address')}"
            for e in entries
            if e.get("status") == "pending"
        ]

    # --- balances, transfers, deposits ------------------------------------------------------------

    def fetch_balance(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        client = self._client(account)
        wallet = self.accounts[account].wallet
        balance = self._call("fetch_balance", client.fetch_balance, {} if wallet == "spot" else {"type": wallet})
        totals: dict[str, Any] = balance.get("total") or {}
        return {c: float(v or 0.0) for code, v in totals.items() if (c := desk_currency(code)) is not None}

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
        """A wallet transfer under one API key, or a withdrawal to another exchange's address.
        A client id seen before is answered from the exchange, never sent again."""
        if self.sent.get(client_id) is not None:
            answer = self.fetch_transfer(client_id)
            assert answer is not None
            return answer
        sent = SentTransfer(
            client_id=client_id,
            kind="withdraw" if to_exchange != self.exchange else "transfer",
            from_exchange=from_exchange,
            from_account=from_account,
            to_exchange=to_exchange,
            to_account=to_account,
            currency=currency,
            amount=amount if math.isfinite(amount) else 0.0,
            sent_at=self.clock.now(),
        )
        refusal, sent = self._prepare(sent)
        if refusal:
            self.log.info("refused transfer {}: {}", client_id, refusal)
            return transfer_result(msgspec.structs.replace(sent, state="failed", reason=refusal))
        self.sent.save(sent)
        client = self._client(from_account)
        try:
            if sent.kind == "transfer" and self.accounts[to_account].client is client:
                entry = self._call(
                    "transfer",
                    client.transfer,
                    self._code(currency),
                    sent.amount,
                    self.accounts[from_account].wallet,
                    self.accounts[to_account].wallet,
                    write=True,
                )
            elif sent.kind == "transfer":
                entry = self._account_transfer(self.accounts[from_account], self.accounts[to_account], sent)
            else:
                entry = self._call("withdraw", client.withdraw, *self._withdraw_args(sent), write=True)
        except VenueRejected:
            self.sent.forget(client_id)  # a rate-limit answer: the exchange did nothing
            raise
        except VenueTimeout:
            self.log.warning("transfer {} has no certain answer; it will be looked up before anything else", client_id)
            raise
        except ccxt().BaseError as error:
            failed = msgspec.structs.replace(sent, state="failed", reason=self._reason(error))
            self.sent.save(failed)
            return transfer_result(failed)
        done = msgspec.structs.replace(sent, state="sent", exchange_id=str(entry.get("id") or f"{client_id}"))
        self.sent.save(done)
        return transfer_result(done, TransferStatus.OK if sent.kind == "transfer" else TransferStatus.PENDING)

    def _prepare(self, sent: SentTransfer) -> tuple[str, SentTransfer]:
        """Why the transfer cannot be sent ("" if it can), and the request rounded to precision."""
        for account in (sent.from_account, sent.to_account if sent.kind == "transfer" else None):
            if account is not None and account not in self.accounts:
                return f"unknown account {self.exchange}.{account}", sent
        if not sent.amount > 0:
            return f"amount must be a positive number, got {sent.amount!r}", sent
        client = self._client(sent.from_account)
        code = self._code(sent.currency)
        currencies = self._call("load_markets", client.load_markets) and (client.currencies or {})
        if code not in currencies:
            return f"{self.exchange} does not list {sent.currency}", sent
        amount = float(client.currency_to_precision(code, sent.amount))
        if sent.kind == "transfer":
            source, destination = self.accounts[sent.from_account], self.accounts[sent.to_account]
            if source.client is not destination.client:
                reason = self._account_transfer_refusal(sent.from_account, sent.to_account)
                return reason, msgspec.structs.replace(sent, amount=amount)
            if source.wallet == destination.wallet:
                return "source and destination are the same account", sent
            return "", msgspec.structs.replace(sent, amount=amount)
        route = self._route(sent)
        if route is None:
            return f"no withdrawal address configured for {sent.currency} to {sent.to_exchange}.{sent.to_account}", sent
        minimum = ((currencies[code].get("limits") or {}).get("withdraw") or {}).get("min")
        if minimum is not None and amount < float(minimum):
            return f"amount {amount} {sent.currency} is below the withdrawal minimum {minimum}", sent
        if route.fee >= amount:
            return f"fee {route.fee} {sent.currency} is not less than the amount {amount}", sent
        return "", msgspec.structs.replace(sent, amount=amount, fee=route.fee, address=route.address)

    def _route(self, sent: SentTransfer) -> WithdrawRoute | None:
        for route in self.withdrawals:
            if (route.currency, route.to_exchange, route.to_account) == (
                sent.currency,
                sent.to_exchange,
                sent.to_account,
            ):
                return route
        return None

    def _withdraw_args(self, sent: SentTransfer) -> tuple[Any, ...]:
        route = self._route(sent)
        assert route is not None
        params: dict[str, Any] = {}
        if route.network:
            params["network"] = route.network
        if route.key:
            params["key"] = route.key
        return self._code(sent.currency), sent.amount, route.address, route.tag, params

    def _code(self, currency: Currency) -> str:
        return str(currency).upper()

    def fetch_transfer(self, client_id: str) -> TransferResult | None:
        """The transfer as the exchange knows it now; None if it was never sent. One sent without
        a certain answer is matched in the exchange's history (`VenueTimeout` while it may still
        appear, `VenueOutcomeUnknown` after ``resolve_within`` seconds)."""
        sent = self.sent.get(client_id)
        if sent is None:
            return None
        if sent.state == "failed":
            return transfer_result(sent)
        if sent.kind == "transfer":
            if sent.exchange_id is None:
                history = self._transfer_history(sent)
                if history is None:
                    raise VenueOutcomeUnknown(
                        f"{self.exchange} wallet transfer {client_id} timed out and the exchange keeps no "
                        "history to match it: check the balances by hand"
                    )
                sent = self._match(sent, history)
            return transfer_result(sent, TransferStatus.OK)
        client = self._client(sent.from_account)
        history = self._call(
            "fetch_withdrawals", client.fetch_withdrawals, self._code(sent.currency), int((sent.sent_at - 3600) * 1000)
        )
        if sent.exchange_id is None:
            sent = self._match(sent, history)
        for entry in history:
            if str(entry.get("id")) == sent.exchange_id:
                status = transfer_status(entry.get("status"))
                stamp = entry.get("updated") or entry.get("timestamp")
                return transfer_result(sent, status, stamp / 1000 if status is TransferStatus.OK and stamp else None)
        return transfer_result(sent, TransferStatus.PENDING)

    def _match(self, sent: SentTransfer, history: list[dict[str, Any]]) -> SentTransfer:
        """The sent record with the exchange id of the one unclaimed withdrawal (or transfer) that fits it."""
        what = "transfer" if sent.kind == "transfer" else "withdrawal"
        for entry in sorted(history, key=lambda e: e.get("timestamp") or 0):
            exchange_id = str(entry.get("id"))
            stamp = (entry.get("timestamp") or 0) / 1000
            net = float(entry.get("amount") or 0.0)
            gross = net + float((entry.get("fee") or {}).get("cost") or 0.0)
            if (
                any(math.isclose(x, sent.amount, rel_tol=1e-9, abs_tol=1e-9) for x in (net, gross))
                and (sent.address is None or entry.get("address") in (None, sent.address))
                and sent.sent_at - 60 <= stamp <= sent.sent_at + self.resolve_within
                and self.sent.claimed_by(exchange_id) in (None, sent.client_id)
            ):
                matched = msgspec.structs.replace(sent, state="sent", exchange_id=exchange_id)
                self.sent.save(matched)
                self.log.info("transfer {} found in the {} history as {}", sent.client_id, what, exchange_id)
                return matched
        if self.clock.now() < sent.sent_at + self.resolve_within:
            raise VenueTimeout(
                f"transfer {sent.client_id} is not in {self.exchange}'s {what} history yet: still in doubt"
            )
        raise VenueOutcomeUnknown(
            f"transfer {sent.client_id} timed out and was not found in {self.exchange}'s {what} "
            f"history within {self.resolve_within} s: outcome unknown, never resend it"
        )

    # --- transfers between the exchange's accounts (under different keys): what an exchange adds ---------

    account_transfers = False  # True where the exchange moves money between its (sub-)accounts

    def _account_transfer_refusal(self, from_account: str, to_account: str) -> str:
        """Why money cannot move between two desk accounts under different API keys ("" if it can)."""
        between = f"no transfer between {from_account} and {to_account}: they use different API keys"
        if not self.account_transfers:
            return f"{between} and {self.exchange} moves money between its accounts under one key only"
        if self.master is None:
            return f"{between} and no master account is configured ([venues.{self.exchange}] master)"
        for account in (from_account, to_account):
            if not self._addressable(account):
                return f"{between} and {account} has no sub_account configured"
        return ""

    def _addressable(self, account: str) -> bool:
        """Whether a transfer between accounts can name ``account`` (its ``sub_account`` is set)."""
        return self.accounts[account].sub_account is not None

    def _account_transfer(self, source: CcxtAccount, destination: CcxtAccount, sent: SentTransfer) -> dict[str, Any]:
        """Send ``sent`` from ``source`` to ``destination`` with the master account's key; the
        exchange's answer as a ccxt transfer entry (its ``id``). Given by the exchanges that have it."""
        raise NotImplementedError(f"{self.exchange} has no transfers between its accounts")

    def _transfer_history(self, sent: SentTransfer) -> list[dict[str, Any]] | None:
        """The exchange's record of the transfers out of ``sent``'s source account, as ccxt-shaped
        entries (``id``, ``amount``, ``timestamp`` in ms) to match a timed-out one against; None
        where the exchange keeps none (the outcome is then unknown at once)."""
        return None

    def clock_skew(self, exchange: Exchange) -> float:
        """The margin given at construction (``clock_skew``): the exchange's clock is not the desk's."""
        return self.skew

    def fetch_deposits(self, exchange: Exchange, account: str) -> list[Deposit]:
        client = self._client(account)
        raw = self._call("fetch_deposits", client.fetch_deposits)
        deposits = []
        for entry in sorted(raw, key=lambda e: e.get("timestamp") or 0):
            currency = desk_currency(entry.get("currency"))
            if currency is None or entry.get("status") != "ok" or not entry.get("amount"):
                continue
            deposits.append(
                Deposit(
                    deposit_id=str(entry.get("id") or entry.get("txid")),  # MEXC lists deposits by txid only
                    exchange=self.exchange,
                    account=account,
                    currency=currency,
                    amount=float(entry["amount"]),
                    credited_at=(entry.get("timestamp") or 0) / 1000,
                )
            )
        return named_deposits(self.sent, self.peers, self.exchange, account, deposits)

    # --- trading --------------------------------------------------------------------------------------

    def fetch_ticker(self, market: str) -> Ticker:
        client = next(iter(self.accounts.values())).client
        raw = self._call("fetch_ticker", client.fetch_ticker, self.symbol(market))
        bid, ask = raw.get("bid"), raw.get("ask")
        last = raw.get("last") or raw.get("close") or ((bid + ask) / 2 if bid and ask else None)
        if not (bid and ask and last):
            raise VenueRejected(f"{self.exchange} has no two-sided quote for {market}")
        return Ticker(
            market=market.lower(),
            bid=float(bid),
            ask=float(ask),
            last=float(last),
            timestamp=(raw.get("timestamp") or self.clock.now() * 1000) / 1000,
        )

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
        """Place an order after checking the market's precision and minimums; a client order id
        seen before returns that order. Refusals come back with status ``rejected``."""
        refused = refused_order(
            f"rejected-{client_order_id or uuid.uuid4().hex}",
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
        if account not in self.accounts:
            return msgspec.structs.replace(refused, reason=f"unknown account {self.exchange}.{account}")
        client = self._client(account)
        spec = self._market(client, market)
        if spec is None:
            return msgspec.structs.replace(refused, reason=f"unknown market {market}")
        if client_order_id is not None:
            existing = self.fetch_order_by_client_id(exchange, account, client_order_id)
            if existing is not None:
                return existing
        reason, amount, limit = self._check_order(client, spec, OrderType(order_type), quantity, price)
        if reason:
            return msgspec.structs.replace(refused, reason=reason)
        params = {"clientOrderId": client_order_id} if client_order_id else {}
        try:
            placed = self._call(
                "create_order",
                client.create_order,
                spec["symbol"],
                str(order_type),
                str(side),
                amount,
                limit,
                params,
                write=True,
            )
        except ccxt().BaseError as error:
            return msgspec.structs.replace(refused, reason=self._reason(error))
        placed_id = desk_order_id(account, spec["symbol"], str(placed["id"]))
        try:
            return self.fetch_order(placed_id)
        except VenueRejected:  # not listed yet: what the placement answered
            return order_of(self.exchange, account, placed, market)

    def _check_order(
        self, client: Any, spec: dict[str, Any], order_type: OrderType, quantity: float, price: float | None
    ) -> tuple[str, float, float | None]:
        """Why the order cannot be sent ("" if it can), and its amount and price at the market's precision."""
        if not (math.isfinite(quantity) and quantity > 0):
            return f"quantity must be a positive number, got {quantity!r}", 0.0, None
        if order_type is OrderType.LIMIT and not (price is not None and math.isfinite(price) and price > 0):
            return f"a limit order needs a positive price, got {price!r}", 0.0, None
        try:
            amount = float(client.amount_to_precision(spec["symbol"], quantity))
            limit = float(client.price_to_precision(spec["symbol"], price)) if order_type is OrderType.LIMIT else None
        except ccxt().BaseError as error:
            return f"{type(error).__name__}: {error}", 0.0, None
        limits = spec.get("limits") or {}
        minimum = (limits.get("amount") or {}).get("min")
        if minimum is not None and amount < float(minimum):
            return f"quantity {amount} is below the market minimum {minimum}", 0.0, None
        cost_min = (limits.get("cost") or {}).get("min")
        if cost_min is not None and limit is not None and amount * limit < float(cost_min):
            return f"order value {amount * limit} is below the market minimum {cost_min}", 0.0, None
        return "", amount, limit

    def cancel_order(self, order_id: str) -> Order:
        account, symbol, exchange_id = split_order_id(order_id)
        current = self.fetch_order(order_id)
        if current.status is not OrderStatus.OPEN:
            return current
        try:
            self._call("cancel_order", self._client(account).cancel_order, exchange_id, symbol, write=True)
        except ccxt().BaseError as error:
            raise VenueRejected(f"{self.exchange} refused to cancel {order_id}: {self._reason(error)}") from None
        return self.fetch_order(order_id)

    def fetch_order(self, order_id: str) -> Order:
        account, symbol, exchange_id = split_order_id(order_id)
        client = self._client(account)
        try:
            raw = self._call("fetch_order", client.fetch_order, exchange_id, symbol)
        except VenueRejected as error:
            raise VenueRejected(f"unknown order {order_id} ({error})") from None
        return order_of(self.exchange, account, raw)

    def fetch_open_orders(self, exchange: Exchange, account: str) -> list[Order]:
        client = self._client(account)
        symbols = [self.symbol(m) for m in self.markets] if self.fills_need_symbol else [None]
        orders = [o for s in symbols for o in self._call("fetch_open_orders", client.fetch_open_orders, s)]
        return sorted((order_of(self.exchange, account, o) for o in orders), key=lambda o: o.created_at)

    def fetch_order_by_client_id(self, exchange: Exchange, account: str, client_order_id: str) -> Order | None:
        client = self._client(account)
        params = {"clientOrderId": client_order_id}
        symbols = [self.symbol(m) for m in self.markets] if self.fills_need_symbol else [None]
        for symbol in symbols:
            for method in ("fetch_open_orders", "fetch_closed_orders"):
                found = self._call(method, getattr(client, method), symbol, None, None, params)
                for raw in found:
                    if raw.get("clientOrderId") == client_order_id:
                        return order_of(self.exchange, account, raw)
        return None

    def fetch_fills(self, exchange: Exchange, account: str, since: float) -> list[Fill]:
        client = self._client(account)
        symbols = [self.symbol(m) for m in self.markets] if self.fills_need_symbol else [None]
        trades = [
            t for s in symbols for t in self._call("fetch_my_trades", client.fetch_my_trades, s, int(since * 1000))
        ]
        fills = [fill_of(self.exchange, account, t) for t in trades if (t.get("timestamp") or 0) / 1000 >= since]
        return sorted(fills, key=lambda f: (f.timestamp, f.trade_id))

    def subscribe_fills(self, exchange: Exchange, account: str, callback: Callable[[Fill], None]) -> Subscription[str]:
        """Push every later fill of the account to ``callback``: from its websocket stream when the
        venue has ``streams`` (`FillStream`), and from `fetch_fills` polled every ``poll_every``
        seconds of the clock (`FillPoller`), which also catches up after a dropped stream."""
        self._client(account)
        subscription = self._poller.subscribe(account, callback)
        if self._stream is not None:
            self._stream.watch(account)
        return subscription

    def poll_fills(self) -> int:
        """Ask for the subscribed accounts' new fills now and push them; returns how many."""
        return self._poller.poll()
