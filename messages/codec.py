"""The wire codec: messages to MessagePack bytes and back, validated by type at decode time.

`encode` and `decode` are the only way a message crosses a process boundary. Anything
malformed raises `DecodeError` naming the problem; `decode` never returns a half-built message.
`encode_json` / `decode_json` are the same messages in JSON, for operators and scripts.
"""

from __future__ import annotations

import re
from typing import Any, Union

import msgspec

from messages.base import Message, message_types

__all__ = ["DecodeError", "decode", "decode_json", "encode", "encode_json", "to_builtins"]


class DecodeError(ValueError):
    """Bytes or text that are not a valid message; the text names the problem."""


_encoder = msgspec.msgpack.Encoder()
_json_encoder = msgspec.json.Encoder()
_cache: dict[str, Any] = {"version": -1}

_UNKNOWN_TAG = re.compile(r"Invalid value (.+) - at `\$\.type`")


def _decoders() -> tuple[msgspec.msgpack.Decoder[Any], msgspec.json.Decoder[Any]]:
    if _cache["version"] != Message._registry_version:
        types = tuple(message_types().values())
        target: Any = Union[types] if types else Message  # noqa: UP007 - a runtime union of classes
        _cache["msgpack"] = msgspec.msgpack.Decoder(target)
        _cache["json"] = msgspec.json.Decoder(target)
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
    return _encoder.encode(message)


def decode(data: bytes | bytearray | memoryview) -> Message:
    """The typed message in ``data``, or `DecodeError` saying what is wrong with it."""
    decoder, _ = _decoders()
    try:
        return decoder.decode(data)  # type: ignore[no-any-return]
    except msgspec.ValidationError as error:
        raise _explain(error, "map") from None
    except msgspec.DecodeError as error:
        raise DecodeError(f"not MessagePack: {error}") from None
    except (TypeError, ValueError) as error:  # e.g. memoryview of the wrong kind
        raise DecodeError(f"cannot decode: {error}") from None


def encode_json(message: Message) -> bytes:
    """The message as JSON, ``{"type": "...", ...}``."""
    if not isinstance(message, Message):
        raise TypeError(f"only Message structs can be encoded, not {type(message).__name__}")
    return _json_encoder.encode(message)


def decode_json(text: str | bytes) -> Message:
    """The typed message in a JSON document such as ``{"type": "Ping"}``, or `DecodeError`."""
    _, decoder = _decoders()
    try:
        return decoder.decode(text)  # type: ignore[no-any-return]
    except msgspec.ValidationError as error:
        raise _explain(error, "object") from None
    except msgspec.DecodeError as error:
        raise DecodeError(f"not JSON: {error}") from None


def to_builtins(message: Message) -> dict[str, Any]:
    """The message as plain Python data (what ``msgpack.unpackb`` of `encode` gives)."""
    return msgspec.to_builtins(message)  # type: ignore[no-any-return]
