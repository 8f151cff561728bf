"""A client for programs outside the tree (strategy processes, scripts, the CLI): talk to a running system.

    from supervisor.client import Client
    with Client() as client:                       # finds the running system's hub
        reply = client.send_command("gateway", {"strategy": "a", "cmd": "allocate",
                                                "currency": "usd", "amount": 100, "index": 2})

A client is one DEALER socket: use one per thread.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import zmq

from messages.base import Message
from messages.codec import DecodeError, decode, encode
from messages.commands import parse_command
from messages.reports import GetRuntimeStatus, RuntimeStatus
from messages.system import DeliveryFailed
from supervisor.wire import Header, WireError, decode_header, encode_header

__all__ = ["Client", "ClientError", "find_hub"]


class ClientError(RuntimeError):
    """The system could not be reached, or answered with a `DeliveryFailed` (``failure``)."""

    def __init__(self, text: str, failure: DeliveryFailed | None = None) -> None:
        super().__init__(text)
        self.failure = failure


def find_hub(runtime_folder: str | Path | None = None) -> str:
    """The hub endpoint of the system running in ``runtime_folder`` (default: ``$TREASURY_RUNTIME``, else run/demo)."""
    from supervisor.processes import read_system_record

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
        timeout: float = 5.0,
    ) -> None:
        self.endpoint = endpoint or find_hub(runtime_folder)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._socket: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        if keys is not None:
            from supervisor.keys import client_curve

            server_public, public, secret = client_curve(keys)
            self._socket.setsockopt(zmq.CURVE_SERVERKEY, server_public)
            self._socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
            self._socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
        self._socket.connect(self.endpoint)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close(0)

    def tell(self, actor: str, message: Message) -> None:
        self._socket.send_multipart([encode_header(Header(kind="tell", to=actor)), encode(message)])

    def ask(self, actor: str, message: Message, timeout: float | None = None) -> Any:
        """The actor's answer (a message, or plain data); `ClientError` if it could not be delivered."""
        id = next(self._ids)
        self._socket.send_multipart([encode_header(Header(kind="ask", to=actor, id=id)), encode(message)])
        deadline_ms = int(1000 * (self.timeout if timeout is None else timeout))
        while True:
            if not self._socket.poll(deadline_ms):
                raise ClientError(f"{actor} did not answer {type(message).__name__} within {deadline_ms / 1000}s")
            frames = self._socket.recv_multipart()
            if len(frames) != 2:
                continue
            try:
                header = decode_header(frames[0])
            except WireError:
                continue
            if header.id != id:
                continue  # a late answer to an earlier ask
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


def _decode_answer(body: bytes) -> Any:
    try:
        return decode(body)
    except DecodeError:
        return msgspec.msgpack.decode(body)  # plain data (an answer that is not a message)
