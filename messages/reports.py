"""Prices, statistics and the daily report: what the desk is worth and what it did."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from messages.base import Message
from messages.common import Currency
from messages.system import ActorStatus

__all__ = [
    "DailyReport",
    "GetPrices",
    "GetReport",
    "GetRuntimeStatus",
    "GetSystemInfo",
    "GetTransferStats",
    "Prices",
    "Report",
    "RuntimeStatus",
    "SystemInfo",
    "TransferStats",
    "UpdatePrices",
]


class UpdatePrices(Message, frozen=True):
    """Fetch the venue's tickers now (the scheduler sends it every 10 s)."""


class GetPrices(Message, frozen=True):
    """Answer: `Prices`."""


class Prices(Message, frozen=True):
    """The value of one unit of each currency in USD, and when they were fetched."""

    actor_only: ClassVar[bool] = True

    usd: dict[Currency, float]
    updated_at: float | None = None


class GetTransferStats(Message, frozen=True):
    """Answer: `TransferStats`, counting transfers settled at or after ``since`` (all when 0)."""

    since: float = 0.0


class TransferStats(Message, frozen=True):
    actor_only: ClassVar[bool] = True

    done: int
    volume: dict[Currency, float]
    in_flight: int
    in_doubt: int  # how many transfers' outcome is unknown (timed out, or the venue has no record)
    failed_attempts: int
    unknown: list[str] = msgspec.field(default_factory=list)  # their client ids: alerted, never re-sent


class GetRuntimeStatus(Message, frozen=True):
    """Sent to the reserved name ``"runtime"``: the runtime answers `RuntimeStatus` itself."""


class RuntimeStatus(Message, frozen=True):
    actor_only: ClassVar[bool] = True

    actors: list[ActorStatus]
    dead_letters: int


class DailyReport(Message, frozen=True):
    """Gather the day's figures and log the report (the scheduler sends it at 08:00)."""


class GetReport(Message, frozen=True):
    """Answer: the last `Report` (or None before the first)."""


class Report(Message, frozen=True):
    """The daily report: transfers, hedging, PnL, restarts, balances in USD."""

    at: float
    since: float
    transfers_done: int
    transfer_volume: dict[Currency, float]
    transfers_in_flight: int
    hedges_done: int
    hedges_failed: int
    hedge_paused: bool
    realised_pnl: float
    unrealised_pnl: float
    net_exposure: float
    restarts: dict[str, int]
    balances_usd: float
    actors_alive: int
    actors_watched: int
    missing: list[str]
    history: dict[str, Any] = msgspec.field(default_factory=dict)  # the day in the runtime's history


class GetSystemInfo(Message, frozen=True):
    """Sent to ``"runtime"`` by a node joining from another host: answer `SystemInfo`."""


class SystemInfo(Message, frozen=True):
    """What a node joining from another host needs: the deployment it is part of (as JSON) and
    the venue's ports on the hub's host."""

    names: list[str]
    deployment_json: str
    venue_rpc_port: int | None = None
    venue_fills_port: int | None = None
