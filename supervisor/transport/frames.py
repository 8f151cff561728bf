"""The frames of a direct node-to-node link: one ZeroMQ part each, a 13-byte head and a MessagePack body.

    head = kind (1 byte), seq (8 bytes), count (4 bytes), little-endian
    TELLS    seq = the first tell's number, count = how many;  body = a MessagePack array of messages
    ACK      seq = every tell up to it is done                  body = empty
    HELLO    seq = the dialling process                         body = `LinkHello` (who, to whom, the token)
    WELCOME  the hello was proved                               body = empty
    ERROR    a frame was refused                                body = a `DeliveryFailed` message

A link is between two of the desk's own nodes (the hub's wire, `supervisor.transport.wire`, is
the one any MessagePack client speaks). One part per frame, and tells batched into one frame
when they queue up behind the window, keep a tell to a few socket calls and a batch of them to
one: the receiver decodes a whole batch in one call (`messages.codec.decode_many`), and only a
batch holding a bad message is taken apart to dead-letter that message alone (`split_tells`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from enum import IntEnum
from typing import Annotated, NamedTuple

import msgspec

from messages.codec import DecodeError, decode, decode_many, encode
from messages.system import DeliveryFailed
from supervisor.transport.wire import MAX_FRAME_BYTES, MAX_NAME, WireError

__all__ = [
    "HEAD_BYTES",
    "BadTell",
    "MAX_BATCH_BYTES",
    "FrameKind",
    "LinkHello",
    "ack_frame",
    "error_frame",
    "hello_frame",
    "parse_frame",
    "split_tells",
    "tells_frame",
    "welcome_frame",
]

_HEAD = struct.Struct("<BQI")
HEAD_BYTES = _HEAD.size
MAX_BATCH_BYTES = MAX_FRAME_BYTES - HEAD_BYTES - 5
"""The most message bytes one TELLS frame carries (room for the head and the array's own header)."""


class FrameKind(IntEnum):
    TELLS = 1
    ACK = 2
    HELLO = 3
    WELCOME = 4
    ERROR = 5


_KINDS = frozenset(int(kind) for kind in FrameKind)
_TELLS = int(FrameKind.TELLS)

Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME)]


class LinkHello(msgspec.Struct, frozen=True):
    """A node dialling a peer: who it is (``sender``), whom it dials (``to``), and the hub's token."""

    to: Name
    sender: Name
    token: Annotated[bytes, msgspec.Meta(max_length=64)]


class BadTell(NamedTuple):
    """A message of a batch that could not be decoded: why, and its bytes (for the dead letter's digest)."""

    error: DecodeError
    data: bytes


_hello_decoder = msgspec.msgpack.Decoder(LinkHello)
_raw_list = msgspec.msgpack.Decoder(list[msgspec.Raw])


def _array_header(count: int) -> bytes:
    if count < 16:
        return bytes((0x90 | count,))
    if count < 1 << 16:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


def tells_frame(first: int, bodies: Sequence[bytes]) -> bytes:
    """One frame carrying ``bodies`` (encoded messages), numbered from ``first``."""
    if len(bodies) == 1:
        return _HEAD.pack(_TELLS, first, 1) + b"\x91" + bodies[0]
    return b"".join((_HEAD.pack(_TELLS, first, len(bodies)), _array_header(len(bodies)), *bodies))


def ack_frame(seq: int) -> bytes:
    return _HEAD.pack(FrameKind.ACK, seq, 0)


def welcome_frame() -> bytes:
    return _HEAD.pack(FrameKind.WELCOME, 0, 0)


def hello_frame(to: str, sender: str, incarnation: int, token: bytes) -> bytes:
    return _HEAD.pack(FrameKind.HELLO, incarnation, 0) + msgspec.msgpack.encode(LinkHello(to, sender, token))


def error_frame(reason: str, recipient: str) -> bytes:
    """A typed refusal: the body is a `DeliveryFailed` message."""
    return _HEAD.pack(FrameKind.ERROR, 0, 0) + encode(DeliveryFailed(reason=reason, recipient=recipient[:MAX_NAME]))


def parse_frame(frame: bytes) -> tuple[int, int, int, memoryview]:
    """A frame's kind (a `FrameKind` value), seq, count and body; `WireError` naming what is wrong otherwise."""
    if len(frame) < HEAD_BYTES:
        raise WireError(f"a direct-link frame has a {HEAD_BYTES}-byte head; this one has {len(frame)} bytes")
    kind, seq, count = _HEAD.unpack_from(frame)
    if kind not in _KINDS:
        raise WireError(f"unknown direct-link frame kind {kind}")
    return kind, seq, count, memoryview(frame)[HEAD_BYTES:]


def parse_hello(body: memoryview) -> LinkHello:
    try:
        return _hello_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise WireError(f"bad hello: {error}") from None


def split_tells(body: memoryview, count: int) -> tuple[Sequence[object], bool]:
    """The ``count`` messages of a TELLS body, and whether all of them are good; a bad one is a `BadTell`.

    The fast path (`messages.codec.decode_many`) decodes the whole array in one call; only when
    that fails is the array split and each message decoded on its own. `WireError` when the body
    is not an array of ``count`` items.
    """
    try:
        messages: Sequence[object] = decode_many(body, MAX_BATCH_BYTES + 5)
        good = True
    except DecodeError:
        try:
            raws = _raw_list.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as error:
            raise WireError(f"a TELLS body must be an array of {count} messages: {error}") from None
        split: list[object] = []
        for raw in raws:
            try:
                split.append(decode(raw))
            except DecodeError as error:
                split.append(BadTell(error, bytes(raw)))
        messages, good = split, False
    if len(messages) != count:
        raise WireError(f"a TELLS frame said {count} messages and carries {len(messages)}")
    return messages, good
