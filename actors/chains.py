"""The chain executor: moves money along A -> B -> C -> D, one ordinary transfer task per hop.

`ChainBook` is the bookkeeping (no threads, no I/O): which hop each chain is on and with how
much money. `ChainExecutor` submits each hop as a task, learns that it was sent (from the
transfer executor's `TransferSent`, or from the journaled intents after a crash), watches the
destination's deposits for the arrival (time unknown for on-chain hops), then submits the next
hop with what arrived, until the final account holds the money. Chains are journaled and
resume after a restart from where they were.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from actors.base import Actor
from actors.followups import FollowUps, chain_extra, parse_chain_extra
from actors.venues.base import Venue, VenueError
from messages.common import AccountRef, Currency, Exchange
from messages.system import Rejected
from messages.tasks import AddTransferTask
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
from actors.stores.journal import Journal

__all__ = ["Chain", "ChainBook", "ChainExecutor"]

SUBMITTED, IN_FLIGHT, COMPLETED = "submitted", "in_flight", "completed"


@dataclass
class Chain:
    """One chain's progress: the transfer in progress is ``hops[hop] -> hops[hop + 1]``."""

    chain_id: str
    hops: list[AccountRef]
    currency: Currency
    amount: float
    extra: str | None
    hop: int = 0
    status: str = SUBMITTED
    hop_amount: float = 0.0  # what the current hop moves (what the previous one delivered)
    client_id: str | None = None  # the current hop's transfer, once sent
    started_at: float = 0.0
    updated_at: float = 0.0
    delivered: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

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
        chain = Chain(chain_id, list(hops), currency, amount, extra, hop_amount=amount, started_at=now, updated_at=now)
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

    def hop_arrived(self, chain_id: str, hop: int, amount: float, now: float) -> Chain | None:
        """``amount`` reached the hop's destination: move to the next hop, or complete the chain."""
        chain = self.chains.get(chain_id)
        if chain is None or chain.hop != hop or chain.status != IN_FLIGHT:
            return None
        chain.history.append(
            {"hop": hop, "client_id": chain.client_id, "sent": chain.hop_amount, "arrived": amount, "at": now}
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
    def view(chain: Chain) -> ChainView:
        return ChainView(
            chain_id=chain.chain_id,
            hops=list(chain.hops),
            currency=chain.currency,
            amount=chain.amount,
            hop=chain.hop,
            status=chain.status,
            amount_in_flight=0.0 if chain.status == COMPLETED else chain.hop_amount,
            extra=chain.extra,
        )

    @staticmethod
    def to_record(chain: Chain) -> dict[str, Any]:
        record = asdict(chain)
        record["hops"] = [[h.exchange.value, h.account] for h in chain.hops]
        record["currency"] = chain.currency.value
        return record

    def load(self, record: Mapping[str, Any]) -> Chain:
        data = dict(record)
        data["hops"] = [AccountRef(Exchange(e), a) for e, a in data["hops"]]
        data["currency"] = Currency(data["currency"])
        chain = Chain(**data)
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
    ) -> None:
        super().__init__()
        self.venue = venue
        self.journal = journal
        self.tasks_actor = tasks
        self.book = ChainBook()
        self.follow_ups = FollowUps(self.tell, follow_ups)

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
            "chain {}: {} {} along {}", chain_id, chain.amount, chain.currency.value, " -> ".join(map(str, chain.hops))
        )
        self.tell(self.tasks_actor, self.book.hop_task(chain))
        return ChainStarted(chain_id)

    def on_get_chains(self, message: GetChains) -> Chains:
        return Chains([self.book.view(c) for c in self.book.chains.values()])

    # ---- progress ----------------------------------------------------------------------------

    def on_transfer_sent(self, message: TransferSent) -> None:
        parsed = parse_chain_extra(message.extra)
        if parsed is None:
            return
        chain = self.book.hop_sent(*parsed, message.client_id, self.clock.now())
        if chain is not None:
            self._save(chain)
            self._look_for_arrival(chain)

    def on_advance_chains(self, message: AdvanceChains) -> None:
        for chain in self.book.active():
            if chain.status == SUBMITTED:
                self._recover_or_resubmit(chain)
            if chain.status == IN_FLIGHT:
                self._look_for_arrival(chain)

    def _recover_or_resubmit(self, chain: Chain) -> None:
        """A submitted hop: was it sent meanwhile (a lost TransferSent)? Else renew its task."""
        extra = chain_extra(chain.chain_id, chain.hop)
        sent = [i for i in self.journal.intents.with_extra(extra) if i.status != "failed"]
        if sent:
            if self.book.hop_sent(chain.chain_id, chain.hop, sent[-1].client_id, self.clock.now()):
                self._save(chain)
            return
        self.tell(self.tasks_actor, self.book.hop_task(chain))  # re-adds or renews; never a second task

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
            self.log.info("chain {} completed: {} {} at {}", chain.chain_id, chain.delivered, chain.currency.value,
                          chain.final)
            self.follow_ups.run(
                chain.extra,
                ChainCompleted(chain.chain_id, chain.final, chain.currency, arrived.amount, chain.extra),
            )
        else:
            self.log.info("chain {}: hop {} arrived ({}), next {} -> {}", chain.chain_id, hop, arrived.amount,
                          chain.source, chain.destination)
            self.tell(self.tasks_actor, self.book.hop_task(chain))

    def _save(self, chain: Chain) -> None:
        self.journal.chains.save(chain.chain_id, ChainBook.to_record(chain))
