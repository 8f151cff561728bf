"""The simulated desk a seed runs: its options (fault classes on or off), its deployment, and its accounts.

`SimOptions` says how long a run is and which fault classes the seed may use; `desk_deployment`
is the whole desk (gateway, tasks, transfers, chains, hedge A/B, scheduler, two strategies
allocating and releasing) as a `Deployment`, with the market's shape drawn from the seed.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import msgspec

from desk.config import Deployment, parse_config
from messages.common import AccountRef, Currencies, Exchanges

__all__ = ["HEDGE_QUANTITY", "KNOWN_BUGS", "MONEY_ACCOUNTS", "FaultClass", "SimOptions", "desk_deployment"]


class FaultClass(enum.StrEnum):
    """What a seed may throw at the desk; each can be switched off (`SimOptions.disabled`)."""

    REJECTIONS = "rejections"  # transfers, cancels and reads refused
    ORDER_REJECTIONS = "order_rejections"  # create_order refused (B's hedge can fail: A pauses)
    TIMEOUTS = "timeouts"  # a request lost: VenueTimeout, nothing happened
    TRANSFER_TIMEOUTS = "transfer_timeouts"  # the money moved, then VenueTimeout
    ORDER_TIMEOUTS = "order_timeouts"  # the order executed, then VenueTimeout
    CANCEL_TIMEOUTS = "cancel_timeouts"  # the cancel happened, then VenueTimeout
    OUTAGES = "outages"
    LATENCY = "latency"
    DUPLICATED_PUSHES = "duplicated_pushes"
    DROPPED_PUSHES = "dropped_pushes"
    CANCEL_RACES = "cancel_races"  # a fill lands just before a cancel
    SNAPSHOT_RACES = "snapshot_races"  # events inside a balance fetch; reconciles and gateway restarts amid activity
    CRASHES = "crashes"  # an actor crashes between messages, or mid venue call (before or after the work)
    CRASHES_HOLDING = "crashes_holding"  # an actor crashes while handling a message: it is dead-lettered
    OPERATOR_RESUMES = "operator_resumes"  # an operator resumes a paused A (retrying, or not)
    CRASHES_AFTER_WRITE = "crashes_after_write"  # an actor crashes just after a journal write, before its next step


KNOWN_BUGS: frozenset[FaultClass] = frozenset()
"""Fault classes off by default because they find a bug still being fixed: none now (issue 8's items
1, 2, 5, 6 and 7 were found this way and fixed; their seeds are regression tests)."""
HEDGE_ALERTS = True

Count = Annotated[int, msgspec.Meta(ge=0)]
Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class SimOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a seed runs: ``steps`` of load, faults and crashes, then ``quiet_rounds`` with no faults."""

    steps: Count = 40
    quiet_rounds: Count = 14
    disabled: frozenset[FaultClass] = KNOWN_BUGS
    fault_rate: Rate = 0.35  # chance per step of one more fault
    crash_rate: Rate = 0.08  # chance per step of an actor crash between messages
    crash_holding_rate: Rate = 0.004  # chance per handled message that the actor dies holding it
    crash_after_write_rate: Rate = 0.05  # chance per step that the next journal write is an actor's last
    exposure_alert_after: Annotated[float, msgspec.Meta(gt=0)] = 90.0  # s of unhedged exposure without an alert
    hedge_alerts: bool = HEDGE_ALERTS  # a paused A must have alerted its residual (off: the pause is enough)

    def enabled(self, fault: FaultClass) -> bool:
        return fault not in self.disabled


# usdc accounts money moves between; the hedge pair trades btc/usd on its own two accounts.
MONEY_ACCOUNTS = (
    AccountRef(Exchanges.KRAKEN, "trade"),
    AccountRef(Exchanges.KRAKEN, "main"),
    AccountRef(Exchanges.MEXC, "main"),
    AccountRef(Exchanges.MEXC, "trade"),
)
HEDGE_A = AccountRef(Exchanges.KRAKEN, "hedge")
HEDGE_B = AccountRef(Exchanges.MEXC, "hedge")
HEDGE_QUANTITY = 0.01
STRATEGY_SLOTS = {2: "strategy_a", 3: "strategy_b"}


def _job(name: str, target: str, message: str, every: float) -> dict[str, Any]:
    return {"name": name, "target": target, "message": message, "every": every}


def desk_deployment(
    folder: Path,
    rng: random.Random,
    options: SimOptions,
    extend: Callable[[dict[str, Any]], None] | None = None,
) -> Deployment:
    """The whole desk for one seed, with its runtime folder (journal) in ``folder``; ``extend``
    edits the deployment's data before it is parsed (a world's ``[venues.*]``)."""
    usdc = Currencies.USDC
    opening = [20_000.0, 5_000.0, 3_000.0, 1_000.0]
    accounts: list[dict[str, Any]] = [
        {"exchange": a.exchange, "account": a.account, "balances": {usdc: amount}, "currencies": [usdc]}
        for a, amount in zip(MONEY_ACCOUNTS, opening, strict=True)
    ]
    accounts[0]["balances"]["usd"] = 50_000.0
    accounts[0]["credit_limits"] = {"usd": 1_000.0}
    accounts.append(
        {"exchange": HEDGE_A.exchange, "account": HEDGE_A.account, "balances": {"usd": 100_000.0, "btc": 0.0}}
    )
    accounts.append(
        {"exchange": HEDGE_B.exchange, "account": HEDGE_B.account, "balances": {"usd": 100_000.0, "btc": 1.0}}
    )
    jobs = [
        _job("update_prices", "prices", "UpdatePrices", 10.0),
        _job("run_transfers", "transfers", "RunTransfers", 5.0),
        _job("advance_chains", "chains", "AdvanceChains", 10.0),
        _job("clean_expired_tasks", "tasks", "CleanExpiredTasks", 60.0),
        _job("health_check", "health", "CheckHealth", 60.0),
        _job("hedge_round", "hedge_a", "HedgeTick", 5.0),
        _job("strategy_a", "strategy_a", "DemoTick", 3.0),
        _job("strategy_b", "strategy_b", "DemoTick", 7.0),
    ]
    if options.enabled(FaultClass.SNAPSHOT_RACES):
        jobs.append(_job("reconcile", "gateway", "Reconcile", 60.0))
    strategy = "actors.demo:DemoStrategy"
    data: dict[str, Any] = {
        "runtime": {"folder": str(folder), "heartbeat_interval": 5.0, "hang_timeout": 600.0},
        "supervisor": {"strategy": "one_for_one", "intensity": 100_000, "period": 1.0, "backoff": [0.0, 0.0]},
        "venue": {
            "seed": rng.getrandbits(32),
            "default_route": {"delay": rng.choice([15.0, 40.0, 90.0]), "fee": 1.0, "jitter": 0.5},
            "markets": {
                "btc/usd": {
                    "price": 60_000.0,
                    "volatility": 0.001,
                    "tick": 1.0,
                    "spread": 0.0002,
                    "depth": rng.choice([0.05, 0.004]),
                }
            },
        },
        "accounts": accounts,
        "gateway": {"strategies": {str(k): v for k, v in STRATEGY_SLOTS.items()}},
        "tasks": {"default_expire_seconds": 1e7},  # nothing expires: every task is paid or still pending
        "hedge": {
            "market": "btc/usd",
            "quantity": HEDGE_QUANTITY,
            "a": {"exchange": "kraken", "account": "hedge"},
            "b": {"exchange": "mexc", "account": "hedge"},
            "offset_bps": rng.choice([0.0, 1.0, 3.0]),
            "retries": 3,
            "timeout": 60.0,
            "remind_every": 10.0,
            "continue_after_hedge": False,
        },
        "scheduler": {"jobs": jobs},
        "actors": [
            {
                "name": name,
                "class": strategy,
                "params": {
                    "slot": slot,
                    "exchange": "kraken",
                    "account": "trade",
                    "currency": usdc,
                    "amount": rng.choice([500.0, 2_000.0, 5_000.0]),
                },
            }
            for slot, name in STRATEGY_SLOTS.items()
        ],
    }
    if extend is not None:
        extend(data)
    return parse_config(data, folder)
