"""One market of the simulated world: its shape (`MarketSpec`) and its seeded random-walk price (`Market`)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from actors.venues.simulated.amounts import EPSILON, rounded
from messages.trading import Order, Side, Ticker, split_market

__all__ = ["Market", "MarketSpec"]


@dataclass(frozen=True)
class MarketSpec:
    """How one market behaves: its starting ``price`` and a seeded random walk stepped every ``tick``
    seconds, each step moving the price by ``volatility`` (relative standard deviation).

    ``spread`` is (ask - bid) / mid. A resting order fills at most ``depth`` base per tick; a market
    order takes ``depth`` per level, each level up to ``slippage_bps`` worse than the one before.
    ``fee_bps`` is charged on every fill, in the quote currency.
    """

    price: float
    volatility: float = 0.001
    tick: float = 1.0
    spread: float = 0.0005
    depth: float = 1.0
    slippage_bps: float = 5.0
    fee_bps: float = 10.0

    def __post_init__(self) -> None:
        for name in ("price", "tick", "depth"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"market {name} must be > 0, got {value!r}")
        for name in ("volatility", "slippage_bps", "fee_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"market {name} must be >= 0, got {value!r}")
        if not 0 <= self.spread < 1:
            raise ValueError(f"market spread must be a fraction in [0, 1), got {self.spread!r}")


class Market:
    """One market's state: the seeded mid-price walk, the touch, the last traded price."""

    def __init__(self, name: str, spec: MarketSpec, seeds: random.Random, now: float) -> None:
        self.name = name
        self.base, self.quote = split_market(name)
        self.spec = spec
        self.price_rng = random.Random(seeds.getrandbits(64))  # the price path depends on time only
        self.trade_rng = random.Random(seeds.getrandbits(64))  # slippage depends on the order flow
        self.mid = spec.price
        self.last = spec.price
        self.timestamp = now

    @property
    def bid(self) -> float:
        return rounded(self.mid * (1 - self.spec.spread / 2))

    @property
    def ask(self) -> float:
        return rounded(self.mid * (1 + self.spec.spread / 2))

    def step(self, now: float) -> None:
        """One tick of the walk; the rest of the world trades at the new mid."""
        self.mid = rounded(self.mid * math.exp(self.spec.volatility * self.price_rng.gauss(0.0, 1.0)))
        self.last = self.mid
        self.timestamp = now

    def touch(self, side: Side) -> float:
        """The price a taker on ``side`` gets now: the ask for a buy, the bid for a sell."""
        return self.ask if side is Side.BUY else self.bid

    def reaches(self, order: Order) -> bool:
        """Has the touch reached a limit order's price?"""
        assert order.price is not None
        return self.ask <= order.price if order.side is Side.BUY else self.bid >= order.price

    def sweep(self, side: Side, quantity: float) -> list[tuple[float, float]]:
        """A market order's fills as (quantity, price): ``depth`` per level, each level worse."""
        levels: list[tuple[float, float]] = []
        step = 1 + self.spec.slippage_bps / 10_000
        touch = self.touch(side)
        remaining = quantity
        while remaining > EPSILON:
            size = rounded(min(remaining, self.spec.depth))
            worse = step ** (len(levels) + self.trade_rng.random())
            levels.append((size, rounded(touch * worse if side is Side.BUY else touch / worse)))
            remaining = rounded(remaining - size)
        return levels

    def fee(self, cost: float) -> float:
        return rounded(cost * self.spec.fee_bps / 10_000)

    def ticker(self) -> Ticker:
        return Ticker(market=self.name, bid=self.bid, ask=self.ask, last=self.last, timestamp=self.timestamp)
