"""A node: one actor in its own OS process, linked to the hub by a ZeroMQ DEALER.

`NodeLink` is the node's side of the wire. Its connection has a random identity; its hello
names the actor and carries the proof (the incarnation's secret from the supervisor, in
``$TREASURY_NODE_SECRET``; over tcp the node's own CurveZMQ key is the proof). Mail for other actors leaves through the hub; mail
from the hub goes into the local runtime (which restarts the actor in-process if it raises,
keeping its mailbox); every delivery is acknowledged once the actor is done with it, so the
hub knows what a dead process was handling. Heartbeats are answered from the I/O thread.

A deployment runs a node with ``python -m desk.node --name NAME --connect ENDPOINT``.

Every message from the hub is handled inside a guard: a frame that cannot be decoded is
answered (if asked) and dead-lettered as a digest (its size and hash, not the bytes).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterable
from itertools import count
from pathlib import Path
from typing import Any

import msgspec
import zmq
from loguru import logger

from messages.base import Message
from messages.codec import DecodeError, decode, encode
from messages.system import DeliveryFailed
from supervisor.mailbox import Envelope, Reply
from supervisor.runtime import Runtime
from supervisor.transport.wire import (
    MAX_FRAME_BYTES,
    SECRET_ENV,
    Header,
    WireError,
    decode_header,
    encode_header,
    error_frames,
    is_client,
    random_identity,
)

__all__ = ["NodeLink", "Undecodable", "encode_answer", "node_secret", "secret_path"]


class Undecodable(msgspec.Struct, frozen=True):
    """What a dead letter keeps of a body that could not be decoded: its size and a digest, not the bytes."""

    size: int
    sha256: str

    @classmethod
    def of(cls, body: bytes) -> Undecodable:
        return cls(len(body), hashlib.sha256(body).hexdigest()[:32])


log = logger.bind(actor="node")
_link_ids = count()


def encode_answer(value: Any) -> bytes:
    """An ask's answer for the wire: a message through the codec, plain data as plain MessagePack."""
    if isinstance(value, Message):
        return encode(value)
    return msgspec.msgpack.encode(value)


class NodeLink:
    """The node's link to the hub: a `supervisor.runtime.Remote` for the local runtime, and the I/O loop.

    Any thread may `tell`; only the I/O thread (`run`) touches the DEALER socket: other threads
    hand frames over through an inproc PUSH socket of their own.
    """

    def __init__(
        self,
        name: str,
        endpoint: str,
        names: Iterable[str],
        *,
        curve: tuple[bytes, bytes, bytes] | None = None,
        context: zmq.Context[Any] | None = None,
        incarnation: int | None = None,
        orphan_timeout: float | None = None,
        secret: str = "",
    ) -> None:
        self.name = name
        self.secret = secret
        self.orphan_timeout = orphan_timeout  # stop when the hub has been silent this long (None: never)
        self.incarnation = incarnation if incarnation is not None else os.getpid()
        self.endpoint = endpoint
        self.names = set(names) - {name}
        self.runtime: Runtime | None = None
        self._context = context or zmq.Context.instance()
        self._outbox = f"inproc://node-out-{os.getpid()}-{next(_link_ids)}"
        self._pull = self._context.socket(zmq.PULL)
        self._pull.bind(self._outbox)
        self._dealer = self._context.socket(zmq.DEALER)
        self._dealer.setsockopt(zmq.IDENTITY, random_identity())  # the hello, not the identity, says who we are
        self._dealer.setsockopt(zmq.LINGER, 2000)
        self._dealer.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        if curve is not None:
            server_public, public, key = curve
            self._dealer.curve_serverkey = server_public
            self._dealer.curve_publickey = public
            self._dealer.curve_secretkey = key
        self._dealer.connect(endpoint)
        self._local = threading.local()
        self._pushes: list[zmq.Socket[Any]] = []
        self._pushes_lock = threading.Lock()
        self._closed = False
        self._done_seq = 0
        self._acked_seq = 0
        self._ack_wake = False  # an actor thread has woken the I/O thread to send an ack
        self._stop = threading.Event()
        self._graceful = True
        self.stop_reason = ""

    # ---- Remote (called from actor threads) ----------------------------------------------------

    def knows(self, name: str) -> bool:
        return name in self.names or is_client(name)  # a client that told us something can be told back

    def tell(self, name: str, message: Any, sender: str | None) -> None:
        self._hand_over([encode_header(Header(kind="tell", to=name)), encode(message)])

    def _hand_over(self, frames: list[bytes]) -> None:
        """Give ``frames`` to the I/O thread; after `close` they are dropped (logged): the link is gone."""
        if self._closed:
            log.warning("{}: the link is closed; a frame for the hub is dropped", self.name)
            return
        push = getattr(self._local, "push", None)
        if push is None:
            push = self._context.socket(zmq.PUSH)
            push.setsockopt(zmq.LINGER, 1000)
            push.connect(self._outbox)
            self._local.push = push
            with self._pushes_lock:
                self._pushes.append(push)
        try:
            push.send_multipart(frames)
        except zmq.ZMQError:
            if not self._closed:
                raise
            log.warning("{}: the link closed while a frame for the hub was handed over; it is dropped", self.name)

    # ---- the I/O loop --------------------------------------------------------------------------

    def request_stop(self, reason: str, graceful: bool = True) -> None:
        """Leave the I/O loop; ``graceful``: let the actor finish its mail and flush what it sent."""
        self.stop_reason = reason
        self._graceful = graceful
        self._stop.set()
        try:
            self._hand_over([b"wake", b""])
        except zmq.ZMQError:
            pass

    def run(self) -> None:
        """Say hello, then move frames both ways until `request_stop` or the runtime stops.

        On a requested stop the actor first finishes its mail (the runtime stops gracefully),
        then everything it sent meanwhile is flushed to the hub, then the last ack.
        """
        assert self.runtime is not None
        self._dealer.send_multipart(
            [encode_header(Header(kind="hello", to=self.name, id=self.incarnation)), self.secret.encode()]
        )
        poller = zmq.Poller()
        poller.register(self._dealer, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        heard = time.monotonic()  # the hub pings every heartbeat interval once it knows us
        while not self._stop.is_set() and not self.runtime.stopped:
            events = dict(poller.poll(200))
            if self._dealer in events:
                heard = time.monotonic()
            elif self.orphan_timeout is not None and time.monotonic() - heard > self.orphan_timeout:
                log.error(
                    "{}: no word from the hub for {:.0f}s - the supervisor is gone; stopping",
                    self.name,
                    self.orphan_timeout,
                )
                self.request_stop("the hub went silent")
                break
            if self._pull in events:
                for _ in range(1000):
                    try:
                        frames = self._pull.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    if frames[0] == b"wake":
                        continue
                    self._dealer.send_multipart(frames)
            if self._dealer in events:
                for _ in range(1000):
                    try:
                        frames = self._dealer.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        self._receive(frames)
                    except Exception:  # a bug must not end the I/O loop (and with it the node)
                        log.exception("{}: could not handle a frame from the hub; carrying on", self.name)
            self._send_ack()
        if not self._graceful:
            return
        if not self.runtime.stopped:
            self.runtime.stop()  # the actor drains its mailbox; what it tells is queued in the outbox
        self._flush_outbox()
        self._send_ack()

    def _flush_outbox(self) -> None:
        while True:
            try:
                frames = self._pull.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if frames[0] != b"wake":
                self._dealer.send_multipart(frames)

    def _send_ack(self) -> None:
        self._ack_wake = False  # cleared before reading, so a later _done wakes us again
        done = self._done_seq
        if done > self._acked_seq:
            self._acked_seq = done
            self._dealer.send_multipart([encode_header(Header(kind="ack", seq=done)), b""])

    def _receive(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            log.warning("ignored a frame of {} parts from the hub", len(frames))
            return
        try:
            header = decode_header(frames[0])
        except WireError as error:
            log.warning("ignored a frame from the hub: {}", error)
            return
        kind = header.kind
        if kind == "ping":
            self._dealer.send_multipart([encode_header(Header(kind="pong")), b""])
        elif kind == "bye":
            self.request_stop("the supervisor asked this node to stop")
        elif kind in ("tell", "ask"):
            self._deliver(header, frames[1])
        elif kind == "error":
            failure: Any
            try:
                failure = decode(frames[1])
            except DecodeError:
                failure = frames[1]
            log.warning("the hub could not deliver a message from {}: {}", self.name, failure)
            if isinstance(failure, DeliveryFailed) and failure.reason.startswith("not admitted"):
                log.error("{}: the hub refused this node: {}", self.name, failure.reason)
                self.request_stop(f"the hub refused this node: {failure.reason}")
        else:
            log.warning("ignored a {!r} frame from the hub", kind)

    def _deliver(self, header: Header, body: bytes) -> None:
        assert self.runtime is not None
        seq = header.seq
        receipt = (lambda: self._done(seq)) if seq else None
        try:
            message = decode(body)
        except DecodeError as error:
            reason = str(error)[:300]
            log.warning("undecodable message from {} to {}: {}", header.sender, self.name, reason)
            if header.kind == "ask":
                self._dealer.send_multipart(error_frames(reason, id=header.id, to=header.sender, recipient=self.name))
            self.runtime.dead_letter(self.name, Undecodable.of(body), f"undecodable: {reason}", header.sender)
            if receipt is not None:
                receipt()
            return
        reply = None
        if header.kind == "ask":
            asker, id = header.sender, header.id

            def answer(value: Any, error: BaseException | None) -> None:
                # Runs in the actor's thread after its handler: it must never raise there.
                kind = type(message).__name__
                try:
                    if error is not None:
                        frames = error_frames(
                            f"{type(error).__name__}: {str(error)[:500]}",
                            id=id,
                            to=asker,
                            recipient=self.name,
                            message_type=kind,
                        )
                    else:
                        frames = [encode_header(Header(kind="reply", to=asker, id=id)), encode_answer(value)]
                    self._hand_over(frames)
                except Exception as failure:  # the answer cannot go (cannot be encoded): the asker hears why
                    log.exception("could not send the answer to {} back to {}", kind, asker)
                    try:
                        self._hand_over(
                            error_frames(
                                f"{self.name} could not send its answer: {failure}"[:500],
                                id=id,
                                to=asker,
                                recipient=self.name,
                                message_type=kind,
                            )
                        )
                    except Exception:
                        log.exception("could not tell {} that its answer was lost", asker)

            reply = Reply(on_done=answer)
        # The sender the hub stamped (the authenticated peer: an actor, or a client/...), never one the peer chose.
        self.runtime.deliver(self.name, Envelope(message, header.sender or None, reply, receipt))

    def _done(self, seq: int) -> None:
        if seq > self._done_seq:
            self._done_seq = seq
        if not self._ack_wake:  # one wake-up per burst of finished messages
            self._ack_wake = True
            self._hand_over([b"wake", b""])

    def close(self) -> None:
        with self._pushes_lock:
            self._closed = True  # an actor thread still finishing a message hands nothing to closed sockets
            for push in self._pushes:
                push.close(0)
            self._pushes.clear()
        self._pull.close(0)
        self._dealer.close()


def secret_path(runtime_folder: str | os.PathLike[str], name: str) -> Path:
    """Where the supervisor leaves the secret of an external node ``name`` it does not start itself (ipc mode)."""
    return Path(runtime_folder) / "secrets" / name


def node_secret(name: str, runtime_folder: str | os.PathLike[str] | None = None) -> str:
    """This incarnation's proof for the hub: from the supervisor that started it (``$TREASURY_NODE_SECRET``,
    removed from the environment once read), or the one it left for an external node in ``runtime_folder``."""
    secret = os.environ.pop(SECRET_ENV, "")
    if not secret and runtime_folder:
        path = secret_path(runtime_folder, name)
        if path.exists():
            secret = path.read_text().strip()
    return secret
