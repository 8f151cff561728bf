"""A client for programs outside the tree (strategy processes, scripts, the CLI): talk to a running system.

    from supervisor.transport import Client
    with Client() as client:                       # finds the running system's hub
        reply = client.send_command("gateway", {"strategy": "a", "cmd": "allocate",
                                                "currency": "usd", "amount": 100, "index": 2})

A client is one DEALER socket: use one per thread. The hub names it ``client/<random>`` (a
client can never speak for an actor) and answers it only what its own asks asked for. Over tcp it
uses a client key of the keys folder (``keys/clients/NAME.key_secret``; ``key=NAME`` picks one).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import zmq

from messages.base import Message
from messages.codec import DecodeError, EncodeError, decode, encode
from messages.commands import parse_command
from messages.reports import GetRuntimeStatus, RuntimeStatus
from messages.system import DeliveryFailed
from supervisor.transport.keys import KeysError, client_curve
from supervisor.transport.records import read_system_record
from supervisor.transport.wire import (
    MAX_FRAME_BYTES,
    MAX_NAME,
    Header,
    WireError,
    decode_header,
    encode_header,
    random_identity,
)

__all__ = ["Client", "ClientError", "ClientUsageError", "find_hub"]

_SCHEMES = ("ipc://", "tcp://", "inproc://")


class ClientError(RuntimeError):
    """The system could not be reached, or answered with a `DeliveryFailed` (``failure``)."""

    def __init__(self, text: str, failure: DeliveryFailed | None = None) -> None:
        super().__init__(text)
        self.failure = failure


class ClientUsageError(ClientError):
    """A call that cannot be made as written: a malformed endpoint, timeout, keys folder, actor name
    or a message that cannot be encoded (a mistake of the caller, not an answer of the system)."""


def find_hub(runtime_folder: str | Path | None = None) -> str:
    """The hub endpoint of the system running in ``runtime_folder`` (default: ``$TREASURY_RUNTIME``, else run/demo)."""
    folder = Path(runtime_folder or os.environ.get("TREASURY_RUNTIME") or "run/demo")
    record = read_system_record(folder)
    if record is None:
        raise ClientError(f"no running system found in {folder} (start one with: bin/run --processes)")
    return str(record["hub"])


class Client:
    """Asks and tells actors of a running system through its hub."""

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        runtime_folder: str | Path | None = None,
        keys: str | Path | None = None,
        key: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.endpoint = endpoint or find_hub(runtime_folder)
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise ClientUsageError(f"the timeout must be a positive number of seconds, not {timeout!r}")
        if not self.endpoint.startswith(_SCHEMES) or len(self.endpoint) > 4096:
            raise ClientUsageError(f"not an endpoint: {self.endpoint[:100]!r} (expected ipc://PATH or tcp://HOST:PORT)")
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._socket: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
        try:
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.setsockopt(zmq.IDENTITY, random_identity())
            self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
            if keys is not None:
                server_public, public, secret = client_curve(keys, key)
                self._socket.setsockopt(zmq.CURVE_SERVERKEY, server_public)
                self._socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
                self._socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
            self._socket.connect(self.endpoint)
        except (zmq.ZMQError, KeysError, UnicodeError) as error:
            self._socket.close(0)
            raise ClientUsageError(f"cannot connect to {self.endpoint[:100]!r}: {error}") from None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close(0)

    def tell(self, actor: str, message: Message) -> None:
        self._socket.send_multipart(_frames("tell", actor, 0, message))

    def ask(self, actor: str, message: Message, timeout: float | None = None) -> Any:
        """The actor's answer (a message, or plain data); `ClientError` if it could not be delivered."""
        seconds = self.timeout if timeout is None else timeout
        if not (math.isfinite(seconds) and seconds > 0):
            raise ClientUsageError(f"the timeout must be a positive number of seconds, not {seconds!r}")
        id = next(self._ids)
        self._socket.send_multipart(_frames("ask", actor, id, message))
        deadline = time.monotonic() + seconds
        while True:
            left_ms = max(0, int(1000 * (deadline - time.monotonic())))
            if not self._socket.poll(left_ms):
                raise ClientError(f"{actor} did not answer {type(message).__name__} within {seconds}s")
            frames = self._socket.recv_multipart()
            if len(frames) != 2:
                continue
            try:
                header = decode_header(frames[0])
            except WireError:
                continue
            if header.kind not in ("reply", "error") or header.id != id:
                continue  # a late answer to an earlier ask, or an actor's tell
            answer = _decode_answer(frames[1])
            if header.kind == "error" or isinstance(answer, DeliveryFailed):
                failure = answer if isinstance(answer, DeliveryFailed) else None
                reason = failure.reason if failure else str(answer)
                raise ClientError(f"{actor}: {reason}", failure)
            return answer

    def send_command(self, actor: str, payload: str | bytes | Mapping[str, Any]) -> Any:
        """Send a JSON command - the desk's seed shape or any message as ``{"type": ...}`` - and return the answer."""
        return self.ask(actor, parse_command(payload))

    def status(self) -> RuntimeStatus:
        answer = self.ask("runtime", GetRuntimeStatus())
        assert isinstance(answer, RuntimeStatus)
        return answer


def _frames(kind: str, actor: str, id: int, message: Message) -> list[bytes]:
    """[header, body] for ``message`` to ``actor``; `ClientUsageError` if either cannot go on the wire."""
    if not actor or len(actor) > MAX_NAME:
        raise ClientUsageError(f"not an actor name: {actor[:100]!r}")
    try:
        return [encode_header(Header(kind=kind, to=actor, id=id)), encode(message)]  # type: ignore[arg-type]
    except UnicodeError:
        raise ClientUsageError(f"not an actor name (not UTF-8): {actor[:100]!r}") from None
    except EncodeError as error:
        raise ClientUsageError(str(error)) from None


def _decode_answer(body: bytes) -> Any:
    try:
        return decode(body)
    except DecodeError:
        pass
    try:
        return msgspec.msgpack.decode(body)  # plain data (an answer that is not a message)
    except (msgspec.DecodeError, RecursionError, ValueError, TypeError) as error:
        raise ClientError(f"the answer could not be read: {error}") from None
