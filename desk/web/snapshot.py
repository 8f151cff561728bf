"""The dashboard's document: `bin/run status --json` plus what the page shows beside it.

`Snapshots.take` asks the actors (from outside the tree), then adds named slots, task ages and
expiries, where each chain's money is now, the dead-letter list, alerts, prices and the schedule.
"""

from __future__ import annotations

from typing import Any

import msgspec

from desk.config import Deployment
from desk.status import collect_status
from desk.web.source import Source
from messages.alerts import ALERTS_ACTOR, Alerts, GetAlerts
from messages.reports import GetPrices, Prices
from messages.scheduling import GetSchedule, Schedule
from messages.tasks import GetTasks, PendingTasks

__all__ = ["Snapshots"]


def _try(source: Source, name: str, message: Any) -> Any:
    if name not in source.names:
        return None
    try:
        return source.ask(name, message)
    except Exception as error:  # an actor down or restarting: the page shows what it can
        return error


class Snapshots:
    """Takes status documents of one running system; remembers when each chain hop was first seen."""

    def __init__(self, source: Source, deployment: Deployment) -> None:
        self.source = source
        self.deployment = deployment
        self.strategies = {int(i): n for i, n in deployment.gateway.strategies.items()}
        self.routes = {(r.from_exchange, r.to_exchange): r.delay for r in deployment.venue.routes}
        self._hop_seen: dict[tuple[str, int], float] = {}

    def take(self, now: float) -> dict[str, Any]:
        source = self.source
        status = collect_status(source.ask, source.actors(), source.dead_letter_count(), source.names)
        status["at"] = now
        status["venue_errors"] = source.venue_errors()
        status["slots"] = [self._slots(row) for row in status["balances"]]
        tasks = _try(source, "tasks", GetTasks())
        expire = self.deployment.tasks.default_expire_seconds
        status["tasks"] = (
            [
                {
                    "from": f"{k.from_exchange}.{k.from_account}",
                    "to": f"{k.to_exchange}.{k.to_account}",
                    "currency": k.currency,
                    "amount": v.amount,
                    "extra": v.extra,
                    "created_at": v.timestamp / 1e6,
                    "age": max(0.0, now - v.timestamp / 1e6),
                    "expires_in": v.timestamp / 1e6 + expire - now,
                    "key": [k.from_exchange, k.from_account, k.to_exchange, k.to_account, k.currency],
                }
                for k, v in tasks.tasks
            ]
            if isinstance(tasks, PendingTasks)
            else []
        )
        status["chains"] = [self._chain(c, now) for c in status["chains"]]
        status["dead_letter_list"] = [
            {"recipient": d.recipient, "message_type": d.message_type, "reason": d.reason, "sender": d.sender}
            for d in source.dead_letters()[-50:]
        ][::-1]
        alerts = _try(source, ALERTS_ACTOR, GetAlerts())
        status["alerts"] = msgspec.to_builtins(alerts) if isinstance(alerts, Alerts) else {"open": [], "recent": []}
        prices = _try(source, "prices", GetPrices())
        status["prices"] = {c: p for c, p in prices.usd.items()} if isinstance(prices, Prices) else {}
        schedule = _try(source, "scheduler", GetSchedule())
        status["schedule"] = msgspec.to_builtins(schedule.jobs) if isinstance(schedule, Schedule) else []
        return status

    def _slots(self, row: dict[str, Any]) -> dict[str, Any]:
        """A balance row with each slot named: total, pool, then the sub-strategies by name."""
        slots = row["slots"]
        named = [{"index": 0, "name": "total", "amount": slots[0]}, {"index": 1, "name": "pool", "amount": slots[1]}]
        named += [
            {"index": i, "name": self.strategies.get(i, f"slot {i}"), "amount": v}
            for i, v in enumerate(slots)
            if i >= 2 and (v or i in self.strategies)
        ]
        exchange, _, account = row["account"].partition(".")
        return {"exchange": exchange, "account": account, "currency": row["currency"], "slots": named}

    def _chain(self, chain: dict[str, Any], now: float) -> dict[str, Any]:
        hops = [f"{h['exchange']}.{h['account']}" for h in chain["hops"]]
        hop, status = chain["hop"], chain["status"]
        first_seen = self._hop_seen.setdefault((chain["chain_id"], hop), now)
        if status == "completed":
            where = f"at {hops[-1]} (delivered)"
        elif status == "failed":
            where = f"stopped at {hops[hop]} (failed)"
        elif status == "in_flight" and hop + 1 < len(hops):
            where = f"on its way {hops[hop]} -> {hops[hop + 1]}"
        else:
            where = f"at {hops[hop]}"
        source_exchange = chain["hops"][hop]["exchange"]
        target_exchange = chain["hops"][min(hop + 1, len(hops) - 1)]["exchange"]
        usual = None
        if source_exchange != target_exchange:
            usual = self.routes.get((source_exchange, target_exchange), self.deployment.venue.default_route.delay)
        return {
            **chain,
            "route": " -> ".join(hops),
            "where": where,
            "hop_elapsed": now - first_seen,
            "usual_delay": usual,
        }
