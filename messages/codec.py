"""The wire codec: messages to MessagePack bytes and back, validated by type at decode time.

`encode` and `decode` are the only way a message crosses a process boundary. Anything
malformed raises `DecodeError` naming the problem, whatever the input (wrong type, too big,
nested too deep, not UTF-8); `decode` never returns a half-built message and never raises
anything else. `encode_json` / `decode_json` are the same messages in JSON, for operators and scripts.

Limits: an encoded message is at most `MAX_MESSAGE_BYTES`; nesting is limited by the
interpreter's recursion limit (~1,000 levels; no message of ours nests more than a few).
"""

from __future__ import annotations

import re
from typing import Any, Union

import msgspec

from messages.base import Message, message_types

__all__ = [
    "MAX_MESSAGE_BYTES",
    "DecodeError",
    "EncodeError",
    "decode",
    "decode_json",
    "decode_many",
    "encode",
    "encode_json",
    "to_builtins",
]


class DecodeError(ValueError):
    """Bytes or text that are not a valid message; the text names the problem."""


class EncodeError(ValueError):
    """A message that cannot go on the wire: an integer beyond MessagePack's 64 bits, or too large."""


MAX_MESSAGE_BYTES = 1 << 20
"""The largest encoded message `decode` / `decode_json` accept (1 MiB; the sockets' frame limit too)."""

_encoder = msgspec.msgpack.Encoder()
_json_encoder = msgspec.json.Encoder()
_cache: dict[str, Any] = {"version": -1}

_UNKNOWN_TAG = re.compile(r"Invalid value (.+) - at `\$\.type`")


def _decoders() -> tuple[msgspec.msgpack.Decoder[Any], msgspec.json.Decoder[Any]]:
    if _cache["version"] != Message._registry_version:
        types = tuple(message_types().values())
        target: Any = Union[types] if types else Message  # noqa: UP007 - a union built from a tuple
        _cache["msgpack"] = msgspec.msgpack.Decoder(target)
        _cache["json"] = msgspec.json.Decoder(target)
        _cache["many"] = msgspec.msgpack.Decoder(list[target])
        _cache["version"] = Message._registry_version
    return _cache["msgpack"], _cache["json"]


def _explain(error: Exception, what: str) -> DecodeError:
    text = str(error)
    unknown = _UNKNOWN_TAG.search(text)
    if unknown:
        return DecodeError(f"unknown message type {unknown.group(1)}")
    if "Object missing required field `type`" in text:
        return DecodeError(f"not a message: the {what} has no `type` field")
    if text.startswith("Expected `object`"):
        return DecodeError(f"not a message: expected a map with a `type` field ({text})")
    return DecodeError(f"invalid message: {text}")


def encode(message: Message) -> bytes:
    """The message as MessagePack bytes: a map whose ``type`` field names the class."""
    if not isinstance(message, Message):
        raise TypeError(f"only Message structs go on the wire, not {type(message).__name__}")
    try:
        return _encoder.encode(message)
    except OverflowError:
        raise EncodeError(f"{type(message).__name__} holds an integer beyond 64 bits") from None


def decode(data: bytes | bytearray | memoryview) -> Message:
    """The typed message in ``data``, or `DecodeError` saying what is wrong with it."""
    decoder, _ = _decoders()
    return _decode(decoder, data, "map", "MessagePack")  # type: ignore[no-any-return]


def decode_many(data: bytes | memoryview, limit: int) -> list[Message]:
    """The typed messages of a MessagePack array of at most ``limit`` bytes (a batch on a direct link),
    in one call; `DecodeError` if any of them is not valid (decode them one by one to find which)."""
    _decoders()
    return _decode(_cache["many"], data, "array item", "MessagePack", limit)  # type: ignore[no-any-return]


def _decode(decoder: Any, data: Any, what: str, form: str, limit: int = MAX_MESSAGE_BYTES) -> Any:
    """``decoder.decode(data)`` with every failure, whatever its kind, turned into `DecodeError`."""
    try:
        size = len(data)
    except TypeError:
        raise DecodeError(f"cannot decode a {type(data).__name__}: expected bytes or text") from None
    if size > limit:
        raise DecodeError(f"message too large: {size} bytes (limit {limit})")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as error:
        raise _explain(error, what) from None
    except msgspec.DecodeError as error:
        raise DecodeError(f"not {form}: {error}") from None
    except RecursionError:
        raise DecodeError("nested too deeply") from None
    except UnicodeError as error:  # text that cannot be UTF-8 (lone surrogates)
        raise DecodeError(f"not UTF-8 text: {getattr(error, 'reason', error)}") from None
    except (TypeError, ValueError, OverflowError, MemoryError) as error:  # e.g. memoryview of the wrong kind
        raise DecodeError(f"cannot decode: {type(error).__name__}: {error}") from None


def encode_json(message: Message) -> bytes:
    """The message as JSON, ``{"type": "...", ...}``."""
    if not isinstance(message, Message):
        raise TypeError(f"only Message structs can be encoded, not {type(message).__name__}")
    return _json_encoder.encode(message)


def decode_json(text: str | bytes) -> Message:
    """The typed message in a JSON document such as ``{"type": "Ping"}``, or `DecodeError`."""
    _, decoder = _decoders()
    message = _decode(decoder, text, "object", "JSON")
    try:  # JSON numbers have no size; MessagePack integers stop at 64 bits
        encode(message)
    except EncodeError as error:
        raise DecodeError(f"invalid message: {error}") from None
    return message  # type: ignore[no-any-return]


def to_builtins(message: Message) -> dict[str, Any]:
    """The message as plain Python data (what ``msgpack.unpackb`` of `encode` gives)."""
    return msgspec.to_builtins(message)  # type: ignore[no-any-return]
