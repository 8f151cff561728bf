"""A node: one actor in its own OS process, linked to the hub by a ZeroMQ DEALER.

`NodeLink` is the node's side of the wire. Its connection has a random identity; its hello
names the actor and carries the proof (the incarnation's secret from the supervisor, in
``$TREASURY_NODE_SECRET``; over tcp the node's own CurveZMQ key is the proof). Mail for other
actors leaves through the hub, or over a direct link to the other node
(`supervisor.transport.direct`); mail that arrives goes into the local runtime (which restarts
the actor in-process if it raises, keeping its mailbox); deliveries are acknowledged once the
actor is done with them, in batches, and the handling file tells the hub what a dead process
had done and had in hand. There is no I/O thread: the actor's thread polls the sockets while
it is idle (see `NodeLink`).

A deployment runs a node with ``python -m desk.node --name NAME --connect ENDPOINT``.

Every message from the hub is handled inside a guard: a frame that cannot be decoded is
answered (if asked) and dead-lettered as a digest (its size and hash, not the bytes).

(About 500 lines, over the usual 400: the sockets, their lock, the poll, the hub's protocol
and the answers to asks all work on the one set of sockets the lock owns.)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from queue import SimpleQueue
from typing import Any

import msgspec
import zmq
from loguru import logger

from messages.base import Message
from messages.codec import DecodeError, decode, encode
from messages.system import DeliveryFailed
from supervisor.mailbox import Reply
from supervisor.runtime import Runtime
from supervisor.transport.direct import FULL, NONE, DirectLinks
from supervisor.transport.handling import HandlingFile, direct_socket
from supervisor.transport.pump import Delivery, LinkMailbox, Undecodable
from supervisor.transport.wire import (
    DIRECT_SCHEME,
    MAX_FRAME_BYTES,
    SECRET_ENV,
    Header,
    NodeReport,
    PeerDown,
    PeerInfo,
    WireError,
    decode_header,
    encode_header,
    error_frames,
    is_client,
    random_identity,
)

__all__ = ["NodeLink", "Undecodable", "encode_answer", "node_secret", "secret_path"]

ACK_EVERY = 64
"""With a handling file, deliveries are acknowledged in batches: at most this many wait for it..."""
ACK_DELAY_MS = 20
"""...or for this long once the node has nothing more to do (the hub's window is 256)."""


log = logger.bind(actor="node")


def has_frames(socket: zmq.Socket[Any]) -> bool:
    """Whether a receive would get something (cheaper than the exception of an empty receive)."""
    return bool(int(socket.get(zmq.EVENTS)) & zmq.POLLIN)


def waiting_frames(socket: zmq.Socket[Any], limit: int = 1000) -> Iterator[list[bytes]]:
    """The messages waiting on ``socket`` now (at most ``limit``, then the loop looks at the rest), never blocking."""
    for _ in range(limit):
        if not has_frames(socket):
            return
        try:
            yield socket.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return


def encode_answer(value: Any) -> bytes:
    """An ask's answer for the wire: a message through the codec, plain data as plain MessagePack."""
    if isinstance(value, Message):
        return encode(value)
    return msgspec.msgpack.encode(value)


class NodeLink:
    """The node's link to the hub: a `supervisor.runtime.Remote` for the local runtime, and its sockets.

    The actor's own thread does the I/O: its mailbox (`supervisor.transport.pump.LinkMailbox`,
    installed when `runtime` is set, before the runtime starts) polls the sockets whenever the
    actor is idle, and a tell goes straight onto the socket. The sockets are guarded by one lock;
    a thread that finds it taken (a timer's tell while the actor polls) leaves its frames in a
    queue and wakes the poll. `run`, on the node's main thread, does the I/O only while the
    actor is not polling (busy in a handler, or restarting), a few times a second, so that
    heartbeats are still answered and the hub's mail still flows into the mailbox.

    With ``handling`` (a path in the runtime folder) the link keeps a
    `supervisor.transport.handling` file and acknowledges deliveries in batches (before each
    poll): the supervisor reads the file when the process dies. Without it every delivery is
    acknowledged as soon as it is done, and the hub takes the first unacknowledged delivery for
    the one being handled.
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
        handling: Path | None = None,
        direct: bool = False,
    ) -> None:
        self.name = name
        self.secret = secret
        self.orphan_timeout = orphan_timeout  # stop when the hub has been silent this long (None: never)
        self.incarnation = incarnation if incarnation is not None else os.getpid()
        self.endpoint = endpoint
        self.names = set(names) - {name}
        self._runtime: Runtime | None = None
        self._context = context or zmq.Context.instance()
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
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poller = zmq.Poller()
        self._poller.register(self._dealer, zmq.POLLIN)
        self._poller.register(self._wake_fd, zmq.POLLIN)
        self._io = threading.Lock()  # whoever holds it owns the sockets
        self._queued: SimpleQueue[Callable[[], None]] = SimpleQueue()
        self._headers: dict[str, bytes] = {}
        self._file = HandlingFile(handling, len(self.names) + 1) if handling is not None else None
        self._direct: DirectLinks | None = None
        if direct and handling is not None and endpoint.startswith("ipc://"):
            self._direct = DirectLinks(
                name,
                self.incarnation,
                secret.encode(),
                f"{DIRECT_SCHEME}{direct_socket(handling.parent, self.incarnation)}",
                self.names - {"runtime"},
                poller=self._poller,
                to_hub=self._dealer.send_multipart,
                deliver=self._deliver_batch,
                dead_letter=lambda *args: self._runtime.dead_letter(*args) if self._runtime else None,
                file=self._file,  # type: ignore[arg-type]
                ack_every=ACK_EVERY,
                on_acks_owed=partial(self._locked, self._flush, ACK_EVERY),
            )
        self._closed = False
        self._dead = False  # request_stop(graceful=False): the link does nothing more, like a killed process
        self._done_seq = 0
        self._acked_seq = 0
        self._heard = time.monotonic()  # the hub pings every heartbeat interval once it knows us
        self._stop = threading.Event()
        self._graceful = True
        self.stop_reason = ""
        # The hello is the connection's first frame, said once the actor has started (`run`): what
        # the actor sends before (from its on_start) waits in the queue behind it, so the hub stamps
        # it with the proven name, never as a client's.
        self._hello_said = False
        self._hello: list[bytes] | None = None  # set by `run`; sent by whoever holds the sockets next

    @property
    def runtime(self) -> Runtime | None:
        return self._runtime

    @runtime.setter
    def runtime(self, runtime: Runtime) -> None:
        """The local runtime (not started yet): its actor gets the mailbox that polls this link."""
        self._runtime = runtime
        runtime.use_mailbox(self.name, LinkMailbox(self.name, self))

    # ---- Remote (called from any thread) ---------------------------------------------------------

    def knows(self, name: str) -> bool:
        return name in self.names or is_client(name)  # a client that told us something can be told back

    def tell(self, name: str, message: Any, sender: str | None) -> None:
        self._locked(self._tell, name, encode(message), message)

    def _tell(self, name: str, body: bytes, message: Any) -> None:
        if self._direct is not None:
            sent = self._direct.tell(name, body)
            if sent == FULL:
                assert self._runtime is not None
                self._runtime.dead_letter(name, message, "too much mail waiting for its direct link", self.name)
            if sent != NONE:
                return
        header = self._headers.get(name)
        if header is None:
            header = encode_header(Header(kind="tell", to=name))
            if len(self._headers) < 10_000:
                self._headers[name] = header
        self._dealer.send_multipart([header, body])

    def _send(self, frames: list[bytes]) -> None:
        """Send ``frames`` to the hub (now, or by the sockets' holder)."""
        self._locked(self._dealer.send_multipart, frames)

    def _locked(self, action: Callable[..., None], *args: Any) -> None:
        """Run ``action(*args)`` on the sockets now if they are free; else queue it for their holder (woken).
        After `close`: dropped (logged)."""
        if self._closed or self._dead:
            log.warning("{}: the link is closed; a frame is dropped", self.name)
            return
        if not self._hello_said:  # nothing goes ahead of the hello (see `run`)
            self._queued.put(partial(action, *args))
            self.wake()
            return
        if self._io.acquire(blocking=False):
            try:
                if not self._queued.empty():
                    self._run_queued()  # what this thread (or another) queued earlier goes first: order kept
                action(*args)
            finally:
                self._io.release()
            return
        self._queued.put(partial(action, *args))
        self.wake()

    def wake(self) -> None:
        """Make the thread in the poll (if any) return: new mail, or frames queued for the sockets."""
        if self._closed:
            return
        try:
            os.eventfd_write(self._wake_fd, 1)
        except OSError:
            pass  # closed

    # ---- the I/O, on whichever thread holds the sockets ---------------------------------------------

    def pump(self, timeout_ms: int) -> None:
        """Poll the sockets for up to ``timeout_ms`` and handle what came (the actor's idle wait)."""
        if self._dead or self._closed:
            self._stop.wait(timeout_ms / 1000)
            return
        with self._io:
            queued = self._queued
            if not queued.empty() or not self._hello_said:
                self._run_queued()
            if self._acks_owed():  # acknowledge once the burst is over (or every ACK_EVERY), not per message
                events = self._poller.poll(min(ACK_DELAY_MS, timeout_ms))
                if not events:
                    self._flush(1)
                    events = self._poller.poll(timeout_ms)
            else:
                events = self._poller.poll(timeout_ms)
            if events:
                self._drain(dict(events))
            if not queued.empty():
                self._run_queued()

    def _run_queued(self) -> None:
        if not self._hello_said:
            if self._hello is None:
                return  # `run` has not begun: what is queued waits behind the hello
            self._dealer.send_multipart(self._hello)
            self._hello_said = True
        queued = self._queued
        while not queued.empty():  # only the sockets' holder takes from it
            queued.get_nowait()()

    def _acks_owed(self) -> bool:
        return self._done_seq > self._acked_seq or (self._direct is not None and self._direct.acks_owed())

    def _flush(self, ack_at: int = 1) -> None:
        """Send the frames other threads queued, then acknowledge what is done if ``ack_at`` or more
        deliveries wait for it on a path (sockets held)."""
        self._run_queued()
        done = self._done_seq
        if done - self._acked_seq >= ack_at:
            self._acked_seq = done
            self._dealer.send_multipart([encode_header(Header(kind="ack", seq=done)), b""])
        if self._direct is not None:
            self._direct.flush_acks(ack_at)

    def _drain(self, events: dict[Any, int]) -> None:
        if self._wake_fd in events:
            try:
                os.eventfd_read(self._wake_fd)
            except BlockingIOError:
                pass
        if self._dealer in events:
            self._heard = time.monotonic()
            for frames in waiting_frames(self._dealer):
                try:
                    self._receive(frames)
                except Exception:  # a bug must not end the I/O (and with it the node)
                    log.exception("{}: could not handle a frame from the hub; carrying on", self.name)
        if self._direct is not None:
            self._direct.on_events(events)

    def _deliver_batch(self, deliveries: list[Delivery]) -> None:
        """Tells that came over a direct link, into the mailbox (or dead letters, if it is closed)."""
        if self._runtime is not None:
            self._runtime.deliver_many(self.name, deliveries)

    # ---- the node's main thread --------------------------------------------------------------------

    def request_stop(self, reason: str, graceful: bool = True) -> None:
        """Leave `run`; ``graceful``: let the actor finish its mail and flush what it sent.
        Not graceful: the link goes silent at once (no acks, no goodbye), like a killed process."""
        self.stop_reason = reason
        self._graceful = graceful
        if not graceful:
            self._dead = True
        self._stop.set()
        self.wake()

    def run(self) -> None:
        """Say hello, then do the I/O whenever the actor is not polling, until `request_stop` or the runtime stops.

        On a requested stop the actor first finishes its mail (the runtime stops gracefully),
        then everything it sent meanwhile is flushed to the hub, then the last ack.
        """
        assert self._runtime is not None
        endpoint = self._direct.endpoint if self._direct is not None else ""
        hello = encode_header(Header(kind="hello", to=self.name, id=self.incarnation, endpoint=endpoint))
        self._hello = [hello, self.secret.encode()]  # then what the actor sent while it started, in order
        if self._io.acquire(blocking=False):
            try:
                self._run_queued()
            finally:
                self._io.release()
        else:
            self.wake()  # the actor is polling: it says hello as its poll returns
        while not self._stop.is_set() and not self._runtime.stopped:
            self._stop.wait(0.2)
            if self._io.acquire(blocking=False):  # the actor is busy or restarting: keep the link alive
                try:
                    self._flush()
                    self._drain(dict(self._poller.poll(0)))
                    self._flush()
                finally:
                    self._io.release()
            if self.orphan_timeout is not None and time.monotonic() - self._heard > self.orphan_timeout:
                log.error(
                    "{}: no word from the hub for {:.0f}s - the supervisor is gone; stopping",
                    self.name,
                    self.orphan_timeout,
                )
                self.request_stop("the hub went silent")
                break
        if not self._graceful:
            return
        if not self._runtime.stopped:
            self._runtime.stop()  # the actor drains its mailbox; what it tells goes out meanwhile
        with self._io:
            self._flush()

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
        if kind in ("tell", "ask"):
            self._deliver(header, frames[1])
        elif kind == "ping":  # with the mail on its way over direct links and the dead letters here (for status)
            report = NodeReport(
                direct_out=self._direct.depths() if self._direct is not None else {},
                dead_letters=self._runtime.dead_letter_count if self._runtime is not None else 0,
            )
            self._dealer.send_multipart([encode_header(Header(kind="pong")), msgspec.msgpack.encode(report)])
        elif kind in ("peer", "down", "clear") and self._direct is not None:
            self._from_directory(header, frames[1])
        elif kind == "bye":
            self.request_stop("the supervisor asked this node to stop")
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

    def _from_directory(self, header: Header, body: bytes) -> None:
        assert self._direct is not None
        try:
            if header.kind == "peer":
                self._direct.introduce(msgspec.msgpack.decode(body, type=PeerInfo))
            elif header.kind == "down":
                self._direct.peer_down(msgspec.msgpack.decode(body, type=PeerDown))
            else:
                self._direct.cleared(header.sender)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            log.warning("{}: ignored a {!r} frame from the hub: {}", self.name, header.kind, error)

    def _deliver(self, header: Header, body: bytes) -> None:
        """A delivery from the hub, into the mailbox (sockets held: answers that cannot wait are queued)."""
        assert self._runtime is not None
        seq = header.seq
        receipt = (lambda: self._done(seq)) if seq else None
        try:
            message = decode(body)
        except DecodeError as error:
            reason = str(error)[:300]
            log.warning("undecodable message from {} to {}: {}", header.sender, self.name, reason)
            if header.kind == "ask":
                self._dealer.send_multipart(error_frames(reason, id=header.id, to=header.sender, recipient=self.name))
            self._runtime.dead_letter(self.name, Undecodable.of(body), f"undecodable: {reason}", header.sender)
            if receipt is not None:
                receipt()
            return
        reply = self._answerer(header, type(message).__name__) if header.kind == "ask" else None
        # The sender the hub stamped (the authenticated peer: an actor, or a client/...), never one the peer chose.
        mark = partial(self._file.handling, 0, seq) if self._file is not None and seq else None
        self._runtime.deliver(self.name, Delivery(message, header.sender or None, reply, receipt, mark))

    def _answerer(self, header: Header, kind: str) -> Reply:
        """Where the actor's answer to an ask goes: back to the asker through the hub."""
        asker, id = header.sender, header.id

        def answer(value: Any, error: BaseException | None) -> None:
            # Runs in the actor's thread after its handler: it must never raise there.
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
                self._send(frames)
            except Exception as failure:  # the answer cannot go (cannot be encoded): the asker hears why
                log.exception("could not send the answer to {} back to {}", kind, asker)
                try:
                    self._send(
                        error_frames(
                            f"{self.name} could not send its answer: {failure}"[:500],
                            id=id,
                            to=asker,
                            recipient=self.name,
                            message_type=kind,
                        ),
                    )
                except Exception:
                    log.exception("could not tell {} that its answer was lost", asker)

        return Reply(on_done=answer)

    def _done(self, seq: int) -> None:
        if seq > self._done_seq:
            self._done_seq = seq
        if self._file is not None:
            self._file.done(0, seq)  # acknowledged in a batch: every ACK_EVERY, and before the next poll
            if self._done_seq - self._acked_seq >= ACK_EVERY:
                self._locked(self._flush, ACK_EVERY)
        elif not self._dead:
            self._acked_seq = self._done_seq
            self._send([encode_header(Header(kind="ack", seq=seq)), b""])

    def close(self) -> None:
        if self._closed:
            return
        held = self._io.acquire(timeout=5)  # an abandoned (hung) incarnation may hold it no longer than a poll
        try:
            self._closed = True  # an actor thread still finishing a message sends nothing to closed sockets
            if self._direct is not None:
                self._direct.close()
            self._dealer.close()
            os.close(self._wake_fd)
        finally:
            if held:
                self._io.release()
        if self._file is not None:
            self._file.close(remove=False)  # the supervisor reads it (and removes it) when the process is gone


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
