"""The desk's history in the runtime's SQLite database: prices, balances, fills, transfers, hedges, audit.

The dashboard's plots and the daily report read it; `HistoryStore.prune` is the retention job
the scheduled-jobs design runs at 00:00 (`RetentionSchedule` says when it is due).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from actors.stores.journal import connect
from desk.config import HistoryConfig

__all__ = ["HistoryStore", "RetentionSchedule"]

DAY = 86400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS history_prices (at REAL NOT NULL, currency TEXT NOT NULL, usd REAL NOT NULL);
CREATE INDEX IF NOT EXISTS history_prices_at ON history_prices (at);
CREATE TABLE IF NOT EXISTS history_balances (
    at REAL NOT NULL, account TEXT NOT NULL, currency TEXT NOT NULL, total REAL NOT NULL, pool REAL NOT NULL,
    slots TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_balances_at ON history_balances (at);
CREATE TABLE IF NOT EXISTS history_fills (
    at REAL NOT NULL, leg TEXT NOT NULL, account TEXT NOT NULL, quantity REAL NOT NULL, price REAL
);
CREATE INDEX IF NOT EXISTS history_fills_at ON history_fills (at);
CREATE TABLE IF NOT EXISTS history_transfers (
    client_id TEXT PRIMARY KEY, at REAL NOT NULL, updated_at REAL NOT NULL, route TEXT NOT NULL,
    currency TEXT NOT NULL, amount REAL NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,
    extra TEXT, fee REAL NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_transfers_at ON history_transfers (at);
CREATE TABLE IF NOT EXISTS history_hedges (
    at REAL NOT NULL, net_exposure REAL NOT NULL, realised_pnl REAL NOT NULL, unrealised_pnl REAL NOT NULL,
    a_position REAL NOT NULL, b_position REAL NOT NULL, hedges_done INTEGER NOT NULL,
    hedges_failed INTEGER NOT NULL, latency REAL
);
CREATE INDEX IF NOT EXISTS history_hedges_at ON history_hedges (at);
CREATE TABLE IF NOT EXISTS history_audit (
    at REAL NOT NULL, operator TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL,
    outcome TEXT NOT NULL
);
"""

# table -> which retention applies ("prices" or "trades" or "balances")
_RETENTION = {
    "history_prices": "prices",
    "history_balances": "balances",
    "history_fills": "trades",
    "history_transfers": "trades",
    "history_hedges": "trades",
}


class HistoryStore:
    """Append-only time series (plus transfers kept by client id), safe to use from several threads."""

    def __init__(self, path: str | Path, config: HistoryConfig | None = None) -> None:
        self.config = config or HistoryConfig()
        self._db = connect(path, synchronous="NORMAL")
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._db.execute(sql, parameters)
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # ---- writing ------------------------------------------------------------------------------

    def record_prices(self, at: float, usd: dict[str, float]) -> None:
        with self._transaction() as db:
            db.executemany("INSERT INTO history_prices VALUES (?, ?, ?)", [(at, c, p) for c, p in usd.items()])

    def record_balances(self, at: float, rows: Sequence[dict[str, Any]]) -> None:
        """``rows`` as in the status document: ``{"account", "currency", "slots"}``."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO history_balances VALUES (?, ?, ?, ?, ?, ?)",
                [(at, r["account"], r["currency"], r["slots"][0], r["slots"][1], json.dumps(r["slots"])) for r in rows],
            )

    def record_fill(self, at: float, leg: str, account: str, quantity: float, price: float | None) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO history_fills VALUES (?, ?, ?, ?, ?)", (at, leg, account, quantity, price))

    def record_transfer(self, intent: Any) -> None:
        """A transfer intent (the journal's record), inserted or updated by its client id."""
        k = intent.key
        route = f"{k.from_exchange}.{k.from_account} -> {k.to_exchange}.{k.to_account}"
        with self._transaction() as db:
            db.execute(
                "INSERT INTO history_transfers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id) DO "
                "UPDATE SET updated_at = excluded.updated_at, status = excluded.status, attempt = excluded.attempt, "
                "fee = excluded.fee, reason = excluded.reason",
                (
                    intent.client_id,
                    intent.created_at,
                    intent.updated_at,
                    route,
                    k.currency,
                    intent.amount,
                    intent.status,
                    intent.attempt,
                    intent.extra,
                    intent.fee,
                    intent.reason,
                ),
            )

    def record_hedge(self, at: float, report: dict[str, Any], latency: float | None = None) -> None:
        """A sample of the hedge pair (a `HedgeReport` as plain data); ``latency`` when a hedge just finished."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO history_hedges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    at,
                    report["net_exposure"],
                    report["realised_pnl"],
                    report["unrealised_pnl"],
                    report["a"]["position"],
                    report["b"]["position"],
                    report["hedges_done"],
                    report["hedges_failed"],
                    latency,
                ),
            )

    def record_audit(self, at: float, operator: str, action: str, target: str, detail: str, outcome: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO history_audit VALUES (?, ?, ?, ?, ?, ?)", (at, operator, action, target, detail, outcome)
            )

    # ---- reading ------------------------------------------------------------------------------

    def balances(self, since: float = 0.0) -> dict[str, list[tuple[float, float]]]:
        """Total per ``"exchange.account currency"`` over time: ``{series: [(at, total), ...]}``."""
        series: dict[str, list[tuple[float, float]]] = {}
        for row in self._rows(
            "SELECT at, account, currency, total FROM history_balances WHERE at >= ? ORDER BY at", (since,)
        ):
            series.setdefault(f"{row['account']} {row['currency']}", []).append((row["at"], row["total"]))
        return series

    def hedges(self, since: float = 0.0) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM history_hedges WHERE at >= ? ORDER BY at", (since,))

    def fills(self, since: float = 0.0) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM history_fills WHERE at >= ? ORDER BY at", (since,))

    def prices(self, since: float = 0.0) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM history_prices WHERE at >= ? ORDER BY at", (since,))

    def transfers(
        self, page: int = 1, size: int = 20, text: str = "", status: str = ""
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of transfers, newest first, whose route, currency, client id or follow-up contains
        ``text`` and whose status is ``status`` (any when empty); and how many match in all."""
        where, parameters = "WHERE 1 = 1", []  # type: tuple[str, list[Any]]
        if text:
            where += " AND (route LIKE ? OR currency LIKE ? OR client_id LIKE ? OR IFNULL(extra, '') LIKE ?)"
            parameters += [f"%{text}%"] * 4
        if status:
            where += " AND status = ?"
            parameters.append(status)
        total = self._rows(f"SELECT COUNT(*) AS n FROM history_transfers {where}", parameters)[0]["n"]
        rows = self._rows(
            f"SELECT * FROM history_transfers {where} ORDER BY at DESC, client_id LIMIT ? OFFSET ?",
            [*parameters, size, (max(page, 1) - 1) * size],
        )
        return rows, int(total)

    def latencies(self, since: float = 0.0) -> dict[str, list[tuple[float, float]]]:
        """Transfer latency (settled minus created, done ones) and hedge latency, as ``[(at, seconds)]``."""
        transfers = self._rows(
            "SELECT updated_at AS at, updated_at - at AS seconds FROM history_transfers "
            "WHERE status = 'done' AND updated_at >= ? ORDER BY updated_at",
            (since,),
        )
        hedges = self._rows(
            "SELECT at, latency AS seconds FROM history_hedges WHERE latency IS NOT NULL AND at >= ? ORDER BY at",
            (since,),
        )
        return {
            "transfer": [(r["at"], r["seconds"]) for r in transfers],
            "hedge": [(r["at"], r["seconds"]) for r in hedges],
        }

    def summary(self, since: float) -> dict[str, Any]:
        """What happened since ``since``, for a daily report: transfers by status and volume, fills, hedge PnL."""
        transfers = self._rows(
            "SELECT status, currency, COUNT(*) AS n, SUM(amount) AS volume FROM history_transfers "
            "WHERE at >= ? GROUP BY status, currency ORDER BY status, currency",
            (since,),
        )
        fills = self._rows(
            "SELECT leg, COUNT(*) AS n, SUM(ABS(quantity)) AS quantity FROM history_fills "
            "WHERE at >= ? GROUP BY leg ORDER BY leg",
            (since,),
        )
        hedge = self._rows("SELECT * FROM history_hedges WHERE at >= ? ORDER BY at", (since,))
        first, last = (hedge[0], hedge[-1]) if hedge else (None, None)
        return {
            "since": since,
            "transfers": transfers,
            "fills": fills,
            "hedges_done": last["hedges_done"] - first["hedges_done"] if first and last else 0,
            "hedges_failed": last["hedges_failed"] - first["hedges_failed"] if first and last else 0,
            "realised_pnl": last["realised_pnl"] - first["realised_pnl"] if first and last else 0.0,
            "max_abs_net_exposure": max((abs(h["net_exposure"]) for h in hedge), default=0.0),
        }

    def audit(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM history_audit ORDER BY at DESC LIMIT ?", (limit,))

    def count(self, table: str) -> int:
        if table not in _RETENTION and table != "history_audit":
            raise ValueError(f"no history table {table!r}")
        return int(self._rows(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])

    # ---- retention ----------------------------------------------------------------------------

    def prune(self, now: float) -> dict[str, int]:
        """Delete what is older than its retention (prices 30 days, trades 90 days by default); rows deleted per table."""
        days = {
            "prices": self.config.prices_days,
            "trades": self.config.trades_days,
            "balances": self.config.balances_days,
        }
        deleted = {}
        with self._transaction() as db:
            for table, kind in _RETENTION.items():
                cutoff = now - days[kind] * DAY
                deleted[table] = db.execute(f"DELETE FROM {table} WHERE at < ?", (cutoff,)).rowcount
        return deleted


class RetentionSchedule:
    """When the retention job is next due: ``cron`` (default ``"0 0 * * *"``, midnight) in ``timezone``."""

    def __init__(self, cron: str, timezone: str, now: float) -> None:
        self.cron = cron
        self.zone = ZoneInfo(timezone)
        self.next_due = self._after(now)

    def _after(self, now: float) -> float:
        return float(croniter(self.cron, datetime.fromtimestamp(now, self.zone)).get_next(float))

    def due(self, now: float) -> bool:
        """True once per trigger: when ``now`` passed the due time (the next one is then planned)."""
        if now < self.next_due:
            return False
        self.next_due = self._after(now)
        return True
