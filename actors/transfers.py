"""The transfer executor: when a run is due, move money for pending tasks whose source has it free - once.

Before a transfer is sent its intent (with a client id derived from the task) is journaled.
After a crash or a timeout the executor asks the venue about that client id before ever
sending again, so one task pays once. On success it removes the task, adjusts both ledgers
(the destination when the money arrives) and runs the follow-up named by the task's extra.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from actors.base import Actor
from actors.followups import FollowUps
from actors.venues.base import Venue, VenueError, VenueTimeout
from messages.balances import Adjust, BalanceView
from messages.reports import GetTransferStats, TransferStats
from messages.system import Rejected
from messages.tasks import GetTasks, PendingTasks, TaskSucceeded, TransferTaskKey, TransferTaskValue
from messages.transfers import RunTransfers, TransferSent, TransfersRun
from messages.venue import TransferResult, TransferStatus
from actors.stores.board import BalanceBoard
from actors.stores.journal import Journal, TransferIntent

__all__ = ["TransferExecutor", "client_id_for"]

# Intent states: "sending" (written before the venue call), "in_doubt" (the call timed out),
# "in_flight" (accepted, not arrived), "done" (arrived and both ledgers adjusted), "failed" (nothing moved).
UNSETTLED = ("sending", "in_doubt")


def client_id_for(key: TransferTaskKey, task_timestamp: int, attempt: int) -> str:
    """The venue client id of attempt ``attempt`` at the task created at ``task_timestamp``.

    Derived, not random, so a restarted executor computes the same id and the venue's
    idempotency protects against paying twice.
    """
    identity = "|".join(str(part) for part in (*key, task_timestamp))
    return f"t-{hashlib.sha1(identity.encode()).hexdigest()[:20]}-{attempt}"


class TransferExecutor(Actor):
    """Runs pending transfer tasks on `RunTransfers`, exactly once per task instance.

    ``follow_ups`` maps an ``extra`` name to a handler called with the `TransferSent`; the
    forms ``actor:NAME`` and ``chain:ID:HOP`` notify actors instead (see `actors.followups`).
    """

    def __init__(
        self,
        venue: Venue,
        board: BalanceBoard,
        journal: Journal,
        *,
        tasks: str = "tasks",
        gateway: str = "gateway",
        chains: str = "chains",
        follow_ups: Mapping[str, Callable[[Any], None]] | None = None,
    ) -> None:
        super().__init__()
        self.venue = venue
        self.board = board
        self.intents = journal.intents
        self.tasks_actor = tasks
        self.gateway = gateway
        self.follow_ups = FollowUps(self.tell, follow_ups, chains)
        self._awaiting: str | None = None  # correlation id of the snapshot we wait for
        self._pending_runs: list[RunTransfers] = []
        self._runs = 0

    # ---- a run ------------------------------------------------------------------------------

    def on_run_transfers(self, message: RunTransfers) -> None:
        """Start a run: settle what is in doubt or in flight, then ask for a task snapshot."""
        self._pending_runs.append(message)
        if self._awaiting is not None:
            return  # a run is waiting for its snapshot; this request joins it
        self._runs += 1
        self._awaiting = f"{self.name}-{self._runs}"
        self.tell(self.tasks_actor, GetTasks(reply_to=self.name, correlation_id=self._awaiting))

    def on_pending_tasks(self, message: PendingTasks) -> None:
        if message.correlation_id != self._awaiting:
            return  # the answer to a run of a previous incarnation
        requests, self._pending_runs, self._awaiting = self._pending_runs, [], None
        resolved = self._settle_open_intents()
        sent = skipped = failed = 0
        spent: dict[tuple[Any, str, Any], float] = {}  # sent this run, not yet on the board
        for key, value in message.tasks:
            outcome = self._execute(key, value, spent)
            sent += outcome == "sent"
            skipped += outcome == "skipped"
            failed += outcome == "failed"
        reason = ",".join(sorted({r.reason for r in requests}))
        summary = TransfersRun(
            reason=reason, considered=len(message.tasks), sent=sent, skipped=skipped, failed=failed, resolved=resolved
        )
        if sent or failed or resolved:
            self.log.info(
                "run ({}): {} tasks, {} sent, {} skipped, {} failed, {} settled",
                reason, len(message.tasks), sent, skipped, failed, resolved,
            )
        for request in requests:
            if request.reply_to:
                self.tell(request.reply_to, summary)

    def _execute(self, key: TransferTaskKey, value: TransferTaskValue, spent: dict[tuple[Any, str, Any], float]) -> str:
        """Send one task's transfer if its money is free and it was not sent already."""
        attempts = self.intents.for_task(key, value.timestamp)
        for intent in attempts:
            if intent.status in UNSETTLED:
                return "skipped"  # still in doubt: never send again before the venue has answered
            if intent.status in ("in_flight", "done"):
                self.tell(self.tasks_actor, TaskSucceeded(key, value.timestamp))  # idempotent repeat
                return "skipped"
        source = (key.from_exchange, key.from_account, key.currency)
        view = self.board.read(*source)
        if view is None or view.pool - spent.get(source, 0.0) < value.amount:
            return "skipped"
        spent[source] = spent.get(source, 0.0) + value.amount
        now = self.clock.now()
        intent = TransferIntent(
            client_id=client_id_for(key, value.timestamp, len(attempts) + 1),
            key=key,
            task_timestamp=value.timestamp,
            amount=value.amount,
            status="sending",
            attempt=len(attempts) + 1,
            created_at=now,
            updated_at=now,
            extra=value.extra,
        )
        self.intents.record(intent)  # before the venue call: a crash during it leaves "sending"
        try:
            result = self.venue.transfer(
                intent.client_id,
                key.from_exchange,
                key.from_account,
                key.to_exchange,
                key.to_account,
                key.currency,
                value.amount,
            )
        except VenueTimeout as error:
            self._update(intent, status="in_doubt", reason=str(error))
            self.log.warning("transfer {} timed out; will ask the venue before any retry", intent.client_id)
            return "failed"
        except VenueError as error:
            self._update(intent, status="failed", reason=f"{type(error).__name__}: {error}")
            self.log.warning("transfer {} refused by the venue: {}", intent.client_id, error)
            return "failed"
        return "failed" if self._apply(intent, result).status == "failed" else "sent"

    def on_balance_view(self, message: BalanceView) -> None:
        """The gateway's acknowledgement of an Adjust: nothing to do."""

    def on_rejected(self, message: Rejected) -> None:
        self.log.error("the gateway refused a ledger adjustment ({}); the next reconcile will correct the ledger",
                       message.reason)

    def on_get_transfer_stats(self, message: GetTransferStats) -> TransferStats:
        """Transfers settled since ``message.since``, what is still moving, and refused attempts."""
        done = self.intents.with_status("done", message.since)
        volume: dict[Any, float] = {}
        for intent in done:
            volume[intent.key.currency] = volume.get(intent.key.currency, 0.0) + intent.amount
        stats = TransferStats(
            done=len(done),
            volume=volume,
            in_flight=len(self.intents.with_status("in_flight")),
            in_doubt=len(self.intents.with_status("in_doubt")) + len(self.intents.with_status("sending")),
            failed_attempts=len(self.intents.with_status("failed", message.since)),
        )
        return self.reply(stats)  # type: ignore[return-value]

    # ---- outcomes ---------------------------------------------------------------------------

    def _apply(self, intent: TransferIntent, result: TransferResult) -> TransferIntent:
        """Book the venue's answer for ``intent``; returns the intent as journaled now."""
        if result.status in (TransferStatus.FAILED, TransferStatus.CANCELED):
            self.log.warning("transfer {} {}: {}", intent.client_id, result.status.value, result.reason)
            return self._update(intent, status="failed", reason=result.reason or result.status.value)
        key = intent.key
        if not intent.source_adjusted:
            self._adjust(key.from_exchange, key.from_account, key, -intent.amount, f"{intent.client_id}:out",
                         result.created_at or None)
            intent = self._update(intent, source_adjusted=True, fee=result.fee)
            self.tell(self.tasks_actor, TaskSucceeded(key, intent.task_timestamp))
            self.follow_ups.run(
                intent.extra,
                TransferSent(key, intent.client_id, intent.amount, result.status, intent.extra, result.fee),
            )
        if result.status is TransferStatus.OK:
            return self._arrived(intent, result)
        if intent.status != "in_flight":
            intent = self._update(intent, status="in_flight")
        return intent

    def _arrived(self, intent: TransferIntent, result: TransferResult) -> TransferIntent:
        key = intent.key
        if not intent.destination_adjusted:
            credited = intent.amount - result.fee
            arrived_at = result.completed_at or result.created_at or None
            self._adjust(key.to_exchange, key.to_account, key, credited, f"{intent.client_id}:in", arrived_at)
        return self._update(intent, status="done", destination_adjusted=True, fee=result.fee)

    def _settle_open_intents(self) -> int:
        """Ask the venue about every transfer in doubt or in flight; returns how many settled."""
        settled = 0
        for intent in self.intents.open_intents():
            try:
                result = self.venue.fetch_transfer(intent.client_id)
            except VenueError as error:
                self.log.warning("cannot check transfer {} now: {}", intent.client_id, error)
                continue
            if result is None:
                if intent.status in UNSETTLED:
                    # The venue never saw it: nothing moved, the task may be tried again.
                    self._update(intent, status="failed", reason="the venue never received it")
                    settled += 1
                continue
            if self._apply(intent, result).status != intent.status:
                settled += 1
        return settled

    def _adjust(
        self, exchange: Any, account: str, key: TransferTaskKey, delta: float, ref: str, occurred_at: float | None
    ) -> None:
        """Tell the gateway about a venue movement; ``occurred_at`` lets it skip what a fresh snapshot counted."""
        self.tell(
            self.gateway,
            Adjust(currency=key.currency, delta=delta, exchange=exchange, account=account, ref=ref,
                   strategy=self.name, occurred_at=occurred_at),
        )

    def _update(self, intent: TransferIntent, **changes: Any) -> TransferIntent:
        updated = msgspec.structs.replace(intent, updated_at=self.clock.now(), **changes)
        self.intents.record(updated)
        return updated
