"""Transfer and chain execution: run windows, what was sent, multi-hop chains."""

from __future__ import annotations

from typing import ClassVar

from messages.base import Message
from messages.common import AccountRef, Currency
from messages.tasks import TransferTaskKey
from messages.venue import TransferStatus

__all__ = [
    "AdvanceChains",
    "ChainCompleted",
    "ChainStarted",
    "ChainView",
    "Chains",
    "GetChains",
    "ResolveTransfer",
    "RunTransfers",
    "StartChain",
    "TransferResolved",
    "TransferSent",
    "TransfersRun",
]


class RunTransfers(Message, frozen=True):
    """Walk the pending tasks now: a scheduler tick, or a strategy saying "this is a good window".

    The run needs a snapshot from the task manager, so it finishes after the handler returns;
    with ``reply_to`` the `TransfersRun` summary is told to that actor when it does.
    """

    reason: str = "tick"
    reply_to: str | None = None


class TransfersRun(Message, frozen=True):
    """What one run did."""

    actor_only: ClassVar[bool] = True

    reason: str
    considered: int
    sent: int
    skipped: int
    failed: int  # refused by the venue: nothing moved, the task is tried again
    resolved: int = 0  # earlier in-doubt or in-flight transfers settled in this run
    unknown: int = 0  # sent, and the venue did not say what happened (a timeout): never re-sent until it does


class ResolveTransfer(Message, frozen=True):
    """The operator settles a transfer whose outcome the venue cannot tell ("unknown" in status).

    ``moved``: the money left the source (then ``fee`` is what the destination did not get) or
    it did not (the task may then be sent again, under a new client id). ``note`` is the evidence
    (a venue reference, a ticket). Answer: `TransferResolved`, or `Rejected` for a transfer that
    is not unknown.
    """

    client_id: str
    moved: bool
    fee: float = 0.0
    note: str = ""


class TransferResolved(Message, frozen=True):
    client_id: str
    status: str  # the intent's state now: "done", "in_flight" or "failed"


class TransferSent(Message, frozen=True):
    """Told to a task's follow-up: the venue accepted the transfer (``status`` pending or ok). Actor-only."""

    actor_only: ClassVar[bool] = True

    key: TransferTaskKey
    client_id: str
    amount: float
    status: TransferStatus
    extra: str | None = None
    fee: float = 0.0


class StartChain(Message, frozen=True):
    """Move ``amount`` along ``hops`` (A -> B -> C -> D): one transfer per consecutive pair.

    Answer: `ChainStarted`. ``extra`` is the follow-up run when the money reaches the last hop.
    """

    hops: list[AccountRef]
    currency: Currency
    amount: float
    extra: str | None = None
    chain_id: str | None = None


class ChainStarted(Message, frozen=True):
    actor_only: ClassVar[bool] = True

    chain_id: str


class AdvanceChains(Message, frozen=True):
    """Tick: look for arrivals and start the next hops."""


class ChainView(Message, frozen=True):
    chain_id: str
    hops: list[AccountRef]
    currency: Currency
    amount: float
    hop: int  # index of the transfer in progress (0 = hops[0] -> hops[1])
    status: str  # "submitted" | "in_flight" | "unknown" (the hop's transfer in doubt) | "completed"
    amount_in_flight: float
    extra: str | None = None
    where: str = ""  # where the chain's money is now, in words


class GetChains(Message, frozen=True):
    """Answer: `Chains` (all chains the executor knows, finished ones included)."""


class Chains(Message, frozen=True):
    actor_only: ClassVar[bool] = True

    chains: list[ChainView]


class ChainCompleted(Message, frozen=True):
    """Told to a chain's follow-up: the money reached the final account. Actor-only."""

    actor_only: ClassVar[bool] = True

    chain_id: str
    final: AccountRef
    currency: Currency
    amount_delivered: float
    extra: str | None = None
