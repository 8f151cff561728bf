"""The message language: every message as a typed, immutable value, and the wire codec.

This package imports nothing from ``actors`` or ``supervisor``.
"""

from messages.base import Message, message_types
from messages.codec import DecodeError, decode, decode_json, encode, encode_json
from messages.common import Account, Amount, Currency, Exchange
from messages.system import ActorStatus, DeadLetter, Ping, Pong, Rejected

__all__ = [
    "Account",
    "ActorStatus",
    "Amount",
    "Currency",
    "DeadLetter",
    "DecodeError",
    "Exchange",
    "Message",
    "Ping",
    "Pong",
    "Rejected",
    "decode",
    "decode_json",
    "encode",
    "encode_json",
    "message_types",
]
