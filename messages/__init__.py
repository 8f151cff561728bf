"""The message language: every message as a typed, immutable value, and the wire codec.

Importing this package registers every message type with the codec. This package imports
nothing from ``actors`` or ``supervisor``.
"""

from messages import (  # noqa: F401 - register types
    alerts,
    balances,
    demo,
    hedge,
    reports,
    scheduling,
    supervision,
    tasks,
    trading,
    transfers,
    venue,
)
from messages.base import Message, message_types
from messages.codec import DecodeError, decode, decode_json, encode, encode_json
from messages.common import (
    Account,
    AccountRef,
    Amount,
    Currencies,
    Currency,
    Exchange,
    Exchanges,
    currency_code,
    exchange_name,
)
from messages.system import ActorStatus, DeadLetter, Ping, Pong, Rejected

__all__ = [
    "Account",
    "AccountRef",
    "ActorStatus",
    "Amount",
    "Currencies",
    "Currency",
    "DeadLetter",
    "DecodeError",
    "Exchange",
    "Exchanges",
    "Message",
    "Ping",
    "Pong",
    "Rejected",
    "decode",
    "decode_json",
    "encode",
    "encode_json",
    "currency_code",
    "exchange_name",
    "message_types",
]
