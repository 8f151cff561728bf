"""The chain executor: moves money along A -> B -> C -> D, one ordinary transfer task per hop.

`ChainBook` is the bookkeeping (no threads, no I/O): which hop each chain is on and with how
much money. `ChainExecutor` submits each hop as a task, learns that it was sent (from the
transfer executor's `TransferSent`, or from the journaled intents after a crash), watches the
destination's deposits for the arrival (time unknown for on-chain hops), then submits the next
hop with what arrived, until the final account holds the money. Chains are journaled and
resume after a restart from where they were. Each hop's task is acknowledged by the task
manager by a deadline (else submitted again, then alerted); `ChainView.where` says where the
money is, "unknown" while the hop's transfer is in doubt at the venue.

(About 430 lines: the pure `ChainBook` and the thin `ChainExecutor` around it.)
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from actors.base import Actor
from actors.followups import FollowUps, chain_extra, parse_chain_extra
from actors.requests import DeadlineTimer, PendingRequests, RequestsDue
from actors.stores.journal import IntentStatus, Journal, TransferIntent
from actors.venues.base import Venue, VenueError
from messages.common import AccountRef, Currency
from messages.system import Rejected
from messages.tasks import AddTransferTask, TaskAdded
from messages.transfers import (
    AdvanceChains,
    ChainCompleted,
    Chains,
    ChainStarted,
    ChainView,
    GetChains,
    StartChain,
    TransferSent,
)

__all__ = ["Chain", "ChainBook", "ChainExecutor", "ChainState", "HopRecord"]


class ChainState(enum.StrEnum):
    """Where a chain is: its hop's task submitted, the hop's money in flight, or done. A view also
    says ``unknown`` while the hop's transfer is in doubt at the venue."""

    SUBMITTED = "submitted"
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"
    UNKNOWN = "unknown"


SUBMITTED, IN_FLIGHT, COMPLETED, UNKNOWN = ChainState
_IN_DOUBT = (IntentStatus.SENDING, IntentStatus.IN_DOUBT)  # intent states whose outcome the venue has not told


class HopRecord(msgspec.Struct, frozen=True):
    """One hop done: its transfer, what it sent and what arrived at the hop's destination."""

    hop: int
    client_id: str | None
    sent: float
    arrived: float
    at: float


class Chain(msgspec.Struct, kw_only=True):
    """One chain's progress (the saved record, as journaled): the transfer in progress is ``hops[hop] -> hops[hop + 1]``."""

    chain_id: str
    hops: list[AccountRef]
    currency: Currency
    amount: float
    extra: str | None
    hop: int = 0
    status: ChainState = SUBMITTED
    hop_amount: float = 0.0  # what the current hop moves (what the previous one delivered)
    client_id: str | None = None  # the current hop's transfer, once sent
    started_at: float = 0.0
    updated_at: float = 0.0
    delivered: float | None = None
    history: list[HopRecord] = msgspec.field(default_factory=list)

    @property
    def source(self) -> AccountRef:
        return self.hops[self.hop]

    @property
    def destination(self) -> AccountRef:
        return self.hops[self.hop + 1]

    @property
    def final(self) -> AccountRef:
        return self.hops[-1]

    @property
    def last_hop(self) -> int:
        return len(self.hops) - 2


class ChainBook:
    """Every chain and its state transitions: start, hop sent, hop arrived, completed."""

    def __init__(self) -> None:
        self.chains: dict[str, Chain] = {}

    def start(
        self,
        chain_id: str,
        hops: list[AccountRef],
        currency: Currency,
        amount: float,
        extra: str | None,
        now: float,
    ) -> Chain:
        """Record a new chain on its first hop; ValueError says what is wrong with it."""
        if chain_id in self.chains:
            raise ValueError(f"chain {chain_id!r} already exists")
        if len(hops) < 2:
            raise ValueError("a chain needs at least two hops (a source and a destination)")
        for a, b in zip(hops, hops[1:], strict=False):
            if a == b:
                raise ValueError(f"a chain cannot move money from {a} to itself")
        if not (math.isfinite(amount) and amount > 0):
            raise ValueError(f"a chain's amount must be positive, got {amount!r}")
        chain = Chain(
            chain_id=chain_id,
            hops=list(hops),
            currency=currency,
            amount=amount,
            extra=extra,
            hop_amount=amount,
            started_at=now,
            updated_at=now,
        )
        self.chains[chain_id] = chain
        return chain

    def hop_task(self, chain: Chain) -> AddTransferTask:
        """The transfer task for the chain's current hop."""
        return AddTransferTask(
            from_exchange=chain.source.exchange,
            from_account=chain.source.account,
            to_exchange=chain.destination.exchange,
            to_account=chain.destination.account,
            currency=chain.currency,
            amount=chain.hop_amount,
            extra=chain_extra(chain.chain_id, chain.hop),
        )

    def hop_sent(self, chain_id: str, hop: int, client_id: str, now: float) -> Chain | None:
        """The hop's transfer left the source; None if that is old news (stale hop or unknown chain)."""
        chain = self.chains.get(chain_id)
        if chain is None or chain.hop != hop or chain.status != SUBMITTED:
            return None
        chain.status, chain.client_id, chain.updated_at = IN_FLIGHT, client_id, now
        return chain

    def hop_not_sent(self, chain_id: str, hop: int, now: float) -> Chain | None:
        """The transfer recorded for the hop turned out refused (nothing left the source): the hop
        waits for its next attempt again. None if that is old news."""
        chain = self.chains.get(chain_id)
        if chain is None or chain.hop != hop or chain.status != IN_FLIGHT:
            return None
        chain.status, chain.client_id, chain.updated_at = SUBMITTED, None, now
        return chain

    def hop_arrived(self, chain_id: str, hop: int, amount: float, now: float) -> Chain | None:
        """``amount`` reached the hop's destination: move to the next hop, or complete the chain."""
        chain = self.chains.get(chain_id)
        if chain is None or chain.hop != hop or chain.status != IN_FLIGHT:
            return None
        chain.history.append(
            HopRecord(hop=hop, client_id=chain.client_id, sent=chain.hop_amount, arrived=amount, at=now)
        )
        chain.updated_at = now
        if hop == chain.last_hop:
            chain.status, chain.delivered = COMPLETED, amount
        else:
            chain.hop, chain.hop_amount, chain.client_id, chain.status = hop + 1, amount, None, SUBMITTED
        return chain

    def active(self) -> list[Chain]:
        return [c for c in self.chains.values() if c.status != COMPLETED]

    @staticmethod
    def view(chain: Chain, in_doubt: str | None = None) -> ChainView:
        """The chain as status shows it; ``in_doubt``: the client id of its hop's transfer, when unknown."""
        status, where = chain.status, ""
        if chain.status == COMPLETED:
            where = f"{chain.delivered} at {chain.final}"
        elif in_doubt is not None:
            status = UNKNOWN
            where = (
                f"unknown: {chain.hop_amount} sent {chain.source} -> {chain.destination} as {in_doubt}, "
                "the venue has not said what happened"
            )
        elif chain.status == IN_FLIGHT:
            where = f"{chain.hop_amount} in flight {chain.source} -> {chain.destination} ({chain.client_id})"
        else:
            where = f"{chain.hop_amount} at {chain.source}, hop {chain.hop} waiting to be sent"
        return ChainView(
            chain_id=chain.chain_id,
            hops=list(chain.hops),
            currency=chain.currency,
            amount=chain.amount,
            hop=chain.hop,
            status=status,
            amount_in_flight=0.0 if chain.status == COMPLETED else chain.hop_amount,
            extra=chain.extra,
            where=where,
        )

    @staticmethod
    def to_record(chain: Chain) -> dict[str, Any]:
        """The chain as the journal keeps it (plain data, decoded back by `load`)."""
        record: dict[str, Any] = msgspec.to_builtins(chain)
        return record

    def load(self, record: Mapping[str, Any]) -> Chain:
        """A journaled chain, checked by its type (an older record's hops, ``[exchange, account]`` pairs, too)."""
        data = dict(record)
        data["hops"] = [{"exchange": h[0], "account": h[1]} if isinstance(h, list) else h for h in data["hops"]]
        chain = msgspec.convert(data, Chain)
        self.chains[chain.chain_id] = chain
        return chain


class ChainExecutor(Actor):
    """Owns every hop of a chain after it starts; see the module docstring."""

    def __init__(
        self,
        venue: Venue,
        journal: Journal,
        *,
        tasks: str = "tasks",
        follow_ups: Mapping[str, Callable[[Any], None]] | None = None,
        reply_timeout: float = 10.0,
        max_asks: int = 3,
    ) -> None:
        super().__init__()
        self.venue = venue
        self.journal = journal
        self.tasks_actor = tasks
        self.book = ChainBook()
        self.follow_ups = FollowUps(self.tell, follow_ups)
        self.reply_timeout = reply_timeout
        self.max_asks = max_asks
        self.requests: PendingRequests[tuple[str, int]] = PendingRequests()
        self._deadlines = DeadlineTimer(lambda delay: self.send_later(delay, self.name, RequestsDue()))

    def on_stop(self) -> None:
        self._deadlines.cancel()

    def on_start(self) -> None:
        for record in self.journal.chains.load_all().values():
            self.book.load(record)
        active = self.book.active()
        if active:
            self.log.info("resuming {} chains from the journal", len(active))
            self.tell(self.name, AdvanceChains())

    # ---- commands ----------------------------------------------------------------------------

    def on_start_chain(self, message: StartChain) -> ChainStarted | Rejected:
        if message.chain_id is not None and message.chain_id in self.book.chains:
            return ChainStarted(message.chain_id)  # a repeated StartChain starts nothing new
        chain_id = message.chain_id or uuid.uuid4().hex[:16]
        try:
            chain = self.book.start(
                chain_id, list(message.hops), message.currency, message.amount, message.extra, self.clock.now()
            )
        except ValueError as error:
            return Rejected(reason=str(error), message_type="StartChain")
        self._save(chain)
        self.log.info(
            "chain {}: {} {} along {}", chain_id, chain.amount, chain.currency, " -> ".join(map(str, chain.hops))
        )
        self._submit(chain)
        return ChainStarted(chain_id)

    def on_get_chains(self, message: GetChains) -> Chains:
        return Chains([self.book.view(c, self._in_doubt(c)) for c in self.book.chains.values()])

    def _in_doubt(self, chain: Chain) -> str | None:
        """The client id of the chain's current hop transfer when the venue has not told its outcome."""
        if chain.status == COMPLETED:
            return None
        intents: list[TransferIntent] = self.journal.intents.with_extra(chain_extra(chain.chain_id, chain.hop))
        return next((i.client_id for i in reversed(intents) if i.status in _IN_DOUBT), None)

    # ---- the hop's task, acknowledged by a deadline ----------------------------------------------

    def _submit(self, chain: Chain, attempt: int = 1) -> None:
        """Submit (or renew) the task of the chain's current hop and wait for the task manager's `TaskAdded`."""
        hop = (chain.chain_id, chain.hop)
        if attempt == 1 and any(r.context == hop for r in self.requests.waiting("hop_task")):
            return  # already submitted and waiting: its deadline asks again
        correlation_id = self.requests.open(
            self.tasks_actor,
            "hop_task",
            self.clock.now() + self.reply_timeout,
            attempt=attempt,
            context=(chain.chain_id, chain.hop),
        )
        task = msgspec.structs.replace(self.book.hop_task(chain), reply_to=self.name, correlation_id=correlation_id)
        self.tell(self.tasks_actor, task)
        self._deadlines.arm(self.requests.next_deadline(), self.clock.now())

    def on_task_added(self, message: TaskAdded) -> None:
        request = self.requests.accept(message.correlation_id, self.sender)
        if request is not None and request.attempt > 1 and request.context is not None:
            self.resolve_alert(f"{self.name}.{request.context[0]}.task", f"{self.tasks_actor} took the hop's task")

    def on_rejected(self, message: Rejected) -> None:
        self.log.error("{} refused a hop task: {}", self.sender, message.reason)

    def on_requests_due(self, message: RequestsDue) -> None:
        self._deadlines.cancel()
        for request in self.requests.expired(self.clock.now()):
            assert request.context is not None
            chain_id, hop = request.context
            chain = self.book.chains.get(chain_id)
            if chain is None or chain.hop != hop or chain.status != SUBMITTED:
                continue  # the hop moved on meanwhile: the task did its job
            if request.attempt >= self.max_asks:
                self.alert(
                    f"{self.name}.{chain_id}.task",
                    f"chain {chain_id}: {self.tasks_actor} did not acknowledge hop {hop}'s task after "
                    f"{request.attempt} submissions; the money is still at {chain.source}, and the next "
                    "AdvanceChains submits it again",
                )
                continue
            self.log.warning(
                "chain {}: no answer from {} for hop {}'s task; submitting again", chain_id, self.tasks_actor, hop
            )
            self._submit(chain, request.attempt + 1)

        # ---- progress ----------------------------------------------------------------------------
        self._deadlines.arm(self.requests.next_deadline(), self.clock.now())

    def on_transfer_sent(self, message: TransferSent) -> None:
        parsed = parse_chain_extra(message.extra)
        if parsed is None:
            return
        self._forget_refused_attempt(parsed[0])  # a later attempt paid the hop: it replaces a refused one
        chain = self.book.hop_sent(*parsed, message.client_id, self.clock.now())
        if chain is not None:
            self._save(chain)
            self._look_for_arrival(chain)

    def on_advance_chains(self, message: AdvanceChains) -> None:
        for chain in self.book.active():
            if chain.status == IN_FLIGHT:
                self._forget_refused_attempt(chain.chain_id)
            if chain.status == SUBMITTED:
                self._recover_or_resubmit(chain)
            if chain.status == IN_FLIGHT:
                self._look_for_arrival(chain)

    def _forget_refused_attempt(self, chain_id: str) -> None:
        """An in-flight hop whose recorded transfer the executor later settled as refused goes back
        to waiting for its next attempt (else it would watch for money that never left)."""
        chain = self.book.chains.get(chain_id)
        if chain is None or chain.status != IN_FLIGHT or chain.client_id is None:
            return
        intent = self.journal.intents.get(chain.client_id)
        if intent is not None and intent.status == IntentStatus.FAILED:
            self.log.warning(
                "chain {}: hop {} transfer {} was refused after all; waiting for its next attempt",
                chain_id,
                chain.hop,
                chain.client_id,
            )
            if self.book.hop_not_sent(chain_id, chain.hop, self.clock.now()):
                self._save(chain)

    def _recover_or_resubmit(self, chain: Chain) -> None:
        """A submitted hop: was it sent meanwhile (a lost TransferSent)? Else renew its task.

        Only an attempt that left the source (in flight or done) counts as sent; one still in
        doubt is the executor's to resolve, so the hop waits for it rather than recording it.
        """
        intents = self.journal.intents.with_extra(chain_extra(chain.chain_id, chain.hop))
        sent = [i for i in intents if i.status in (IntentStatus.IN_FLIGHT, IntentStatus.DONE)]
        if sent:
            if self.book.hop_sent(chain.chain_id, chain.hop, sent[-1].client_id, self.clock.now()):
                self._save(chain)
            return
        if any(i.status in _IN_DOUBT for i in intents):
            return  # the executor asks the venue about it on its next run
        self._submit(chain)  # re-adds or renews; never a second task

    def _look_for_arrival(self, chain: Chain) -> None:
        destination = chain.destination
        try:
            deposits = self.venue.fetch_deposits(destination.exchange, destination.account)
        except VenueError as error:
            self.log.warning("chain {}: cannot check deposits on {} now: {}", chain.chain_id, destination, error)
            return
        arrived = next((d for d in deposits if d.client_id == chain.client_id), None)
        if arrived is None:
            return
        hop = chain.hop
        self.book.hop_arrived(chain.chain_id, hop, arrived.amount, self.clock.now())
        self._save(chain)
        if chain.status == COMPLETED:
            self.log.info(
                "chain {} completed: {} {} at {}", chain.chain_id, chain.delivered, chain.currency, chain.final
            )
            self.follow_ups.run(
                chain.extra,
                ChainCompleted(chain.chain_id, chain.final, chain.currency, arrived.amount, chain.extra),
            )
        else:
            self.log.info(
                "chain {}: hop {} arrived ({}), next {} -> {}",
                chain.chain_id,
                hop,
                arrived.amount,
                chain.source,
                chain.destination,
            )
            self._submit(chain)

    def _save(self, chain: Chain) -> None:
        self.journal.chains.save(chain.chain_id, ChainBook.to_record(chain))
