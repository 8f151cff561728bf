"""What an operator sees: the system's status gathered by asking its actors, and the exit summary.

`collect_status` works from any ``ask`` function, so the in-process runtime and a hub client
(process mode) produce the same document; `status_lines` and `summary_line` render it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from messages.balances import Balances, GetBalances
from messages.base import Message
from messages.hedge import HedgeReport, HedgeStatus
from messages.reports import GetTransferStats, TransferStats
from messages.scheduling import GetHealth, HealthReport
from messages.system import ActorStatus
from messages.tasks import GetTasks, PendingTasks
from messages.transfers import Chains, GetChains

__all__ = ["collect_status", "ledger_mismatches", "status_lines", "summary_line", "unsettled_accounts"]

Ask = Callable[[str, Message], Any]


def _try(ask: Ask, name: str, message: Message) -> Any:
    try:
        return ask(name, message)
    except Exception as error:  # an actor down or restarting: report what we can
        return error


def collect_status(ask: Ask, actors: Sequence[ActorStatus], dead_letters: int, names: Iterable[str]) -> dict[str, Any]:
    """Actors, balances per slot, pending tasks, transfers, chains and hedge state, as plain data."""
    names = set(names)
    balances = _try(ask, "gateway", GetBalances()) if "gateway" in names else None
    tasks = _try(ask, "tasks", GetTasks()) if "tasks" in names else None
    stats = _try(ask, "transfers", GetTransferStats()) if "transfers" in names else None
    chains = _try(ask, "chains", GetChains()) if "chains" in names else None
    status: dict[str, Any] = {
        "actors": [msgspec.to_builtins(a) for a in actors],
        "dead_letters": dead_letters,
        "balances": [
            {"account": f"{v.exchange}.{v.account}", "currency": v.currency, "slots": list(v.slots)}
            for v in sorted(balances.views, key=lambda v: (v.exchange, v.account, v.currency))
        ]
        if isinstance(balances, Balances)
        else [],
        "tasks": [
            {
                "from": f"{k.from_exchange}.{k.from_account}",
                "to": f"{k.to_exchange}.{k.to_account}",
                "currency": k.currency,
                "amount": v.amount,
                "extra": v.extra,
            }
            for k, v in tasks.tasks
        ]
        if isinstance(tasks, PendingTasks)
        else [],
        "ledger_corrections": msgspec.to_builtins(balances.corrections) if isinstance(balances, Balances) else [],
        "transfers": msgspec.to_builtins(stats) if isinstance(stats, TransferStats) else {},
        "chains": [msgspec.to_builtins(c) for c in chains.chains] if isinstance(chains, Chains) else [],
    }
    if "health" in names:
        health = _try(ask, "health", GetHealth())
        status["health"] = msgspec.to_builtins(health) if isinstance(health, HealthReport) else None
    if "hedge_a" in names:
        hedge = _try(ask, "hedge_a", HedgeStatus())
        status["hedge"] = msgspec.to_builtins(hedge) if isinstance(hedge, HedgeReport) else None
    return status


def _money(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.6f}"


def status_lines(status: Mapping[str, Any], elapsed: float | None = None) -> list[str]:
    """The compact live status: actors and restarts, balances per slot, tasks, chains, hedge."""
    actors = status["actors"]
    running = sum(a["state"] == "running" for a in actors)
    restarts = {a["name"]: a["restarts"] for a in actors if a["restarts"]}
    when = f"[{elapsed:6.1f}s] " if elapsed is not None else ""
    lines = [
        f"{when}actors {running}/{len(actors)} running, restarts: {restarts or 'none'}, "
        f"dead letters: {status['dead_letters']}"
    ]
    rows = []
    for row in status["balances"]:
        slots = row["slots"]
        subs = ", ".join(f"s{i} {_money(v)}" for i, v in enumerate(slots) if i >= 2 and v)
        rows.append(
            f"{row['account']} {row['currency']} {_money(slots[0])} (pool {_money(slots[1])}"
            f"{', ' + subs if subs else ''})"
        )
    lines.append("  balances: " + (" | ".join(rows) or "none"))
    transfers = status.get("transfers") or {}
    chains = ", ".join(f"{c['chain_id']} hop {c['hop']} {c['status']}" for c in status["chains"]) or "none"
    lines.append(
        f"  tasks: {len(status['tasks'])} pending | transfers: {transfers.get('done', 0)} done, "
        f"{transfers.get('in_flight', 0)} in flight | chains: {chains}"
    )
    health = status.get("health")
    if health and health["checked_at"] is not None:
        silent = [a["name"] for a in health["actors"] if not a["alive"]]
        lines.append(
            f"  health: {len(health['actors']) - len(silent)}/{len(health['actors'])} alive at the last check"
            + (f"; not answering: {', '.join(silent)}" if silent else "")
        )
    hedge = status.get("hedge")
    if hedge:
        waiting = f"waiting for B ({len(hedge['unanswered'])} fills)" if hedge["unanswered"] else "idle"
        lines.append(
            f"  hedge {hedge['market']}: A {hedge['a']['position']:+.4f} B {hedge['b']['position']:+.4f} "
            f"net {hedge['net_exposure']:+.4f} | done {hedge['hedges_done']} failed {hedge['hedges_failed']}"
            f" | {'PAUSED: ' + hedge['pause_reason'] if hedge['paused'] else waiting}"
        )
    return lines


def unsettled_accounts(intents: Iterable[Any]) -> set[tuple[Any, str]]:
    """Accounts a transfer is still moving money between (open journal intents): their ledger and
    the venue may differ for a moment, legitimately."""
    accounts: set[tuple[Any, str]] = set()
    for intent in intents:
        key = intent.key
        accounts.add((key.to_exchange, key.to_account))
        if intent.status in ("sending", "in_doubt"):
            accounts.add((key.from_exchange, key.from_account))
    return accounts


def ledger_mismatches(
    views: Iterable[Any],
    venue_balances: Mapping[tuple[Any, str], Mapping[Any, float]],
    skip: set[tuple[Any, str]] | frozenset[tuple[Any, str]] = frozenset(),
) -> list[str]:
    """Ledgers whose total differs from the venue's balance by a cent or more (``skip``: accounts in motion)."""
    wrong = []
    for view in views:
        key = (view.exchange, view.account)
        if key in skip:
            continue
        venue = venue_balances.get(key, {}).get(view.currency, 0.0)
        if abs(view.total - venue) >= 0.01:
            wrong.append(f"{view.exchange}.{view.account} {view.currency}: ledger {view.total} venue {venue}")
    return wrong


def summary_line(
    status: Mapping[str, Any], conservation: Mapping[Any, float], mismatches: list[str], elapsed: float
) -> tuple[str, bool]:
    """The exit summary and whether every money check held."""
    worst = max((abs(e) for e in conservation.values()), default=0.0)
    chains = status["chains"]
    done_chains = [c for c in chains if c["status"] == "completed"]
    hedge = status.get("hedge") or {}
    restarts = sum(a["restarts"] for a in status["actors"])
    ok = worst < 0.005 and not mismatches
    parts = [
        f"ran {elapsed:.1f}s",
        f"transfers done {(status.get('transfers') or {}).get('done', 0)}",
        f"chains completed {len(done_chains)}/{len(chains)}",
        f"hedges done {hedge.get('hedges_done', 0)}, failed {hedge.get('hedges_failed', 0)}",
        f"funds conserved: {'yes' if worst < 0.005 else 'NO'} (max error {worst:.8f})",
        f"ledgers match venue: {'yes' if not mismatches else 'NO: ' + '; '.join(mismatches)}",
        f"restarts {restarts}",
        f"dead letters {status['dead_letters']}",
    ]
    return "summary: " + " | ".join(parts), ok
