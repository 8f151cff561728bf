"""The daily report, through a whole System on a manual clock: the 08:00 cron gathers every part by tell + reply."""

from __future__ import annotations

import sqlite3
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from desk.config import parse_config
from desk.history import HistoryStore
from desk.system import System
from messages.demo import DemoTick
from messages.reports import GetReport, GetTransferStats, Report
from messages.system import Ping
from messages.transfers import RunTransfers
from supervisor import ManualClock

DESK = """
[runtime]
folder = "run"

[venue]
seed = 11
[venue.markets."btc/usd"]
price = 50000.0

[[accounts]]
exchange = "kraken"
account = "trade"
balances = { usdc = 10000.0 }

[[accounts]]
exchange = "kraken"
account = "main"
balances = { usdc = 1000.0 }

[[accounts]]
exchange = "kraken"
account = "hedge"
balances = { usd = 100000.0 }

[[accounts]]
exchange = "mexc"
account = "hedge"
balances = { usd = 100000.0, btc = 1.0 }

[hedge]
market = "btc/usd"
quantity = 0.01
a = { exchange = "kraken", account = "hedge" }
b = { exchange = "mexc", account = "hedge" }

[scheduler]
jobs = [
  { name = "health_check", target = "health", message = "CheckHealth", every = 20.0 },
  { name = "daily_report", target = "report", message = "DailyReport", cron = "0 8 * * *" },
]

[[actors]]
name = "treasurer"
class = "actors.demo:DemoTreasurer"
params = { sweep = [["kraken", "trade"], ["kraken", "main"]], amount = 100.0, currency = "usdc", chain = [], chain_amount = 0.0 }
"""


def test_the_daily_report_at_eight_gathers_transfers_hedging_health_restarts_and_balances(tmp_path: Path) -> None:
    clock = ManualClock(start=datetime(2026, 3, 2, 7, 59, tzinfo=UTC).timestamp())
    deployment = parse_config(tomllib.loads(DESK), tmp_path)
    with System(deployment, clock=clock) as system:
        rt = system.runtime
        for done in range(1, 7):  # six sweeps, each waited for, so the desk is quiet at 08:00
            rt.tell("treasurer", DemoTick())
            rt.ask("treasurer", Ping())
            rt.tell("transfers", RunTransfers())
            for _ in range(10_000):  # each ask is a round trip through the executor's mailbox
                if rt.ask("transfers", GetTransferStats()).done == done:
                    break
            assert rt.ask("transfers", GetTransferStats()).done == done
            clock.advance(5.0)
        assert rt.ask("report", GetReport()) is None  # not 08:00 yet
        sampled = HistoryStore(deployment.journal_path)  # as the dashboard's sampler records a fill
        sampled.record_fill(clock.now(), "hedge_a", "kraken.hedge", 0.01, 50_000.0)
        sampled.close()
        clock.advance(29.0)  # 07:59:59 - the 07:59:40 health round has pinged everyone
        for name in system.names:
            rt.ask(name, Ping())  # each has answered that ping (its Pong is queued at health)
        rt.ask("health", Ping())
        clock.advance(1.0)  # 08:00:00
        report = None
        for _ in range(10_000):
            report = rt.ask("report", GetReport())
            if report is not None:
                break
    assert isinstance(report, Report)
    assert report.at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC).timestamp()
    assert report.missing == []
    assert report.transfers_done == 6
    assert report.transfer_volume == pytest.approx({"usdc": 100.0 * report.transfers_done})
    assert report.hedges_done == 0 and report.hedges_failed == 0 and not report.hedge_paused
    assert report.restarts == {}
    assert report.actors_watched == len(system.names) - 1 and report.actors_alive == report.actors_watched
    # every account valued in USD: 11k usdc + 200k usd + 1 btc at about 50k
    assert 255_000 < report.balances_usd < 265_000
    # the day as the runtime's history has it (what the dashboard's sampler wrote)
    assert report.history["since"] == report.since
    assert report.history["fills"] == [{"leg": "hedge_a", "n": 1, "quantity": 0.01}]


def test_the_reports_history_store_is_opened_once_and_closed_with_the_system(tmp_path: Path) -> None:
    deployment = parse_config(tomllib.loads(DESK), tmp_path)
    system = System(deployment, clock=ManualClock())
    store = system.services.history(deployment.history)
    assert system.services.history(deployment.history) is store  # the report's, not a second connection
    with system:
        assert store.summary(0.0) is not None
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        store.summary(0.0)
