"""The wire between `VenueServer` and `RemoteVenue`, all MessagePack (any MessagePack client can
speak it), and the table of the methods it carries, derived from the venue protocol:

- **Calls** go to the server's ROUTER socket, one frame per request (a REQ client's empty
  delimiter frame is kept and echoed): ``{"id": 7, "method": "transfer", "args": {...}}``, the
  arguments by name as in `TradingVenue` (enums as their string values). The answer is one
  frame, ``{"id": 7, "result": ...}`` (a message result is its codec form, with its ``type``), or
  ``{"id": 7, "error": "VenueRejected", "message": "..."}``: ``error`` names the `VenueError`
  class to raise. Any other exception on the server comes back as ``"VenueError"`` with a
  message naming it; a request that cannot be read gets ``"id": null``.
- **Fills** are published on the server's PUB socket as two frames, the topic
  ``b"kraken.main"`` (exchange.account) and the `Fill` in its codec form. The same topic also
  carries ``{"type": "FillsReady", "nonce": "..."}``: the mark a client asks for (method
  ``fills_ready``) to learn that its subscription has reached the server.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, get_type_hints

import msgspec

from actors.venues.base import TradingVenue, VenueError
from actors.venues.simulated import SimulatedVenue
from messages.common import AccountRef, Exchange, exchange_name
from messages.trading import Fill

__all__ = ["OPERATOR_HELPERS", "WIRE", "WireMethod", "protocol_methods"]


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One call: ``method`` with its ``args`` by name, answered by a `Reply` with the same ``id``."""

    id: int
    method: str
    args: msgspec.Raw


class Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The answer to one call: its ``result``, or the ``error`` class name and ``message``."""

    id: int | None
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    error: str | None = None
    message: str = ""


class FillsReady(msgspec.Struct, frozen=True, tag="FillsReady"):
    """Published on a fill topic when a client asks, so it knows its subscription reached the server."""

    nonce: str


encoder = msgspec.msgpack.Encoder()
request_decoder = msgspec.msgpack.Decoder(Request)
reply_decoder = msgspec.msgpack.Decoder(Reply)
feed_decoder = msgspec.msgpack.Decoder(Fill | FillsReady)


def topic(exchange: Exchange, account: str) -> bytes:
    return str(AccountRef(exchange_name(exchange), account)).encode()


def ipc_path(endpoint: str) -> str | None:
    return endpoint.removeprefix("ipc://") if endpoint.startswith("ipc://") else None


def failure(call_id: int | None, error: str, message: str) -> bytes:
    return encoder.encode(Reply(id=call_id, error=error, message=message))


def venue_error(name: str, message: str) -> VenueError:
    """The `VenueError` subclass called ``name`` with ``message``, or a plain `VenueError` naming it."""
    classes: list[type[VenueError]] = [VenueError]
    while classes:
        cls = classes.pop()
        if cls.__name__ == name:
            return cls(message)
        classes.extend(cls.__subclasses__())
    return VenueError(f"{name}: {message}")


@dataclass(frozen=True)
class WireMethod:
    """How one method's arguments and result are typed on the wire."""

    args: type[msgspec.Struct]
    result: msgspec.msgpack.Decoder[Any]

    @classmethod
    def of(cls, function: Callable[..., Any]) -> WireMethod:
        """The wire types read off ``function``'s annotations (``self`` left out)."""
        hints = get_type_hints(function)
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for parameter in inspect.signature(function).parameters.values():
            if parameter.name == "self":
                continue
            if parameter.default is inspect.Parameter.empty:
                fields.append((parameter.name, hints[parameter.name]))
            else:
                fields.append((parameter.name, hints[parameter.name], parameter.default))
        args = msgspec.defstruct(f"{function.__name__}_args", fields, frozen=True, forbid_unknown_fields=True)
        return cls(args=args, result=msgspec.msgpack.Decoder(hints["return"]))


OPERATOR_HELPERS = (
    "all_balances",
    "conservation_error",
    "audit",
    "settle",
    "in_flight",
    "fees_collected",
    "deposit",
    "external_adjust",
)
"""The simulated venue's operator helpers a server also answers (typed by `SimulatedVenue` itself)."""


def protocol_methods(protocol: type) -> list[str]:
    """The public methods ``protocol`` (and the protocols it extends) declares, in declaration order."""
    names: list[str] = []
    for cls in reversed(protocol.__mro__):
        if cls is Protocol or not getattr(cls, "_is_protocol", False):
            continue
        names += [n for n, v in vars(cls).items() if callable(v) and not n.startswith("_") and n not in names]
    return names


def _subscribe_fills(exchange: Exchange, account: str) -> None:
    """Start publishing the account's fills (the server subscribes to its venue once per account)."""


def _fills_ready(exchange: Exchange, account: str, nonce: str) -> None:
    """Publish a `FillsReady` mark with ``nonce`` on the account's topic."""


WIRE: dict[str, WireMethod] = {
    **{
        name: WireMethod.of(getattr(TradingVenue, name))
        for name in protocol_methods(TradingVenue)
        if name != "subscribe_fills"
    },
    **{name: WireMethod.of(getattr(SimulatedVenue, name)) for name in OPERATOR_HELPERS},
    "subscribe_fills": WireMethod.of(_subscribe_fills),
    "fills_ready": WireMethod.of(_fills_ready),
}
"""Every method a `VenueServer` answers and a `RemoteVenue` calls, with its wire types: each
`TradingVenue` method (its annotations are the schema), the operator helpers, and the two calls
that set up a fill feed. A method added to the protocol is served without touching this package."""
