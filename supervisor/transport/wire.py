"""The process-mode wire: two ZeroMQ frames per message, a small header and the codec's body.

    [header, body]      header = MessagePack map {"kind", "to", "sender", "id", "seq"}
                        body   = messages.codec.encode(message)  (a map with a "type" field)

The hub routes on the header alone and forwards the body untouched; only the receiving node
decodes (and so validates) it. Any MessagePack client can speak it: see `supervisor.transport.client`.
``sender`` is always written by the hub (the authenticated peer); whatever a peer puts there
is ignored. A client's name is ``client/<hex of its connection id>``: a "/" is never in an
actor's name, so a client can never be taken for an actor.

Kinds: "tell", "ask" (``id`` is the asker's correlation id), "reply" / "error" (answers to an
ask, same ``id``), "hello" (a node announcing itself; its body is the proof, see the hub),
"ack" (a node is done with every delivery up to ``seq``), "ping" / "pong" (heartbeats), "bye"
(the hub asks a node to stop), and the kinds of direct node-to-node links (`DIRECT_KINDS`). Every frame part is at most `MAX_FRAME_BYTES`: the sockets
drop a peer that sends more.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated, Literal

import msgspec

from messages.codec import MAX_MESSAGE_BYTES, encode
from messages.system import DeliveryFailed

__all__ = [
    "CLIENT_PREFIX",
    "DIRECT_SCHEME",
    "KINDS",
    "MAX_FRAME_BYTES",
    "MAX_NAME",
    "NodeReport",
    "SECRET_ENV",
    "DIRECT_KINDS",
    "Header",
    "PeerDown",
    "PeerInfo",
    "WireError",
    "client_name",
    "decode_header",
    "encode_header",
    "error_frames",
    "is_client",
    "link_token",
    "random_identity",
]

Kind = Literal["tell", "ask", "reply", "error", "hello", "ack", "ping", "pong", "bye", "peer", "down", "drain", "clear"]
KINDS = ("tell", "ask", "reply", "error", "hello", "ack", "ping", "pong", "bye")
DIRECT_KINDS = ("peer", "down", "drain", "clear")
"""The kinds of direct links (`supervisor.transport.direct`): only the hub sends "peer", "down" and
"clear", only a node "drain". The link itself speaks its own frames (`supervisor.transport.frames`)."""

MAX_FRAME_BYTES = MAX_MESSAGE_BYTES + 4096
"""The largest frame part any socket of the transport accepts (ZMQ_MAXMSGSIZE): a message and room for its header."""

MAX_NAME = 600
"""The longest name a header may carry (an actor name, or ``client/`` and up to 255 bytes in hex)."""

CLIENT_PREFIX = "client/"

DIRECT_SCHEME = "unix://"
"""How a node's direct endpoint is written in its hello: a Unix socket path (`supervisor.transport.direct`)."""

SECRET_ENV = "TREASURY_NODE_SECRET"
"""The environment variable through which the supervisor hands a node incarnation its secret (ipc mode)."""

Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME)]


class WireError(ValueError):
    """A frame that is not a valid header (the text says why)."""


class Header(msgspec.Struct, frozen=True, omit_defaults=True):
    """Routing facts of one frame. ``sender`` is set by the hub from the connection's identity."""

    kind: Kind
    to: Name = ""
    sender: Name = ""
    id: int = 0
    seq: int = 0
    endpoint: Annotated[str, msgspec.Meta(max_length=MAX_NAME)] = ""  # in a hello: the node's direct endpoint


class PeerInfo(msgspec.Struct, frozen=True):
    """The hub introduces a peer that takes direct links: where it listens, which process it is, and
    the token that proves to it who the holder is (see `supervisor.transport.direct`)."""

    name: Name
    endpoint: Name
    incarnation: int
    token: bytes


class NodeReport(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a node's pong says: the mail on its way to each peer over direct links, and how many
    dead letters its own runtime has recorded since it started (both for status)."""

    direct_out: dict[Name, Annotated[int, msgspec.Meta(ge=0)]] = {}
    dead_letters: Annotated[int, msgspec.Meta(ge=0)] = 0


class PeerDown(msgspec.Struct, frozen=True):
    """The hub says process ``incarnation`` of ``name`` is gone, and what it had done of the holder's direct mail."""

    name: Name
    incarnation: int
    done: int = 0
    handling: int = 0


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Header)


def encode_header(header: Header) -> bytes:
    return _encoder.encode(header)


def decode_header(data: bytes) -> Header:
    """The header in ``data``; `WireError` naming the problem otherwise (never any other exception)."""
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as error:
        raise WireError(f"bad frame header: {error}") from None
    except msgspec.DecodeError as error:
        raise WireError(f"frame header is not MessagePack: {error}") from None
    except RecursionError:
        raise WireError("bad frame header: nested too deeply") from None
    except (TypeError, ValueError, OverflowError, MemoryError) as error:
        raise WireError(f"bad frame header: {type(error).__name__}") from None


def error_frames(reason: str, *, id: int = 0, to: str = "", recipient: str = "", message_type: str = "") -> list[bytes]:
    """The [header, body] of a typed `DeliveryFailed` answer."""
    body = encode(DeliveryFailed(reason=reason, recipient=recipient[:MAX_NAME], message_type=message_type[:200]))
    return [encode_header(Header(kind="error", to=to, id=id)), body]


def link_token(secret: bytes, name: str, incarnation: int) -> bytes:
    """What process ``incarnation`` of node ``name`` shows a peer whose incarnation secret is ``secret``
    (minted by the hub, which knows every secret; checked by the peer, which knows its own)."""
    return hmac.new(secret, f"{name}\0{incarnation}".encode(), hashlib.sha256).digest()


def client_name(identity: bytes) -> str:
    """The name the hub gives a peer that is not an authenticated node: ``client/`` + its identity in hex."""
    return CLIENT_PREFIX + identity.hex()


def is_client(name: str) -> bool:
    return name.startswith(CLIENT_PREFIX)


def random_identity() -> bytes:
    """A connection identity nobody can guess (16 random bytes; never starting with 0, which ZeroMQ reserves)."""
    return b"\x01" + secrets.token_bytes(15)


def shown(name: str, limit: int = 80) -> str:
    """``name`` cut to ``limit`` characters for a log line or an error text."""
    return name if len(name) <= limit else f"{name[:limit]}... ({len(name)} characters)"
