"""The transfer executor: when a run is due, move money for pending tasks whose source has it free - once.

Before a transfer is sent its intent (with a client id derived from the task) is journaled.
After a crash or a timeout the executor asks the venue about that client id before ever
sending again, so one task pays once. On success it removes the task, adjusts both ledgers
(the destination when the money arrives) and runs the follow-up named by the task's extra.
A transfer whose outcome the venue cannot tell (a timeout, a client id it cannot find) is
"unknown": alerted, shown in `TransferStats`, never re-sent until the venue resolves it.
Every reply it waits for (the task snapshot, the reservation, the gateway's booking) has a
deadline. A transfer in flight longer than ``overdue_after`` is alerted. (~610 lines: a run's steps - snapshot, reservation, send, settle, book - share the
journaled intent and the pending requests; the bookkeeping lives in the journal and `actors.requests`.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from actors.base import Actor
from actors.followups import FollowUps
from actors.requests import DeadlineTimer, PendingRequest, PendingRequests, RequestsDue
from actors.stores.board import BalanceBoard
from actors.stores.journal import IntentStatus, Journal, TransferIntent
from actors.venues.base import Venue, VenueError, VenueOutcomeUnknown, VenueTimeout
from messages.alerts import AlertSeverity
from messages.balances import Booking, FundsReserved, MovementBooked, ReleaseFunds, ReserveFunds, VenueMovement
from messages.reports import GetTransferStats, TransferStats
from messages.system import Rejected
from messages.tasks import GetTasks, PendingTasks, TaskSucceeded, TransferTaskKey, TransferTaskValue
from messages.transfers import ResolveTransfer, RunTransfers, TransferResolved, TransferSent, TransfersRun
from messages.venue import TransferResult, TransferStatus

__all__ = ["TransferExecutor", "client_id_for"]

# Intent states: "sending" (written before the venue call), "in_doubt" (the call timed out, or the venue
# could not find it: shown as "unknown"), "in_flight" (accepted, not arrived), "done" (arrived and both
# ledgers adjusted), "failed" (the venue refused it: nothing moved).
UNSETTLED = (IntentStatus.SENDING, IntentStatus.IN_DOUBT)
_SNAPSHOT, _BOOKING, _RESERVING = "tasks", "booking", "reserve"  # the kinds of reply the executor waits for


@dataclass(frozen=True)
class _Reservation:
    """A task whose money the executor asked the gateway to hold before sending it."""

    key: TransferTaskKey
    value: TransferTaskValue
    client_id: str


@dataclass
class _Run:
    """One run in progress: who asked for it, what it found, the reservations still unanswered."""

    requests: list[RunTransfers]
    considered: int
    resolved: int = 0
    reserving: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def summary(self) -> TransfersRun:
        done = self.outcomes.get
        return TransfersRun(
            reason=",".join(sorted({r.reason for r in self.requests})),
            considered=self.considered,
            sent=done("sent", 0),
            skipped=done("skipped", 0),
            failed=done("failed", 0),
            resolved=self.resolved,
            unknown=done("unknown", 0),
        )


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
    A reply not in within ``reply_timeout`` seconds is asked again, up to ``max_asks`` times in
    all; then the executor raises an alert (a run's requesters are told `Rejected`).
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
        reply_timeout: float = 10.0,
        max_asks: int = 3,
        overdue_after: float = 3600.0,
    ) -> None:
        super().__init__()
        if not reply_timeout > 0 or max_asks < 1 or not overdue_after > 0:
            raise ValueError(
                f"reply_timeout and overdue_after must be > 0 and max_asks >= 1, "
                f"got {reply_timeout!r}, {overdue_after!r}, {max_asks!r}"
            )
        self.overdue_after = overdue_after  # seconds a transfer may be in flight before it is alerted
        self.venue = venue
        self.board = board
        self.intents = journal.intents
        self.tasks_actor = tasks
        self.gateway = gateway
        self.follow_ups = FollowUps(self.tell, follow_ups, chains)
        self.reply_timeout = reply_timeout
        self.max_asks = max_asks
        self.requests: PendingRequests[Any] = PendingRequests()  # context: a VenueMovement or a _Reservation
        self._pending_runs: list[RunTransfers] = []
        self._run: _Run | None = None
        self._deadlines = DeadlineTimer(lambda delay: self.send_later(delay, self.name, RequestsDue()))
        self._alerted: set[str] = set()  # kinds of request given up on (alert raised)
        self._unknown_alerted: set[str] = set()  # client ids alerted as unknown by this incarnation
        self._overdue: set[str] = set()  # client ids alerted as in flight past overdue_after

    # ---- a run ------------------------------------------------------------------------------

    def on_run_transfers(self, message: RunTransfers) -> None:
        """Start a run: settle what is in doubt or in flight, then ask for a task snapshot."""
        self._pending_runs.append(message)
        if self.requests.waiting(_SNAPSHOT) or self._run is not None:
            return  # a run is waiting for its snapshot or its reservations; this request joins the next
        self._ask_for_tasks(1)

    def _ask_for_tasks(self, attempt: int) -> None:
        correlation_id = self._open(self.tasks_actor, _SNAPSHOT, attempt)
        self.tell(self.tasks_actor, GetTasks(reply_to=self.name, correlation_id=correlation_id))

    def _open(self, to: str, kind: str, attempt: int, context: Any = None) -> str:
        """Open a request with a deadline on our clock (the timer tells us `RequestsDue`)."""
        correlation_id = self.requests.open(
            to, kind, self.clock.now() + self.reply_timeout, attempt=attempt, context=context
        )
        self._deadlines.arm(self.requests.next_deadline(), self.clock.now())
        return correlation_id

    def on_stop(self) -> None:
        self._deadlines.cancel()

    def on_pending_tasks(self, message: PendingTasks) -> None:
        if self.requests.accept(message.correlation_id, self.sender) is None:
            self.log.warning("ignored a task snapshot from {} that answers no request of ours", self.sender)
            return  # a forgery, or the answer to a run of a previous incarnation or an earlier ask
        self._resolve_silence(_SNAPSHOT, f"{self.tasks_actor} answers again")
        for stale in self.requests.waiting(_SNAPSHOT):  # an earlier ask answered late: no second run for it
            self.requests.cancel(stale.correlation_id)
        run = self._run = _Run(self._pending_runs, len(message.tasks))
        self._pending_runs = []
        run.resolved = self._settle_open_intents()
        self._alert_overdue()
        spent: dict[tuple[Any, str, Any], float] = {}  # reserved this run, not yet on the board
        for key, value in message.tasks:
            outcome = self._check(key, value, spent)
            if outcome:
                run.count(outcome)
        self._maybe_finish()

    def _check(self, key: TransferTaskKey, value: TransferTaskValue, spent: dict[tuple[Any, str, Any], float]) -> str:
        """Reserve one task's money at the gateway if it is free and was not sent already ("" when reserving)."""
        attempts = self.intents.for_task(key, value.timestamp)
        for intent in attempts:
            if intent.status in UNSETTLED:
                return "skipped"  # still in doubt: never send again before the venue has answered
            if intent.status in (IntentStatus.IN_FLIGHT, IntentStatus.DONE):
                self.tell(self.tasks_actor, TaskSucceeded(key, value.timestamp))  # idempotent repeat
                return "skipped"
        source = (key.from_exchange, key.from_account, key.currency)
        view = self.board.read(*source)
        if view is None or view.pool - spent.get(source, 0.0) < value.amount:
            return "skipped"
        spent[source] = spent.get(source, 0.0) + value.amount
        self._reserve(_Reservation(key, value, client_id_for(key, value.timestamp, len(attempts) + 1)), 1)
        return ""

    def _reserve(self, reservation: _Reservation, attempt: int) -> None:
        """Ask the gateway to hold the money (the board may be stale: a strategy may have allocated it)."""
        assert self._run is not None
        key = reservation.key
        correlation_id = self._open(self.gateway, _RESERVING, attempt, context=reservation)
        if attempt == 1:
            self._run.reserving += 1
        self.tell(
            self.gateway,
            ReserveFunds(
                exchange=key.from_exchange,
                account=key.from_account,
                currency=key.currency,
                amount=reservation.value.amount,
                ref=reservation.client_id,
                correlation_id=correlation_id,
            ),
        )

    def on_funds_reserved(self, message: FundsReserved) -> None:
        request = self.requests.accept(message.correlation_id, self.sender)
        if request is None or self._run is None or not isinstance(request.context, _Reservation):
            return  # a late answer to a reservation asked again or given up (it expires at the gateway)
        self._resolve_silence(_RESERVING, f"{self.gateway} answers again")
        reservation = request.context
        if message.ok:
            outcome = self._send(reservation)
            if outcome == "failed":
                self.tell(self.gateway, ReleaseFunds(ref=reservation.client_id))
        else:
            self.log.info(
                "transfer {} not sent: the gateway holds no money for it ({})", reservation.client_id, message.reason
            )
            outcome = "skipped"
        self._run.count(outcome)
        self._run.reserving -= 1
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        """When the run's last reservation is answered: tell its summary, then start a run that waited."""
        run = self._run
        if run is None or run.reserving:
            return
        self._run = None
        summary = run.summary()
        if summary.sent or summary.failed or summary.resolved or summary.unknown:
            self.log.info(
                "run ({}): {} tasks, {} sent, {} skipped, {} failed, {} unknown, {} settled",
                summary.reason,
                summary.considered,
                summary.sent,
                summary.skipped,
                summary.failed,
                summary.unknown,
                summary.resolved,
            )
        for request in run.requests:
            if request.reply_to:
                self.tell(request.reply_to, summary)
        if self._pending_runs and not self.requests.waiting(_SNAPSHOT):
            self._ask_for_tasks(1)

    def _send(self, reservation: _Reservation) -> str:
        """Journal the intent, then call the venue: "sent", "failed" (refused) or "unknown" (timed out)."""
        key, value = reservation.key, reservation.value
        attempt = len(self.intents.for_task(key, value.timestamp)) + 1
        now = self.clock.now()
        intent = TransferIntent(
            client_id=client_id_for(key, value.timestamp, attempt),
            key=key,
            task_timestamp=value.timestamp,
            amount=value.amount,
            status=IntentStatus.SENDING,
            attempt=attempt,
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
            self._update(intent, status=IntentStatus.IN_DOUBT, reason=str(error))
            self.alert(
                f"{self.name}.unknown.{intent.client_id}",
                f"transfer {intent.client_id} timed out: outcome unknown until the venue is asked (next run); "
                "it is not sent again before",
                AlertSeverity.WARNING,
            )
            return "unknown"
        except VenueError as error:
            self._update(intent, status=IntentStatus.FAILED, reason=f"{type(error).__name__}: {error}")
            self.log.warning("transfer {} refused by the venue: {}", intent.client_id, error)
            return "failed"
        return "failed" if self._apply(intent, result).status == IntentStatus.FAILED else "sent"

    def on_movement_booked(self, message: MovementBooked) -> None:
        """The gateway's answer to one of our `VenueMovement`s."""
        if self.requests.accept(message.correlation_id, self.sender) is None:
            return  # answered after we asked again (the repeat is answered too), or not ours
        self._resolve_silence(_BOOKING, f"{self.gateway} answers again")
        if message.outcome is Booking.REFUSED:
            self.log.error(
                "the gateway refused to book {} ({}); the next reconcile corrects the ledger",
                message.ref,
                message.reason,
            )

    def on_requests_due(self, message: RequestsDue) -> None:
        """Deadlines: ask again, or after ``max_asks`` give up loudly."""
        now = self.clock.now()
        self._deadlines.cancel()
        for request in self.requests.expired(now):
            if request.attempt < self.max_asks:
                self.log.warning(
                    "{} did not answer our {} request in {} s (ask {} of {}); asking again",
                    request.to,
                    request.kind,
                    self.reply_timeout,
                    request.attempt,
                    self.max_asks,
                )
                self._ask_again(request)
            else:
                self._give_up(request)
        self._deadlines.arm(self.requests.next_deadline(), self.clock.now())

    def _ask_again(self, request: PendingRequest[Any]) -> None:
        if request.kind == _SNAPSHOT:
            self._ask_for_tasks(request.attempt + 1)
        elif request.kind == _RESERVING and request.context is not None:
            self._reserve(request.context, request.attempt + 1)  # idempotent: the ref renews its hold
        elif request.context is not None:
            self._book(request.context, request.attempt + 1)

    def _give_up(self, request: PendingRequest[Any]) -> None:
        self._alerted.add(request.kind)
        if request.kind == _RESERVING:
            self.alert(
                f"{self.name}.{request.kind}.unanswered",
                f"{request.to} did not answer {self.max_asks} reservation requests for transfer "
                f"{request.context and request.context.client_id}; not sent this run",
            )
            if self._run is not None:
                self._run.count("skipped")
                self._run.reserving -= 1
                self._maybe_finish()
        elif request.kind == _SNAPSHOT:
            runs, self._pending_runs = self._pending_runs, []
            text = (
                f"{request.to} did not answer {self.max_asks} task-snapshot requests "
                f"({self.reply_timeout} s each); {len(runs)} run(s) dropped, the next RunTransfers asks again"
            )
            self.alert(f"{self.name}.{request.kind}.unanswered", text)
            for run in runs:
                if run.reply_to:
                    self.tell(run.reply_to, Rejected(reason=text, message_type="RunTransfers"))
        else:
            movement = request.context
            self.alert(
                f"{self.name}.{request.kind}.unanswered",
                f"{request.to} did not acknowledge the ledger movement {movement and movement.ref} after "
                f"{self.max_asks} asks; the next reconcile sets the ledger from the venue",
            )

    def _resolve_silence(self, kind: str, text: str) -> None:
        if kind in self._alerted:
            self._alerted.discard(kind)
            self.resolve_alert(f"{self.name}.{kind}.unanswered", text)

    def on_resolve_transfer(self, message: ResolveTransfer) -> TransferResolved | Rejected:
        """The operator's word on an unknown transfer: book it as moved, or release its task."""
        intent = self.intents.get(message.client_id)
        if intent is None or intent.status not in UNSETTLED:
            state = "no such transfer" if intent is None else f"it is {intent.status}, not unknown"
            refused = Rejected(reason=f"cannot resolve {message.client_id}: {state}", message_type="ResolveTransfer")
            return self.reply(refused)
        key = intent.key
        # Both legs are stamped with the moment the transfer was journaled, the earliest it can have
        # moved: a snapshot taken since then counts them already (the next reconcile repairs the rest).
        result = TransferResult(
            client_id=intent.client_id,
            status=TransferStatus.OK if message.moved else TransferStatus.FAILED,
            from_exchange=key.from_exchange,
            from_account=key.from_account,
            to_exchange=key.to_exchange,
            to_account=key.to_account,
            currency=key.currency,
            amount=intent.amount,
            fee=message.fee,
            reason=f"resolved by the operator: {message.note or 'no note'}",
            created_at=intent.created_at,
            completed_at=intent.created_at,
        )
        self.log.warning(
            "transfer {} resolved by the operator as {} ({})",
            intent.client_id,
            "moved" if message.moved else "not moved",
            message.note or "no note",
        )
        settled = self._apply(intent, result)
        self.resolve_alert(f"{self.name}.unknown.{intent.client_id}", f"resolved by the operator: {settled.status}")
        answer = TransferResolved(client_id=intent.client_id, status=settled.status)
        return self.reply(answer)

    def on_get_transfer_stats(self, message: GetTransferStats) -> TransferStats:
        """Transfers settled since ``message.since``, what is still moving, and refused attempts."""
        done = self.intents.with_status(IntentStatus.DONE, message.since)
        unknown = self.intents.with_status(IntentStatus.SENDING) + self.intents.with_status(IntentStatus.IN_DOUBT)
        volume: dict[Any, float] = {}
        for intent in done:
            volume[intent.key.currency] = volume.get(intent.key.currency, 0.0) + intent.amount
        stats = TransferStats(
            done=len(done),
            volume=volume,
            in_flight=len(self.intents.with_status(IntentStatus.IN_FLIGHT)),
            in_doubt=len(unknown),
            failed_attempts=len(self.intents.with_status(IntentStatus.FAILED, message.since)),
            unknown=[intent.client_id for intent in unknown],
        )
        return self.reply(stats)

    # ---- outcomes ---------------------------------------------------------------------------

    def _apply(self, intent: TransferIntent, result: TransferResult) -> TransferIntent:
        """Book the venue's answer for ``intent``; returns the intent as journaled now."""
        if result.status in (TransferStatus.FAILED, TransferStatus.CANCELED):
            self.log.warning("transfer {} {}: {}", intent.client_id, result.status.value, result.reason)
            return self._update(intent, status=IntentStatus.FAILED, reason=result.reason or result.status.value)
        key = intent.key
        if not intent.source_adjusted:
            self._adjust(
                key.from_exchange,
                key.from_account,
                key,
                -intent.amount,
                f"{intent.client_id}:out",
                result.created_at or None,
            )
            intent = self._update(intent, source_adjusted=True, fee=result.fee)
            self.tell(self.tasks_actor, TaskSucceeded(key, intent.task_timestamp))
            self.follow_ups.run(
                intent.extra,
                TransferSent(key, intent.client_id, intent.amount, result.status, intent.extra, result.fee),
            )
        if result.status is TransferStatus.OK:
            return self._arrived(intent, result)
        if intent.status != IntentStatus.IN_FLIGHT:
            intent = self._update(intent, status=IntentStatus.IN_FLIGHT)
        return intent

    def _arrived(self, intent: TransferIntent, result: TransferResult) -> TransferIntent:
        key = intent.key
        if not intent.destination_adjusted:
            credited = intent.amount - result.fee
            arrived_at = result.completed_at or result.created_at or None
            self._adjust(key.to_exchange, key.to_account, key, credited, f"{intent.client_id}:in", arrived_at)
        return self._update(intent, status=IntentStatus.DONE, destination_adjusted=True, fee=result.fee)

    def _settle_open_intents(self) -> int:
        """Ask the venue about every transfer in doubt or in flight; returns how many settled.

        By client id first, then by the destination's history (a deposit naming the client id).
        One the venue knows nothing of is sent again under the same client id (the venue
        dedupes by it); if that cannot be done either it stays "unknown" (alerted), never
        "failed", and its task is never sent under a new id until it is resolved.
        """
        settled = 0
        for intent in self.intents.open_intents():
            try:
                result = self.venue.fetch_transfer(intent.client_id)
                if result is None and intent.status in UNSETTLED:
                    result = self._from_history(intent)
            except VenueOutcomeUnknown as error:  # the venue says it cannot tell: unknown, alerted
                self.log.warning("transfer {} cannot be settled at the venue: {}", intent.client_id, error)
                if intent.status in UNSETTLED:
                    self._unknown(intent)
                continue
            except VenueError as error:
                self.log.warning("cannot check transfer {} now: {}", intent.client_id, error)
                continue
            if result is None and intent.status in UNSETTLED:
                result = self._send_again_under_its_id(intent)
            if result is None:
                if intent.status in UNSETTLED:
                    self._unknown(intent)
                continue
            if self._apply(intent, result).status != intent.status:
                settled += 1
                if intent.status in UNSETTLED:
                    self.resolve_alert(
                        f"{self.name}.unknown.{intent.client_id}",
                        f"transfer {intent.client_id} resolved at the venue: {result.status.value}",
                    )
        return settled

    def _send_again_under_its_id(self, intent: TransferIntent) -> TransferResult | None:
        """The venue has no record of ``intent``: send it again under the same client id, or None.

        Safe by the venue's contract: a repeated client id never moves money twice, it returns
        the first result (an adapter that cannot promise that raises `VenueOutcomeUnknown`). So
        a request lost on its way, or cut short by a crash before it left, is made exactly once.
        """
        key = intent.key
        try:
            result = self.venue.transfer(
                intent.client_id,
                key.from_exchange,
                key.from_account,
                key.to_exchange,
                key.to_account,
                key.currency,
                intent.amount,
            )
        except VenueError as error:
            self.log.warning(
                "transfer {} unknown to the venue, and sending it again under its id failed: {}",
                intent.client_id,
                error,
            )
            return None
        self.log.info(
            "transfer {} was unknown to the venue; sent again under its id: {}", intent.client_id, result.status.value
        )
        return result

    def _from_history(self, intent: TransferIntent) -> TransferResult | None:
        """The transfer as the destination's deposits show it (credited under our client id), or None."""
        key = intent.key
        deposit = next(
            (d for d in self.venue.fetch_deposits(key.to_exchange, key.to_account) if d.client_id == intent.client_id),
            None,
        )
        if deposit is None:
            return None
        self.log.info(
            "transfer {} found in the history of {}.{}: {} arrived",
            intent.client_id,
            key.to_exchange,
            key.to_account,
            deposit.amount,
        )
        return TransferResult(
            client_id=intent.client_id,
            status=TransferStatus.OK,
            from_exchange=key.from_exchange,
            from_account=key.from_account,
            to_exchange=key.to_exchange,
            to_account=key.to_account,
            currency=key.currency,
            amount=intent.amount,
            fee=round(intent.amount - deposit.amount, 8),
            created_at=intent.created_at,
            completed_at=deposit.credited_at,
        )

    def _unknown(self, intent: TransferIntent) -> None:
        """The venue cannot tell what became of ``intent``: unknown, alerted, not sent again."""
        if intent.status != IntentStatus.IN_DOUBT:
            intent = self._update(intent, status=IntentStatus.IN_DOUBT, reason="the venue has no record of it (yet)")
        if intent.client_id in self._unknown_alerted:
            return
        self._unknown_alerted.add(intent.client_id)
        self.alert(
            f"{self.name}.unknown.{intent.client_id}",
            f"{_described(intent)}: outcome unknown, the venue has no record of it; its task is not sent"
            " again until the venue shows what happened",
        )

    def _adjust(
        self, exchange: Any, account: str, key: TransferTaskKey, delta: float, ref: str, occurred_at: float | None
    ) -> None:
        """Tell the gateway about a venue movement; ``occurred_at`` places it against the ledger's snapshots."""
        self._book(
            VenueMovement(
                exchange=exchange, account=account, currency=key.currency, delta=delta, ref=ref, occurred_at=occurred_at
            ),
            1,
        )

    def _book(self, movement: VenueMovement, attempt: int) -> None:
        """Send ``movement`` under a fresh correlation id and wait for `MovementBooked` (idempotent by ref)."""
        correlation_id = self._open(self.gateway, _BOOKING, attempt, context=movement)
        self.tell(self.gateway, msgspec.structs.replace(movement, correlation_id=correlation_id))

    def _update(self, intent: TransferIntent, **changes: Any) -> TransferIntent:
        updated = msgspec.structs.replace(intent, updated_at=self.clock.now(), **changes)
        self.intents.record(updated)
        # in flight past its limit, so alerted (maybe by an earlier incarnation): the alert ends here
        overdue = updated.updated_at - updated.created_at > self.overdue_after
        if intent.status == IntentStatus.IN_FLIGHT and updated.status != IntentStatus.IN_FLIGHT and overdue:
            self._overdue.discard(updated.client_id)
            self.resolve_alert(
                f"{self.name}.overdue.{updated.client_id}", f"transfer {updated.client_id} is {updated.status.value}"
            )
        return updated

    def _alert_overdue(self) -> None:
        """Money that left and has not arrived within ``overdue_after``: alerted once per transfer (a
        deposit the venue shows under another amount or name, a stuck withdrawal), resolved when it
        settles. It stays in flight: only the venue's word settles it."""
        now = self.clock.now()
        for intent in self.intents.with_status(IntentStatus.IN_FLIGHT):
            age = now - intent.created_at
            if age <= self.overdue_after or intent.client_id in self._overdue:
                continue
            self._overdue.add(intent.client_id)
            self.alert(
                f"{self.name}.overdue.{intent.client_id}",
                f"{_described(intent)} left {age:.0f}s ago and has not arrived (limit {self.overdue_after:.0f}s):"
                " check the withdrawal and the destination's deposits",
            )


def _described(intent: TransferIntent) -> str:
    """A transfer as its alerts name it: client id, amount, currency and route."""
    key = intent.key
    return (
        f"transfer {intent.client_id} ({intent.amount} {key.currency} {key.from_exchange}.{key.from_account}"
        f" -> {key.to_exchange}.{key.to_account})"
    )
