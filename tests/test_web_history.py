"""The history the dashboard's plots read: what is kept, the 00:00 retention job, transfers paging and filter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from actors.stores.journal import TransferIntent
from desk.config import HistoryConfig
from desk.history import DAY, HistoryStore, RetentionSchedule
from messages.common import Currencies, Exchanges
from messages.tasks import TransferTaskKey

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()
HEDGE = {
    "net_exposure": 0.0,
    "realised_pnl": 1.0,
    "unrealised_pnl": 0.5,
    "a": {"position": 0.01},
    "b": {"position": -0.01},
    "hedges_done": 1,
    "hedges_failed": 0,
}


def intent(n: int, at: float, status: str = "done", to: str = "main") -> TransferIntent:
    key = TransferTaskKey(
        Exchanges.KRAKEN, "trade", Exchanges.MEXC if to == "mexc" else Exchanges.KRAKEN, "main", Currencies.USDC
    )
    return TransferIntent(
        client_id=f"c{n}",
        key=key,
        task_timestamp=int(at * 1e6),
        amount=100.0 + n,
        status=status,
        created_at=at,
        updated_at=at + 2.0,
    )


def fill_every_table(store: HistoryStore, at: float) -> None:
    store.record_prices(at, {"btc": 60000.0})
    store.record_balances(at, [{"account": "kraken.trade", "currency": "usdc", "slots": [10.0, 10.0, 0.0]}])
    store.record_fill(at, "hedge_a", "kraken.hedge", 0.01, 60000.0)
    store.record_transfer(intent(int(at), at))
    store.record_hedge(at, HEDGE, latency=0.5)


def test_retention_drops_prices_after_30_days_and_trades_after_90(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "journal.sqlite")
    for age in (1, 31, 91):
        fill_every_table(store, NOW - age * DAY)
    deleted = store.prune(NOW)
    assert deleted["history_prices"] == 2 and deleted["history_balances"] == 2
    assert deleted["history_fills"] == deleted["history_transfers"] == deleted["history_hedges"] == 1
    assert store.count("history_prices") == 1 and store.count("history_transfers") == 2
    assert store.prune(NOW) == dict.fromkeys(deleted, 0)  # nothing left to delete: the job is idempotent


def test_retention_periods_are_configurable(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "journal.sqlite", HistoryConfig(prices_days=0.5, trades_days=2.0))
    for age in (1, 3):
        fill_every_table(store, NOW - age * DAY)
    store.prune(NOW)
    assert store.count("history_prices") == 0 and store.count("history_fills") == 1


def test_the_retention_job_is_due_once_at_midnight_in_the_desk_timezone() -> None:
    evening = datetime(2026, 12, 1, 23, 59, tzinfo=UTC).timestamp()
    schedule = RetentionSchedule("0 0 * * *", "UTC", evening)
    assert not schedule.due(evening + 30)
    assert schedule.due(evening + 61)
    assert not schedule.due(evening + 120)
    assert schedule.next_due == evening + 60 + DAY


def test_transfers_page_newest_first_and_filter_by_text_and_status(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "journal.sqlite")
    for n in range(7):
        store.record_transfer(
            intent(n, NOW + n, status="done" if n % 2 else "in_flight", to="mexc" if n < 3 else "main")
        )
    store.record_transfer(intent(6, NOW + 6, status="done"))  # a transfer settles: updated, not added
    first, total = store.transfers(page=1, size=3)
    assert total == 7 and [t["client_id"] for t in first] == ["c6", "c5", "c4"]
    assert first[0]["status"] == "done"
    last, _ = store.transfers(page=3, size=3)
    assert [t["client_id"] for t in last] == ["c0"]
    mexc, count = store.transfers(text="mexc")
    assert count == 3 and all("mexc.main" in t["route"] for t in mexc)
    flying, count = store.transfers(status="in_flight")
    assert count == 3 and {t["client_id"] for t in flying} == {"c0", "c2", "c4"}


def test_plot_series_come_back_per_account_and_latency_per_kind(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "journal.sqlite")
    fill_every_table(store, NOW)
    fill_every_table(store, NOW + 1)
    assert store.balances(NOW - 10) == {"kraken.trade usdc": [(NOW, 10.0), (NOW + 1, 10.0)]}
    latency = store.latencies(NOW - 10)
    assert [s for _, s in latency["transfer"]] == [pytest.approx(2.0)] * 2
    assert [s for _, s in latency["hedge"]] == [0.5, 0.5]
    assert store.balances(NOW + 0.5) == {"kraken.trade usdc": [(NOW + 1, 10.0)]}


def test_the_summary_counts_what_happened_since_a_time(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "journal.sqlite")
    fill_every_table(store, NOW - 2 * DAY)
    fill_every_table(store, NOW - 10)
    store.record_transfer(intent(99, NOW - 5, status="failed"))
    store.record_hedge(NOW - 1, {**HEDGE, "hedges_done": 4, "realised_pnl": 3.5, "net_exposure": -0.02})
    day = store.summary(NOW - DAY)
    assert [(t["status"], t["n"]) for t in day["transfers"]] == [("done", 1), ("failed", 1)]
    assert day["fills"] == [{"leg": "hedge_a", "n": 1, "quantity": 0.01}]
    assert day["hedges_done"] == 3 and day["realised_pnl"] == 2.5 and day["max_abs_net_exposure"] == 0.02
