"""Each venue under the contract suite, set up the same way: a funded trading account, a
withdrawal destination on another exchange, a market, and the faults each can make."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from actors.venues.base import TradingVenue
from actors.venues.ccxt_venue import CcxtAccount, WithdrawRoute
from actors.venues.kraken import KrakenVenue, kraken_client
from actors.venues.lighter import LighterAccount, LighterVenue
from actors.venues.lighter_sdk import sdk
from actors.venues.mexc import MexcVenue, mexc_client
from actors.venues.paper import PaperVenue
from actors.venues.router import VenueRouter
from actors.venues.simulated import MarketSpec, Route, SimulatedVenue
from messages.common import Currencies, Currency, Exchange, Exchanges
from supervisor.clock import ManualClock
from tests.fakes.kraken import FakeKraken
from tests.fakes.lighter import FakeLighter
from tests.fakes.lighter_ws import FakeLighterStream
from tests.fakes.mexc import FakeMexc

MARKET = "btc/usd"
WITHDRAW_FEE = 1.0


@dataclass
class Harness:
    """A venue with ``account`` on ``exchange`` holding 100000 ``quote``, 1 btc and 500 usdt, a
    withdrawal route for usdt to ``destination``, and ``sibling``, an empty second account on the
    exchange to move money to (None where the adapter moves none). Faults: `rate_limit` (the next
    call of ``method`` is refused), `outage` (every call fails as unavailable), `hang_after` (the
    next ``method`` is done and never answered); ``method`` is a venue method, or
    ``account_transfer`` for a transfer between the exchange's accounts. `pump` lets pushed fills arrive."""

    venue: TradingVenue
    exchange: Exchange
    account: str
    destination: tuple[Exchange, str]
    clock: ManualClock
    rate_limit: Callable[[str], None]
    outage: Callable[[], None]
    hang_after: Callable[[str], None]
    pump: Callable[[], None]
    real: bool = False  # an adapter against a fake exchange
    market: str = MARKET
    quote: Currency = Currencies.USD
    moves_money: bool = True  # offers withdrawals to another exchange
    sibling: str | None = "trade"
    sends: bool = True  # orders and transfers reach the exchange (False when paper trading)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()


def simulated(clock: ManualClock) -> Harness:
    venue = SimulatedVenue(
        clock,
        seed=7,
        balances={
            (Exchanges.KRAKEN, "main"): {Currencies.USD: 100000.0, Currencies.BTC: 1.0, Currencies.USDT: 500.0},
            (Exchanges.KRAKEN, "trade"): {},
            (Exchanges.MEXC, "main"): {},
        },
        routes={(Exchanges.KRAKEN, Exchanges.MEXC): Route(delay=30.0, fee=WITHDRAW_FEE)},
        markets={MARKET: MarketSpec(price=60000.0, volatility=0.0)},
    )
    return Harness(
        venue,
        Exchanges.KRAKEN,
        "main",
        (Exchanges.MEXC, "main"),
        clock,
        rate_limit=lambda method: venue.faults.reject_next(1, _SIMULATED.get(method, method)),
        outage=lambda: venue.faults.outage(3600),
        hang_after=lambda method: venue.faults.timeout_after_move_next(1, _SIMULATED.get(method, method)),
        pump=lambda: clock.advance(0.0),
        closers=[venue.close],
    )


_SIMULATED = {"account_transfer": "transfer"}
_KRAKEN_PATHS = {
    "account_transfer": "AccountTransfer",
    "create_order": "AddOrder",
    "transfer": "Withdraw",
    "fetch_balance": "BalanceEx",
    "fetch_order": "QueryOrders",
    "fetch_ticker": "Ticker",
}


def kraken(clock: ManualClock) -> Harness:
    fake = FakeKraken(clock.now).start()
    secret = fake.add_key("kraken-key-main", {"ZUSD": 100000.0, "XXBT": 1.0, "USDT": 500.0})
    trade_secret = fake.add_key("kraken-key-trade")
    fake.master = "kraken-key-main"
    fake.iibans.update({"AA00 0000 0000 0001": "kraken-key-main", "AA00 0000 0000 0002": "kraken-key-trade"})
    fake.withdraw_keys["mexc-main-usdt"] = "TMexcMainUsdtAddress"
    fake.book.withdraw_fees["USDT"] = WITHDRAW_FEE
    client = kraken_client("kraken-key-main", secret, url=fake.url, timeout=3.0)
    trade = kraken_client("kraken-key-trade", trade_secret, url=fake.url, timeout=3.0)
    client.enableRateLimit = trade.enableRateLimit = False  # the fake does not mind; the suite stays quick
    venue = KrakenVenue(
        Exchanges.KRAKEN,
        {
            "main": CcxtAccount(client, sub_account="AA00 0000 0000 0001"),
            "trade": CcxtAccount(trade, sub_account="AA00 0000 0000 0002"),
        },
        master="main",
        clock=clock,
        markets=[MARKET],
        poll_every=1.0,
        withdrawals=[
            WithdrawRoute(
                Currencies.USDT,
                Exchanges.MEXC,
                "main",
                "TMexcMainUsdtAddress",
                network="TRC20",
                key="mexc-main-usdt",
                fee=WITHDRAW_FEE,
            )
        ],
        resolve_within=120.0,
    )
    return Harness(
        venue,
        Exchanges.KRAKEN,
        "main",
        (Exchanges.MEXC, "main"),
        clock,
        rate_limit=lambda method: fake.rate_limit_next(1, _KRAKEN_PATHS[method]),
        outage=lambda: fake.fail_next(10_000, 503),
        hang_after=lambda method: fake.hang_after_next(1, _KRAKEN_PATHS[method]),
        pump=lambda: clock.advance(1.5),
        real=True,
        closers=[venue.close, fake.stop],
    )


_MEXC_PATHS = {
    "account_transfer": "/capital/sub-account/universalTransfer",
    "create_order": "/api/v3/order",
    "transfer": "/capital/withdraw",
    "fetch_balance": "/account",
}


def mexc(clock: ManualClock) -> Harness:
    fake = FakeMexc(clock.now).start()
    secret = fake.add_key("mexc-key-main", {"USD": 100000.0, "BTC": 1.0, "USDT": 500.0})
    trade_secret = fake.add_key("mexc-key-trade")
    fake.master = "mexc-key-main"
    fake.sub_accounts["desk-trade"] = "mexc-key-trade"
    fake.book.withdraw_fees["USDT"] = WITHDRAW_FEE
    client = mexc_client("mexc-key-main", secret, url=fake.url, timeout=3.0)
    trade = mexc_client("mexc-key-trade", trade_secret, url=fake.url, timeout=3.0)
    client.enableRateLimit = trade.enableRateLimit = False
    venue = MexcVenue(
        Exchanges.MEXC,
        {"main": CcxtAccount(client), "trade": CcxtAccount(trade, sub_account="desk-trade")},
        master="main",
        clock=clock,
        markets=[MARKET],
        poll_every=1.0,
        withdrawals=[
            WithdrawRoute(
                Currencies.USDT, Exchanges.KRAKEN, "main", "TKrakenMainUsdtAddress", network="TRC20", fee=WITHDRAW_FEE
            )
        ],
        resolve_within=120.0,
    )
    return Harness(
        venue,
        Exchanges.MEXC,
        "main",
        (Exchanges.KRAKEN, "main"),
        clock,
        rate_limit=lambda method: fake.rate_limit_next(1, _MEXC_PATHS[method]),
        outage=lambda: fake.fail_next(10_000, 503),
        hang_after=lambda method: fake.hang_after_next(1, _MEXC_PATHS[method]),
        pump=lambda: clock.advance(1.5),
        real=True,
        closers=[venue.close, fake.stop],
    )


_LIGHTER_PATHS = {"create_order": "/sendTx", "fetch_balance": "/account"}


def lighter_venue(clock: ManualClock) -> Harness:
    fake = FakeLighter(clock.now).start()
    ws = FakeLighterStream(fake).start()
    fake.add_account(281, 3, {"USDC": 100000.0, "BTC": 1.0})
    private_key, _public_key, error = sdk().create_api_key()
    assert error is None
    venue = LighterVenue(
        fake.url,
        {"main": LighterAccount(281, 3, private_key)},
        markets={"btc/usdc": 1},
        clock=clock,
        timeout=3.0,
        poll_every=1.0,
        ws_url=ws.url,
    )
    return Harness(
        venue,
        Exchanges.LIGHTER,
        "main",
        (Exchanges.KRAKEN, "main"),
        clock,
        rate_limit=lambda method: fake.rate_limit_next(1, _LIGHTER_PATHS[method]),
        outage=lambda: fake.fail_next(10_000, 503),
        hang_after=lambda method: fake.hang_after_next(1, _LIGHTER_PATHS[method]),
        pump=lambda: _settled(venue.stream.settle("main", ws.frames)),  # fills come by the websocket
        real=True,
        market="btc/usdc",
        quote=Currencies.USDC,
        moves_money=False,
        sibling=None,
        closers=[venue.close, ws.stop, fake.stop],
    )


def _settled(arrived: bool) -> None:
    assert arrived, "the stream did not deliver in time"


def paper_on_kraken(clock: ManualClock) -> Harness:
    """Paper trading (dry_run) on the fake Kraken's live prices and balances."""
    live = kraken(clock)
    venue = PaperVenue(live.venue, clock, fee_bps=10.0, delay=30.0, fee=WITHDRAW_FEE)
    return Harness(
        venue,
        Exchanges.KRAKEN,
        "main",
        live.destination,
        clock,
        rate_limit=live.rate_limit,
        outage=live.outage,
        hang_after=live.hang_after,
        pump=lambda: None,
        real=True,
        sends=False,
        closers=[venue.close, *live.closers],
    )


def routed_to_kraken(clock: ManualClock) -> Harness:
    """The Kraken adapter behind a `VenueRouter`, the simulated venue serving the other exchanges."""
    live = kraken(clock)
    other = SimulatedVenue(clock, balances={(Exchanges.MEXC, "main"): {}}, markets={MARKET: MarketSpec(price=60000.0)})
    router = VenueRouter({Exchanges.KRAKEN: live.venue}, default=other, tickers={MARKET: Exchanges.KRAKEN})
    return Harness(
        router,
        Exchanges.KRAKEN,
        "main",
        live.destination,
        clock,
        rate_limit=live.rate_limit,
        outage=live.outage,
        hang_after=live.hang_after,
        pump=live.pump,
        real=True,
        closers=[router.close, *live.closers[1:]],
    )


HARNESSES: dict[str, Callable[[ManualClock], Harness]] = {
    "simulated": simulated,
    "kraken": kraken,
    "mexc": mexc,
    "lighter": lighter_venue,
    "paper": paper_on_kraken,
    "router": routed_to_kraken,
}


def harness(name: str, clock: ManualClock) -> Iterator[Harness]:
    built = HARNESSES[name](clock)
    try:
        yield built
    finally:
        built.close()
