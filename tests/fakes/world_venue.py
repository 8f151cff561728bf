"""The faults of the fakes' world (`FakeFaults`: the simulated venue's `Faults` interface made of
the fakes' HTTP faults) and the desk's venue in it (`WorldVenue`: the real venues, plus the
faults only a caller's side can make). Parts of `tests.fakes.world.FakeExchanges`."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from actors.venues.simulated import SimulatedCrash
from messages.common import Exchange, Exchanges, exchange_name
from messages.trading import Fill
from tests.fakes.http import FakeHttpExchange

if TYPE_CHECKING:  # the world holds these parts; they only read it
    from tests.fakes.world import FakeExchanges

__all__ = ["PATHS", "FakeFaults", "WorldVenue"]

PATHS = {  # the request a venue method becomes, per exchange (a fault matches the path's end)
    Exchanges.KRAKEN: {
        "transfer": "/Withdraw",
        "create_order": "/AddOrder",
        "cancel_order": "/CancelOrder",
        "fetch_order": "/QueryOrders",
        "fetch_transfer": "/WithdrawStatus",
        "fetch_deposits": "/DepositStatus",
        "fetch_ticker": "/Ticker",
        "fetch_balance": "/BalanceEx",
        "fills": "/TradesHistory",
    },
    Exchanges.MEXC: {
        "transfer": "/capital/withdraw",
        "create_order": "/api/v3/order",
        "cancel_order": "/api/v3/order",
        "fetch_order": "/api/v3/order",
        "fetch_transfer": "/capital/withdraw/history",
        "fetch_deposits": "/capital/deposit/hisrec",
        "fetch_ticker": "/ticker/24hr",
        "fetch_balance": "/api/v3/account",
        "fills": "/api/v3/myTrades",
    },
    Exchanges.LIGHTER: {
        "create_order": "/sendTx",
        "cancel_order": "/sendTx",
        "fetch_order": "/accountInactiveOrders",
        "fetch_ticker": "/orderBookOrders",
        "fetch_balance": "/account",
        "fills": "/trades",
    },
}
TRADING = ("create_order", "cancel_order", "fetch_order", "fills")  # faults aimed where the hedge pair trades


class WorldVenue:
    """The desk's venue in this world: the real venues (``target``, built once the journal exists),
    with the faults only a caller's side can make: the caller crashing before or after a call,
    a fill pushed twice, a fill landing just before a cancel."""

    _METHODS = frozenset(
        {
            "transfer",
            "create_order",
            "cancel_order",
            "fetch_order",
            "fetch_transfer",
            "fetch_deposits",
            "fetch_ticker",
            "fetch_balance",
        }
    )

    def __init__(self, world: FakeExchanges) -> None:
        self.world = world
        self.target: Any = None
        self.crash: list[tuple[str, bool]] = []  # (method, after) armed
        self.duplicates = 0
        self.racing_cancels = 0
        self.pushed: set[tuple[Exchange, str, str]] = set()  # (exchange, account, trade id) of every fill pushed

    def close(self) -> None:
        if self.target is not None:
            self.target.close()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.target, name)
        if name == "subscribe_fills":
            return self._subscribe_fills
        if name not in self._METHODS:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "cancel_order" and self.racing_cancels:
                self.racing_cancels -= 1
                self.world.faults.own["cancel_race"] += self.world.cross(exchange_name(str(args[0]).partition(":")[0]))
            self._maybe_crash(name, after=False)
            result = attribute(*args, **kwargs)
            self._maybe_crash(name, after=True)
            return result

        return call

    def _maybe_crash(self, method: str, *, after: bool) -> None:
        if (method, after) in self.crash:
            self.crash.remove((method, after))
            self.world.faults.own["crash_after" if after else "crash_before"] += 1
            raise SimulatedCrash(f"simulated crash of the caller {'after' if after else 'before'} {method}")

    def _subscribe_fills(self, exchange: Exchange, account: str, callback: Any) -> Any:
        def push(fill: Fill) -> None:
            self.pushed.add((fill.exchange, fill.account, fill.trade_id))
            callback(fill)
            if self.duplicates:
                self.duplicates -= 1
                self.world.faults.own["duplicated_push"] += 1
                callback(fill)

        return self.target.subscribe_fills(exchange, account, push)


class FakeFaults:
    """The simulated venue's `Faults` interface made of the fakes' HTTP faults (5xx, rate-limit
    answers, requests lost, carried out then unanswered or cut off, outages) and `WorldVenue`'s."""

    def __init__(self, world: FakeExchanges) -> None:
        self.world = world
        self.own: Counter[str] = Counter()
        self.outages: dict[Exchange, float] = {}

    @property
    def fired(self) -> Counter[str]:
        total = Counter(self.own)
        for fake in self.world.fakes.values():
            total.update(fake.fired)
        return total

    def _pick(self, method: str) -> tuple[FakeHttpExchange, str]:
        """One fake, drawn among those the method reaches (order methods: where the hedge pair trades)."""
        hedged = {a.exchange for a in self.world.hedge}
        able = sorted(e for e in self.world.fakes if method in PATHS[e] and (method not in TRADING or e in hedged))
        exchange = self.world.rng.choice(able)
        return self.world.fakes[exchange], PATHS[exchange][method]

    def reject_next(self, n: int = 1, method: str | None = None) -> None:
        fake, path = self._pick(method or "transfer")
        if self.world.rng.random() < 0.5:
            fake.rate_limit_next(n, path)
        else:
            fake.fail_next(n, self.world.rng.choice([500, 502, 503]), path)

    def timeout_next(self, n: int = 1, method: str = "transfer") -> None:
        fake, path = self._pick(method)
        fake.hang_before_next(n, path)

    def timeout_after_move_next(self, n: int = 1, method: str = "transfer") -> None:
        fake, path = self._pick(method)
        if self.world.rng.random() < 0.3:
            fake.hang_after_next(n, path)
        else:
            fake.drop_next(n, path)

    def crash_next(self, n: int = 1, method: str = "transfer", *, after: bool = False) -> None:
        self.world.proxy.crash.extend([(method, after)] * n)

    def fill_next_cancel(self, n: int = 1) -> None:
        self.world.proxy.racing_cancels += n

    def duplicate_next_fill(self, n: int = 1) -> None:
        self.world.proxy.duplicates += n

    def drop_next_fill_push(self, n: int = 1) -> None:
        """A dropped feed: the next fill poll fails; the one after catches up."""
        fake, path = self._pick("fills")
        fake.fail_next(n, 503, path)

    def outage(self, seconds: float) -> None:
        exchange = self.world.rng.choice(sorted(self.world.fakes))
        self.world.fakes[exchange].fail_next(10**9, 503)
        self.outages[exchange] = self.world.clock.now() + seconds
        self.own["outage"] += 1

    def end_outages(self) -> None:
        now = self.world.clock.now()
        for exchange, until in list(self.outages.items()):
            if until <= now:
                del self.outages[exchange]
                self.world.fakes[exchange].clear_faults()

    def latency(self, seconds: float) -> None:
        pass  # unsupported: the fakes answer at once

    def race_next_snapshot(self, n: int = 1) -> None:
        raise NotImplementedError("snapshot races are not made against the fakes")

    def clear(self) -> None:
        for fake in self.world.fakes.values():
            fake.clear_faults()
        self.outages.clear()
        proxy = self.world.proxy
        proxy.crash.clear()
        proxy.duplicates = proxy.racing_cancels = 0
