"""What a venue answers: transfer results and deposits (plain data, so a venue can be remote)."""

from __future__ import annotations

import enum

from messages.base import Message
from messages.common import Account, Currency, Exchange

__all__ = ["Deposit", "TransferResult", "TransferStatus"]


class TransferStatus(enum.StrEnum):
    PENDING = "pending"  # accepted; the money left the source and has not arrived yet
    OK = "ok"  # arrived at the destination
    FAILED = "failed"  # refused; no money moved
    CANCELED = "canceled"  # withdrawn before it moved; no money moved


class TransferResult(Message, frozen=True):
    """A transfer as the venue knows it, by the caller's ``client_id``.

    ``amount`` left the source; ``amount - fee`` reaches the destination.
    """

    client_id: str
    status: TransferStatus
    from_exchange: Exchange
    from_account: Account
    to_exchange: Exchange
    to_account: Account
    currency: Currency
    amount: float
    fee: float = 0.0
    reason: str = ""
    created_at: float = 0.0
    completed_at: float | None = None


class Deposit(Message, frozen=True):
    """Money credited to an account (from a transfer identified by ``client_id`` when known)."""

    deposit_id: str
    exchange: Exchange
    account: Account
    currency: Currency
    amount: float
    credited_at: float
    client_id: str | None = None
    from_exchange: Exchange | None = None
    from_account: Account | None = None
