"""The `[hedge]` config: what `retries` counts, and bad values named by key (issue 8, item 8)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable

import pytest

from actors.hedge import HedgeAccountB
from actors.venues.simulated import MarketSpec, SimulatedVenue
from desk.config import ConfigError, parse_config
from messages import Exchanges
from messages.hedge import AFilled, BHedgeFailed
from messages.trading import Side
from supervisor import ChildSpec, ManualClock, Runtime
from tests.money import Collector, Inbox

HEDGE = """
[[accounts]]
exchange = "kraken"
account = "main"
[[accounts]]
exchange = "mexc"
account = "hedge"
[venue.markets."btc/usd"]
price = 100.0
[hedge]
market = "btc/usd"
quantity = 0.01
a = { exchange = "kraken", account = "main" }
b = { exchange = "mexc", account = "hedge" }
"""


def test_retries_default_to_three_retries_after_the_first_attempt() -> None:
    hedge = parse_config(tomllib.loads(HEDGE)).hedge
    assert hedge is not None and hedge.retries == 3 and hedge.cancel_on_stop and hedge.exposure_limit == 120.0


def test_zero_retries_is_accepted_by_config_and_the_hedger_makes_one_attempt(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    hedge = parse_config(tomllib.loads(HEDGE + "retries = 0\n")).hedge
    assert hedge is not None and hedge.retries == 0
    venue = SimulatedVenue(
        clock, balances={(Exchanges.MEXC, "hedge"): {}}, markets={"btc/usd": MarketSpec(price=100.0)}
    )
    inbox = Inbox()
    try:
        rt = make_runtime(
            [
                ChildSpec(
                    "hedge_b",
                    lambda: HedgeAccountB(venue, Exchanges.MEXC, "hedge", retries=hedge.retries, gateway=None),
                ),
                ChildSpec("operator", lambda: Collector(inbox)),
            ]
        )
        rt.tell("hedge_b", AFilled("T1", "O1", "btc/usd", Side.BUY, 1.0, 100.0, reply_to="operator"), sender="operator")
        [failed] = inbox.wait_for(BHedgeFailed, 1)
        assert failed.retries == 1 and "insufficient funds" in failed.reason  # one attempt, no retry
    finally:
        venue.close()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("retries = -1", "config error at hedge.retries"),
        ("exposure_limit = 0", "config error at hedge.exposure_limit"),
    ],
)
def test_a_bad_hedge_value_is_a_config_error_naming_the_key(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(tomllib.loads(HEDGE + line + "\n"))
    assert message in str(caught.value)
