"""The daily report: on `DailyReport` it gathers the day's figures from the other actors and logs them.

It asks by tell (never a blocking ask): transfer statistics, the hedge pair's status, prices,
health and the runtime's restart counts. Each part is a `PendingRequests` entry: accepted only
from the actor asked, while asked. When every answer is in, or after ``deadline`` seconds, it
writes the report; parts still missing are named in it, logged as an error and alerted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from actors.base import Actor
from actors.requests import DeadlineTimer, PendingRequests, RequestsDue
from actors.stores.board import BalanceBoard
from messages.alerts import AlertSeverity
from messages.base import Message
from messages.hedge import HedgeReport, HedgeStatus
from messages.reports import (
    DailyReport,
    GetPrices,
    GetReport,
    GetRuntimeStatus,
    GetTransferStats,
    Prices,
    Report,
    RuntimeStatus,
    TransferStats,
)
from messages.scheduling import GetHealth, HealthReport
from supervisor.errors import ActorError

__all__ = ["Reporter"]


class Reporter(Actor):
    """Writes the daily report. Conventional name: "report"."""

    def __init__(
        self,
        board: BalanceBoard,
        *,
        hedge: str | None = "hedge_a",
        deadline: float = 10.0,
        history: Callable[[float], Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.board = board
        self.history = history  # the runtime's history since a time (prices, fills, transfers, hedges)
        self.hedge = hedge
        self.deadline = deadline
        self.round = 0
        self.since = self.clock.now() - 24 * 3600
        self.parts: dict[str, Any] = {}
        self.expected: set[str] = set()
        self.requests: PendingRequests[int] = PendingRequests()  # context: the round asked for
        self._deadlines = DeadlineTimer(lambda delay: self.send_later(delay, self.name, RequestsDue()))
        self.last: Report | None = None

    def on_daily_report(self, message: DailyReport) -> None:
        self.round += 1
        self.parts = {}
        requests: dict[str, tuple[str, Message]] = {
            "transfers": ("transfers", GetTransferStats(since=self.since)),
            "prices": ("prices", GetPrices()),
            "health": ("health", GetHealth()),
            "runtime": ("runtime", GetRuntimeStatus()),
        }
        if self.hedge:
            requests["hedge"] = (self.hedge, HedgeStatus(reply_to=self.name))
        self.expected = set()
        for stale in self.requests.waiting():  # a previous round still waiting: it is over
            self.requests.cancel(stale.correlation_id)
        deadline = self.clock.now() + self.deadline
        for part, (target, request) in requests.items():
            try:
                self.tell(target, request)
            except ActorError as error:
                self.log.warning("report: cannot ask {} ({})", target, error)
                continue
            self.expected.add(part)
            self.requests.open(target, part, deadline, context=self.round)
        self._deadlines.arm(self.requests.next_deadline(), self.clock.now())

    def on_stop(self) -> None:
        self._deadlines.cancel()

    def on_transfer_stats(self, message: TransferStats) -> None:
        self._arrived("transfers", message)

    def on_prices(self, message: Prices) -> None:
        self._arrived("prices", message)

    def on_health_report(self, message: HealthReport) -> None:
        self._arrived("health", message)

    def on_runtime_status(self, message: RuntimeStatus) -> None:
        self._arrived("runtime", message)

    def on_hedge_report(self, message: HedgeReport) -> None:
        self._arrived("hedge", message)

    def on_requests_due(self, message: RequestsDue) -> None:
        self._deadlines.cancel()
        late = [request for request in self.requests.expired(self.clock.now()) if request.context == self.round]
        if not late or not self.expected - set(self.parts):
            return
        missing = ", ".join(f"{r.kind} (from {r.to})" for r in late)
        self.alert(
            "report.missing",
            f"daily report {self.round}: no answer within {self.deadline} s for {missing}; written without them",
            AlertSeverity.WARNING,
        )
        self._write()

    def on_get_report(self, message: GetReport) -> Report | None:
        if self.last is not None:
            self.reply(self.last)
        return self.last

    def _arrived(self, part: str, answer: Any) -> None:
        if self.requests.accept_from(self.sender, part, lambda r: r.context == self.round) is None:
            self.log.warning("report: ignored a {} part from {} that answers no open request", part, self.sender)
            return
        self.parts[part] = answer
        if set(self.parts) >= self.expected:
            self._write()

    def _history(self, since: float) -> dict[str, Any]:
        """The day as the runtime's history has it ({} without one, or when it cannot be read now)."""
        if self.history is None:
            return {}
        try:
            return dict(self.history(since))
        except Exception as error:  # a report without its history beats no report: say why
            self.log.error("the daily report goes without the history: {}", error)
            return {"error": str(error)}

    def _write(self) -> None:
        now = self.clock.now()
        transfers: TransferStats | None = self.parts.get("transfers")
        hedge: HedgeReport | None = self.parts.get("hedge")
        prices: Prices | None = self.parts.get("prices")
        health: HealthReport | None = self.parts.get("health")
        runtime: RuntimeStatus | None = self.parts.get("runtime")
        usd = prices.usd if prices else {}
        balances_usd = sum(view.total * usd.get(view.currency, 0.0) for view in self.board.views())
        report = Report(
            at=now,
            since=self.since,
            transfers_done=transfers.done if transfers else 0,
            transfer_volume=dict(transfers.volume) if transfers else {},
            transfers_in_flight=transfers.in_flight if transfers else 0,
            hedges_done=hedge.hedges_done if hedge else 0,
            hedges_failed=hedge.hedges_failed if hedge else 0,
            hedge_paused=hedge.paused if hedge else False,
            realised_pnl=hedge.realised_pnl if hedge else 0.0,
            unrealised_pnl=hedge.unrealised_pnl if hedge else 0.0,
            net_exposure=hedge.net_exposure if hedge else 0.0,
            restarts={a.name: a.restarts for a in runtime.actors if a.restarts} if runtime else {},
            balances_usd=round(balances_usd, 2),
            actors_alive=sum(a.alive for a in health.actors) if health else 0,
            actors_watched=len(health.actors) if health else 0,
            missing=sorted(self.expected - set(self.parts)),
            history=self._history(self.since),
        )
        self.last, self.since, self.expected = report, now, set()
        volume = ", ".join(f"{v:,.2f} {c}" for c, v in report.transfer_volume.items()) or "none"
        self.log.info(
            "daily report: {} transfers ({}), {} in flight; hedges {} done, {} failed{}; PnL realised {:.2f}, "
            "unrealised {:.2f}, net exposure {:g}; restarts {}; balances {:,.2f} USD; {}/{} actors alive{}",
            report.transfers_done,
            volume,
            report.transfers_in_flight,
            report.hedges_done,
            report.hedges_failed,
            " (PAUSED)" if report.hedge_paused else "",
            report.realised_pnl,
            report.unrealised_pnl,
            report.net_exposure,
            report.restarts or "none",
            report.balances_usd,
            report.actors_alive,
            report.actors_watched,
            f"; missing: {', '.join(report.missing)}" if report.missing else "",
        )
