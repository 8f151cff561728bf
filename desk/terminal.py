"""The terminal view of `bin/run`: rich tables refreshed in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from desk.status import status_lines

__all__ = ["StatusView", "status_tables"]


def _money(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.6f}"


def status_tables(status: Mapping[str, Any], elapsed: float | None = None) -> Group:
    """The status document as rich tables: actors, balances per slot, tasks and chains, the hedge pair."""
    actors = Table(
        title=f"actors{f'  ({elapsed:.0f}s)' if elapsed is not None else ''}  dead letters {status['dead_letters']}",
        title_justify="left",
        expand=False,
    )
    for column in ("actor", "state", "restarts", "mailbox", "last error"):
        actors.add_column(column, justify="right" if column in ("restarts", "mailbox") else "left")
    for a in status["actors"]:
        state = a["state"] if a["state"] == "running" else f"[red]{a['state']}[/red]"
        actors.add_row(a["name"], state, str(a["restarts"]), str(a["mailbox"]), (a["last_error"] or "")[:60])
    balances = Table(title="balances (slot 0 total, 1 pool, then sub-strategies)", title_justify="left")
    for column in ("account", "cur", "total", "pool", "sub-strategies"):
        balances.add_column(column, justify="right" if column in ("total", "pool") else "left")
    for row in status["balances"]:
        slots = row["slots"]
        subs = ", ".join(f"s{i} {_money(v)}" for i, v in enumerate(slots) if i >= 2 and v)
        balances.add_row(row["account"], row["currency"], _money(slots[0]), _money(slots[1]), subs or "-")
    work = Table(title="tasks, transfers, chains", title_justify="left", show_header=False)
    transfers = status.get("transfers") or {}
    work.add_row("tasks pending", str(len(status["tasks"])))
    work.add_row(
        "transfers",
        f"{transfers.get('done', 0)} done, {transfers.get('in_flight', 0)} in flight, "
        f"{transfers.get('in_doubt', 0)} in doubt",
    )
    for chain in status["chains"]:
        work.add_row(f"chain {chain['chain_id']}", f"hop {chain['hop']} {chain['status']}")
    parts: list[Any] = [actors, balances, work]
    hedge = status.get("hedge")
    if hedge:
        pair = Table(title=f"hedge {hedge['market']}", title_justify="left", show_header=False)
        pair.add_row("positions", f"A {hedge['a']['position']:+.4f}  B {hedge['b']['position']:+.4f}")
        pair.add_row("net exposure", f"{hedge['net_exposure']:+.6f}")
        pair.add_row("hedges", f"{hedge['hedges_done']} done, {hedge['hedges_failed']} failed")
        pair.add_row(
            "state",
            f"[red]PAUSED: {hedge['pause_reason']}[/red]"
            if hedge["paused"]
            else (f"waiting for B ({len(hedge['unanswered'])} fills)" if hedge["unanswered"] else "idle"),
        )
        pair.add_row("PnL", f"realised {_money(hedge['realised_pnl'])}, unrealised {_money(hedge['unrealised_pnl'])}")
        parts.append(pair)
    return Group(*parts)


class StatusView:
    """Shows each status: refreshed in place when ``stream`` is a terminal, else as plain lines."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._live: Live | None = None

    def show(self, status: Mapping[str, Any], elapsed: float | None = None) -> None:
        if not self.live:
            for line in status_lines(status, elapsed):
                print(line, file=self.stream, flush=True)
            return
        tables = status_tables(status, elapsed)
        if self._live is None:
            self._live = Live(tables, console=Console(file=self.stream), auto_refresh=False)
            self._live.start()
        self._live.update(tables, refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
