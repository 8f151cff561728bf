"""The whole-desk simulation against real adapters: Kraken and MEXC through ccxt (their real
request signing and parsing, over HTTP) against the local fakes, the seed deciding the fakes'
faults. Plugged into `desk.simulation` by import path: ``bin/run simulate --world
tests.fakes.world:FakeExchanges --seed 7``.

Where the money goes: every desk account (kraken trade/main/hedge, mexc main/trade/hedge) is its
own API key on its exchange's fake, so money moves only by withdrawal from one exchange to a
deposit address of the other. The world is the chain between them: a withdrawal the fake
accepted is pending until its delay (drawn per withdrawal) has passed on the clock, then marked
done at its source and credited, net of the fee, to the destination as a deposit. The fakes'
books (balances, trades, withdrawals) plus what is on its way are the ground truth.
"""

from __future__ import annotations

import random
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from actors.stores.journal import TransferIntent
from actors.venues.lighter_sdk import sdk
from actors.venues.simulated import Movement, MovementKind
from desk.simulation.invariants import check_withdrawals
from desk.simulation.world import HEDGE_A, HEDGE_B, FaultClass
from desk.system import System, build_venue
from messages.common import AccountRef, Currency, Exchange, Exchanges, currency_code
from messages.trading import Fill
from supervisor.clock import ManualClock, Repeating, call_every
from tests.fakes.book import FakeBook, FakeWithdrawal
from tests.fakes.kraken import FakeKraken
from tests.fakes.lighter import FakeLighter
from tests.fakes.mexc import FakeMexc
from tests.fakes.world_venue import FakeFaults, WorldVenue

__all__ = ["FakeExchanges", "FakeExchangesLighterHedge"]

KRAKEN_MONEY = (AccountRef(Exchanges.KRAKEN, "trade"), AccountRef(Exchanges.KRAKEN, "main"))
MEXC_MONEY = (AccountRef(Exchanges.MEXC, "main"), AccountRef(Exchanges.MEXC, "trade"))
WITHDRAW_FEE = 1.0
CLIENT_TIMEOUT = 1.0  # seconds ccxt waits for an answer: what a hung request costs in wall-clock time
DELAYS = (15.0, 40.0, 90.0)  # seconds a withdrawal travels, drawn per withdrawal
ASSETS = {
    Exchanges.KRAKEN: {"usdc": "USDC", "usd": "ZUSD", "btc": "XXBT"},
    Exchanges.MEXC: {"usdc": "USDC", "usd": "USD", "btc": "BTC"},
    Exchanges.LIGHTER: {"usdc": "USDC", "btc": "BTC"},
}
SYMBOLS = {Exchanges.KRAKEN: "XXBTZUSD", Exchanges.MEXC: "BTCUSD", Exchanges.LIGHTER: "1"}
LIGHTER_HEDGE = (AccountRef(Exchanges.LIGHTER, "hedge_a"), AccountRef(Exchanges.LIGHTER, "hedge_b"))
LIGHTER_INDEXES = {"hedge_a": 281, "hedge_b": 282}  # account index; API key index 3


def _address(account: AccountRef) -> str:
    return f"{account.exchange}-{account.account}-usdc-address"


@dataclass
class _Trip:
    """A withdrawal on its way: from the fake that accepted it to the account it is addressed to."""

    source: AccountRef
    entry: FakeWithdrawal
    destination: AccountRef
    due: float


class FakeExchanges:
    """A `desk.simulation.venues.VenueWorld`: the desk's venue is the real `build_venue` of a
    deployment whose ``[venues.kraken]`` and ``[venues.mexc]`` point at local fakes."""

    path = "tests.fakes.world:FakeExchanges"
    unsupported = frozenset(
        {FaultClass.LATENCY, FaultClass.SNAPSHOT_RACES}  # no slow answers; no events inside a balance fetch
    )
    settles_every_transfer = False  # a withdrawal lost before the exchange got it stays unknown (never resent)
    # ccxt reads the exchanges' times in whole milliseconds: the clock steps in 1/8 s (exact in binary
    # and in ms), else a fill just after a balance fetch reads as just before it (truncated).
    instant = 0.125
    hedge = (HEDGE_A, HEDGE_B)  # on kraken.hedge and mexc.hedge through ccxt

    def __init__(self) -> None:
        self.fakes: dict[Exchange, FakeKraken | FakeMexc | FakeLighter] = {}
        self.keys: dict[AccountRef, str] = {}  # desk account -> its API key at its fake
        self.opening: Counter[Currency] = Counter()
        self.trips: list[_Trip] = []
        self.arrived: list[_Trip] = []
        self.faults = FakeFaults(self)
        self.proxy = WorldVenue(self)
        self.system: System | None = None
        self.adapters: list[Any] = []
        self._ticker: Repeating | None = None
        self.rng = random.Random(0)
        self.clock = ManualClock()

    # --- lifecycle ------------------------------------------------------------------------------

    def configure(self, data: dict[str, Any], folder: Path, rng: random.Random, clock: ManualClock) -> None:
        """Start the fakes, fund one API key per desk account with its opening balances, and point
        the deployment's ``[venues.*]`` at them (secrets in key files)."""
        self.rng, self.clock = rng, clock
        self.fakes = {Exchanges.KRAKEN: FakeKraken(clock.now).start(), Exchanges.MEXC: FakeMexc(clock.now).start()}
        keys = folder / "keys"
        keys.mkdir(mode=0o700, exist_ok=True)
        venues: dict[str, Any] = {}
        for exchange, fake in self.fakes.items():
            fake.book.withdraw_fees["USDC"] = WITHDRAW_FEE
            venues[str(exchange)] = {
                "adapter": str(exchange),
                "url": fake.url,
                "markets": ["btc/usd"],
                "timeout": CLIENT_TIMEOUT,
                "rate_limit_ms": 1,
                "poll_every": 5.0,
                "resolve_within": 120.0,
                "accounts": {},
                "withdrawals": [],
            }
        self._move_hedge(data, venues)
        for account in data["accounts"]:
            ref = AccountRef(account["exchange"], account["account"])
            assets = {ASSETS[ref.exchange][str(c)]: float(v) for c, v in account.get("balances", {}).items()}
            self.opening.update({currency_code(c): float(v) for c, v in account.get("balances", {}).items()})
            fake = self.fakes[ref.exchange]
            key_file = keys / f"{ref.exchange}-{ref.account}.toml"
            entry: dict[str, Any] = {"key_file": str(key_file)}
            if isinstance(fake, FakeLighter):
                index = LIGHTER_INDEXES[ref.account]
                fake.add_account(index, 3, assets)
                private_key, _public, error = sdk().create_api_key()
                assert error is None, error
                self.keys[ref] = str(index)
                key_file.write_text(f'private_key = "{private_key}"\n')
                entry |= {"account_index": index, "api_key_index": 3}
            else:
                api_key = f"{ref.exchange}-{ref.account}-key"
                secret = fake.add_key(api_key, assets)
                self.keys[ref] = api_key
                key_file.write_text(f'api_key = "{api_key}"\nsecret = "{secret}"\n')
            key_file.chmod(stat.S_IRUSR | stat.S_IWUSR)
            venues[str(ref.exchange)]["accounts"][ref.account] = entry
        for source in (*KRAKEN_MONEY, *MEXC_MONEY):
            for destination in (*KRAKEN_MONEY, *MEXC_MONEY):
                if destination.exchange == source.exchange:
                    continue
                route = {
                    "currency": "usdc",
                    "to": f"{destination.exchange}.{destination.account}",
                    "address": _address(destination),
                    "network": "TRC20",
                    "fee": WITHDRAW_FEE,
                }
                if source.exchange == Exchanges.KRAKEN:
                    route["key"] = f"{destination.exchange}-{destination.account}-usdc"
                    self.fakes[Exchanges.KRAKEN].withdraw_keys[route["key"]] = _address(destination)
                venues[str(source.exchange)]["withdrawals"].append(route)
        data["venues"] = venues

    def _move_hedge(self, data: dict[str, Any], venues: dict[str, Any]) -> None:
        """Where the hedge pair trades: kraken.hedge and mexc.hedge, as the simulated desk has it."""

    def venue(self) -> Any:
        return self.proxy

    def attach(self, system: System) -> None:
        """Build the real venues (checked by the start-up preflight) behind the world's venue, and
        start the world's clock: prices walk, resting orders fill, withdrawals arrive."""
        self.system = system
        self.proxy.target = build_venue(system.deployment, system.clock, system.journal.state)
        self.adapters = list(self.proxy.target.venue.venues.values())  # CountingVenue(VenueRouter(...))
        self._ticker = call_every(self.clock, 1.0, self._tick)

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for fake in self.fakes.values():
            fake.stop()

    # --- the world moving ---------------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        self.faults.end_outages()
        mid = None
        for exchange, fake in self.fakes.items():
            market = fake.book.markets[SYMBOLS[exchange]]
            if mid is None:
                mid = round(((market.bid + market.ask) / 2) * (1 + self.rng.gauss(0.0, 0.0005)), 1)
            with fake.book.lock:
                market.bid, market.ask = mid - 10.0, mid + 10.0
            fake.book.cross_reached(SYMBOLS[exchange])
        self._travel(now)

    def _travel(self, now: float) -> None:
        """Note the withdrawals the fakes accepted since the last look, and land those due."""
        known = {id(t.entry) for t in (*self.trips, *self.arrived)}
        addresses = {_address(a): a for a in (*KRAKEN_MONEY, *MEXC_MONEY)}
        for exchange, fake in self.fakes.items():
            for entry in fake.book.withdrawals:
                if id(entry) in known:
                    continue
                source = next(a for a, k in self.keys.items() if k == entry.key and a.exchange == exchange)
                due = entry.time + self.rng.choice(DELAYS)
                self.trips.append(_Trip(source, entry, addresses[entry.address], due))
        for trip in [t for t in self.trips if t.due <= now]:
            self.trips.remove(trip)
            with self.fakes[trip.source.exchange].book.lock:
                trip.entry.status = "ok"
            self.fakes[trip.destination.exchange].book.credit(self.keys[trip.destination], "USDC", trip.entry.amount)
            self.arrived.append(trip)

    def cross(self, exchange: Exchange) -> int:
        """Fill every resting order on ``exchange`` at its price (the market traded through them)."""
        return self.fakes[exchange].book.cross(SYMBOLS[exchange])

    # --- load ---------------------------------------------------------------------------------------

    def money_pair(self, rng: random.Random) -> tuple[AccountRef, AccountRef]:
        """Money moves between exchanges only (each account is its own API key: no wallet transfer)."""
        source, destination = rng.choice(KRAKEN_MONEY), rng.choice(MEXC_MONEY)
        return (source, destination) if rng.random() < 0.5 else (destination, source)

    def chain_hops(self, rng: random.Random) -> list[AccountRef]:
        """3 or 4 accounts, alternating exchanges."""
        kraken, mexc = rng.sample(KRAKEN_MONEY, 2), rng.sample(MEXC_MONEY, 2)
        first, second = (kraken, mexc) if rng.random() < 0.5 else (mexc, kraken)
        return [first[0], second[0], first[1], second[1]][: rng.choice([3, 4])]

    # --- ground truth ---------------------------------------------------------------------------------

    def _desk(self, exchange: Exchange, asset: str) -> Currency | None:
        for currency, name in ASSETS[exchange].items():
            if name == asset:
                return currency_code(currency)
        return None

    def _account(self, exchange: Exchange, key: str) -> AccountRef:
        return next(a for a, k in self.keys.items() if k == key and a.exchange == exchange)

    def all_balances(self) -> dict[tuple[Exchange, str], dict[Currency, float]]:
        balances: dict[tuple[Exchange, str], dict[Currency, float]] = {}
        for account, key in self.keys.items():
            book = self.fakes[account.exchange].book
            with book.lock:
                wallet = dict(book.balances[key])
            balances[(account.exchange, account.account)] = {
                c: amount for asset, amount in wallet.items() if (c := self._desk(account.exchange, asset)) is not None
            }
        return balances

    def _claims(self) -> dict[tuple[Exchange, str], str]:
        """Which desk client id each exchange withdrawal id is, as the adapters recorded it."""
        assert self.system is not None
        state = self.system.journal.state
        return {
            (exchange, key.removeprefix("claim:")): client_id
            for exchange in self.fakes
            for key, client_id in state.items(f"venue.{exchange}").items()
            if key.startswith("claim:") and client_id
        }

    def audit(self) -> list[Movement]:
        """The fakes' withdrawals (debits, named by the adapters' claims) and trades (the base leg)."""
        claims = self._claims()
        moves: list[Movement] = []
        for exchange, fake in self.fakes.items():
            book: FakeBook = fake.book
            with book.lock:
                withdrawals, trades = list(book.withdrawals), list(book.trades)
            for w in withdrawals:
                where = self._account(exchange, w.key)
                moves.append(
                    Movement(
                        seq=0,
                        at=w.time,
                        kind=MovementKind.DEBIT,
                        exchange=exchange,
                        account=where.account,
                        currency=currency_code("usdc"),
                        delta=-w.amount,
                        client_id=claims.get((exchange, w.id)),
                        note=w.id,
                    )
                )
            for t in trades:
                where = self._account(exchange, t.key)
                moves.append(
                    Movement(
                        seq=0,
                        at=t.time,
                        kind=MovementKind.TRADE,
                        exchange=exchange,
                        account=where.account,
                        currency=currency_code("btc"),
                        delta=t.amount if t.side == "buy" else -t.amount,
                        note=t.id,
                    )
                )
        return [msgspec.structs.replace(m, seq=i + 1) for i, m in enumerate(moves)]

    def conservation_error(self) -> dict[Currency, float]:
        """Per currency: every fake balance + on its way + fees the fakes took - opening - the
        market's side of every trade; ~0 when the fakes and the world created and lost nothing."""
        error: Counter[Currency] = Counter()
        for (_exchange, _account), wallet in self.all_balances().items():
            for currency, amount in wallet.items():
                error[currency] += amount
        for exchange, fake in self.fakes.items():
            book = fake.book
            with book.lock:
                for w in book.withdrawals:  # the fee was taken; a pending one is on its way
                    error[currency_code("usdc")] += w.fee + (w.amount if w.status == "pending" else 0.0)
                for t in book.trades:
                    market = book.markets[t.symbol]
                    base, quote = self._desk(exchange, market.base), self._desk(exchange, market.quote)
                    assert base is not None and quote is not None
                    sign = 1 if t.side == "buy" else -1
                    error[base] -= sign * t.amount
                    error[quote] += sign * t.amount * t.price + t.fee
        for currency, amount in self.opening.items():
            error[currency] -= amount
        return {c: round(v, 8) for c, v in sorted(error.items())}

    def lost_pushes(self) -> list[Fill]:
        return []  # a fill's push is never lost: the adapter's poll catches up after a dropped feed

    def flush(self) -> int:
        """Poll every adapter's fills now (a stream would have pushed them already)."""
        return sum(adapter.poll_fills() for adapter in self.adapters)

    def in_motion(self) -> set[tuple[Exchange, str]]:
        """Accounts with a trade at their fake that the adapter has not pushed yet (its poll failed)."""
        moving = set()
        for account, key in self.keys.items():
            with self.fakes[account.exchange].book.lock:
                trades = [t.id for t in self.fakes[account.exchange].book.trades if t.key == key]
            pushed = self.proxy.pushed
            if any(
                (account.exchange, account.account, t) not in pushed  # Kraken and MEXC keep the id
                and (account.exchange, account.account, str(int(t[1:]))) not in pushed  # Lighter's is a number
                for t in trades
            ):
                moving.add((account.exchange, account.account))
        return moving

    def extra_checks(self, intents: list[TransferIntent], final: bool) -> list[str]:
        wrong = check_withdrawals(intents, self.withdrawals(), self._claims(), final)
        if final:
            wrong += [f"fills at {e}.{a} were never pushed to the desk" for e, a in sorted(self.in_motion())]
        return wrong

    def withdrawals(self) -> list[tuple[AccountRef, AccountRef, float, tuple[Exchange, str]]]:
        """Every withdrawal the fakes made: (source, destination, gross amount, (exchange, its id))."""
        addresses = {_address(a): a for a in (*KRAKEN_MONEY, *MEXC_MONEY)}
        made = []
        for exchange, fake in self.fakes.items():
            with fake.book.lock:
                entries = list(fake.book.withdrawals)
            for w in entries:
                made.append(
                    (self._account(exchange, w.key), addresses[w.address], round(w.amount + w.fee, 6), (exchange, w.id))
                )
        return made


class FakeExchangesLighterHedge(FakeExchanges):
    """The same world with the hedge pair on two Lighter accounts through lighter-sdk (against
    `FakeLighter`, market btc/usdc), as the desk runs it: A and B on lighter.hedge_a / hedge_b."""

    path = "tests.fakes.world:FakeExchangesLighterHedge"
    hedge = LIGHTER_HEDGE

    def _move_hedge(self, data: dict[str, Any], venues: dict[str, Any]) -> None:
        fake = FakeLighter(self.clock.now).start()
        self.fakes[Exchanges.LIGHTER] = fake
        venues["lighter"] = {
            "adapter": "lighter",
            "url": fake.url,
            "markets": ["btc/usdc"],
            "market_indexes": {"btc/usdc": 1},
            "timeout": CLIENT_TIMEOUT,
            "poll_every": 5.0,
            "accounts": {},
        }
        moved = {HEDGE_A: LIGHTER_HEDGE[0], HEDGE_B: LIGHTER_HEDGE[1]}
        for account in data["accounts"]:
            to = moved.get(AccountRef(account["exchange"], account["account"]))
            if to is not None:
                account["exchange"], account["account"] = to.exchange, to.account
                usd = account["balances"].pop("usd")
                account["balances"]["usdc"] = usd
        hedge = data["hedge"]
        hedge["market"] = "btc/usdc"
        hedge["a"] = {"exchange": "lighter", "account": "hedge_a"}
        hedge["b"] = {"exchange": "lighter", "account": "hedge_b"}
        data["venue"]["markets"] = {"btc/usdc": data["venue"]["markets"]["btc/usd"]}
