"""The process-mode wire: two ZeroMQ frames per message, a small header and the codec's body.

    [header, body]      header = MessagePack map {"kind", "to", "sender", "id", "seq"}
                        body   = messages.codec.encode(message)  (a map with a "type" field)

The hub routes on the header alone and forwards the body untouched; only the receiving node
decodes (and so validates) it. Any MessagePack client can speak it: see `supervisor.client`.

Kinds: "tell", "ask" (``id`` is the asker's correlation id), "reply" / "error" (answers to an
ask, same ``id``), "hello" (a node announcing itself), "ack" (a node is done with every
delivery up to ``seq``), "ping" / "pong" (heartbeats), "bye" (the hub asks a node to stop).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from messages.codec import encode
from messages.system import DeliveryFailed

__all__ = ["Header", "KINDS", "WireError", "decode_header", "encode_header", "error_frames"]

Kind = Literal["tell", "ask", "reply", "error", "hello", "ack", "ping", "pong", "bye"]
KINDS = ("tell", "ask", "reply", "error", "hello", "ack", "ping", "pong", "bye")


class WireError(ValueError):
    """A frame that is not a valid header (the text says why)."""


class Header(msgspec.Struct, frozen=True, omit_defaults=True):
    """Routing facts of one frame. ``sender`` is set by the hub from the connection's identity."""

    kind: Kind
    to: str = ""
    sender: str = ""
    id: int = 0
    seq: int = 0


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Header)


def encode_header(header: Header) -> bytes:
    return _encoder.encode(header)


def decode_header(data: bytes) -> Header:
    """The header in ``data``; `WireError` naming the problem otherwise."""
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as error:
        raise WireError(f"bad frame header: {error}") from None
    except msgspec.DecodeError as error:
        raise WireError(f"frame header is not MessagePack: {error}") from None


def error_frames(reason: str, *, id: int = 0, to: str = "", recipient: str = "", message_type: str = "") -> list[bytes]:
    """The [header, body] of a typed `DeliveryFailed` answer."""
    body = encode(DeliveryFailed(reason=reason, recipient=recipient, message_type=message_type))
    return [encode_header(Header(kind="error", to=to, id=id)), body]
