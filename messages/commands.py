"""The JSON command adapter: the desk's existing command shape to typed balance messages, and back.

Strategies already send ``{"strategy": "a", "cmd": "allocate", "currency": "usd", "amount": 100, "index": 2}``;
`parse_command` turns that (or any message in its ``{"type": ...}`` JSON form) into a `Message`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from messages.balances import Adjust, Allocate, Release
from messages.base import Message
from messages.codec import DecodeError, decode_json, to_builtins
from messages.common import Account, currency_code, exchange_name

__all__ = ["command_json", "parse_command"]


class _Command(msgspec.Struct, tag_field="cmd", kw_only=True):
    """The fields every seed command shares; the ``cmd`` field picks the subclass."""

    currency: str
    strategy: str = ""
    exchange: str | None = None
    account: Account | None = None


class _AllocateCommand(_Command, tag="allocate", kw_only=True):
    index: int
    amount: float


class _ReleaseCommand(_Command, tag="release", kw_only=True):
    index: int
    amount: float


class _AdjustCommand(_Command, tag="adjust", kw_only=True):
    index: int = 0
    amount: float | None = None
    delta: float | None = None
    ref: str | None = None


_SeedCommand = _AllocateCommand | _ReleaseCommand | _AdjustCommand
_COMMANDS = ("allocate", "release", "adjust")


def parse_command(payload: str | bytes | Mapping[str, Any]) -> Message:
    """The message in a JSON command (text, bytes, or an already parsed mapping).

    The seed shape gives `Allocate`, `Release` or `Adjust` (``adjust`` takes ``amount`` or
    ``delta``; ``exchange``/``account`` are optional; names are case-insensitive; integer
    amounts are fine). A payload with a ``"type"`` key is any message in its JSON form.
    Anything malformed raises `DecodeError` naming the problem. Whether the gateway can honour
    the command (a negative amount, more than is available) is the gateway's answer, not a
    decode error.
    """
    document = _document(payload)
    if "type" in document:
        return _typed(payload, document)
    if isinstance(document.get("cmd"), str):
        document = {**document, "cmd": document["cmd"].lower()}
    try:
        command = msgspec.convert(document, _SeedCommand)
    except msgspec.ValidationError as error:
        raise _explain(error) from None
    currency = _name(currency_code, command.currency)
    exchange = None if command.exchange is None else _name(exchange_name, command.exchange)
    common: dict[str, Any] = {
        "currency": currency,
        "strategy": command.strategy,
        "exchange": exchange,
        "account": command.account,
    }
    if isinstance(command, _AdjustCommand):
        return Adjust(index=command.index, delta=_adjust_delta(command), ref=command.ref, **common)
    try:
        if isinstance(command, _AllocateCommand):
            return Allocate(index=command.index, amount=command.amount, **common)
        return Release(index=command.index, amount=command.amount, **common)
    except ValueError as error:  # a non-finite amount, refused by the message itself
        raise DecodeError(f"invalid {command.__struct_config__.tag} command: {error}") from None


def command_json(message: Message) -> dict[str, Any]:
    """The JSON command for ``message``: the seed shape for `Allocate` / `Release` / `Adjust`
    (the inverse of `parse_command`), the ``{"type": ...}`` form for any other message."""
    if isinstance(message, (Allocate, Release)):
        cmd = "allocate" if isinstance(message, Allocate) else "release"
        document: dict[str, Any] = {
            "strategy": message.strategy,
            "cmd": cmd,
            "currency": message.currency,
            "amount": message.amount,
            "index": message.index,
        }
    elif isinstance(message, Adjust):
        document = {
            "strategy": message.strategy,
            "cmd": "adjust",
            "currency": message.currency,
            "amount": message.delta,
            "index": message.index,
        }
        if message.ref is not None:
            document["ref"] = message.ref
    else:
        return to_builtins(message)
    if message.exchange is not None:
        document["exchange"] = message.exchange
    if message.account is not None:
        document["account"] = message.account
    return document


def _document(payload: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(payload, Mapping):
        return payload
    if not isinstance(payload, (str, bytes, bytearray, memoryview)):
        raise DecodeError(f"a command is JSON text or a mapping, not {type(payload).__name__}")
    try:
        document = msgspec.json.decode(payload)
    except msgspec.DecodeError as error:
        raise DecodeError(f"not JSON: {error}") from None
    except RecursionError:
        raise DecodeError("nested too deeply") from None
    except UnicodeError as error:  # text with lone surrogates (an argv that was not UTF-8)
        raise DecodeError(f"not UTF-8 text: {getattr(error, 'reason', error)}") from None
    if not isinstance(document, dict):
        raise DecodeError(f"a command is a JSON object, got {type(document).__name__}")
    return document


def _typed(payload: str | bytes | Mapping[str, Any], document: Mapping[str, Any]) -> Message:
    """A message in its ``{"type": ...}`` JSON form, validated by the codec."""
    if isinstance(payload, Mapping):
        try:
            payload = msgspec.json.encode(dict(document))
        except (TypeError, ValueError) as error:
            raise DecodeError(f"cannot read the command as JSON: {error}") from None
    return decode_json(bytes(payload) if isinstance(payload, (bytearray, memoryview)) else payload)


def _name(check: Callable[[str], str], value: str) -> str:
    try:
        return check(value.lower())
    except ValueError as error:
        raise DecodeError(str(error)) from None


def _adjust_delta(command: _AdjustCommand) -> float:
    amount, delta = command.amount, command.delta
    for name, value in (("amount", amount), ("delta", delta)):
        if value is not None and not math.isfinite(value):
            raise DecodeError(f"invalid adjust command: `{name}` must be a finite number, got {value!r}")
    if amount is None and delta is None:
        raise DecodeError("adjust needs `amount` or `delta`")
    if amount is not None and delta is not None and amount != delta:
        raise DecodeError(f"adjust has both `amount` ({amount}) and `delta` ({delta}) and they differ")
    return amount if amount is not None else delta  # type: ignore[return-value]


def _explain(error: msgspec.ValidationError) -> DecodeError:
    text = str(error)
    if text.startswith("Invalid value") and text.endswith("at `$.cmd`"):
        wanted = ", ".join(_COMMANDS)
        return DecodeError(f"unknown cmd {text.removeprefix('Invalid value ').split(' - ')[0]} (expected {wanted})")
    if text == "Object missing required field `cmd`":
        return DecodeError("not a command: no `cmd` field (and no `type` field)")
    if text.startswith("Object missing required field"):
        return DecodeError(f"missing field {text.removeprefix('Object missing required field ')}")
    return DecodeError(f"invalid command: {text}")
