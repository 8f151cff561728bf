"""Direct node-to-node links (ipc mode): a tell goes from one node's socket straight to the other's.

The hub stays the directory, the authority on identities and the mailbox of last resort:

- A node that takes direct links listens on a Unix socket (its *direct endpoint*,
  ``unix://<runtime folder>/handling/<pid>.sock``; `supervisor.transport.stream` says why not
  ZeroMQ) and names it in its hello. The hub introduces every two such nodes to each other ("peer"):
  the endpoint, the process, and a token only the hub can mint, ``HMAC(peer's incarnation
  secret, holder's name and process)`` (`supervisor.transport.wire.link_token`).
- The holder dials the peer and says hello with that token; the peer checks it with its own
  secret and only then accepts frames from that connection, stamped with the proven name. A
  frame from a connection that has not proved who it is, or a wrong token, gets a typed error.
- Switching to the link keeps order: the holder stops sending, asks the hub to say when all it
  sent that peer through the hub is done ("drain" / "clear"), waits for the peer's "welcome",
  then sends what it held back, directly.
- Each link numbers its tells; at most ``window`` (256) are unacknowledged, the rest wait at the
  sender and go in frames of many (`supervisor.transport.frames`). The receiver acknowledges in
  batches and keeps a slot of its handling file per link.
- When a process dies the hub reads its handling file and tells each peer ("down") what of its
  direct mail was done and which one was in hand (a dead letter, counted by the hub); the peer
  hands the rest, then what it held back, to the hub, in order, for the next incarnation.

Every method runs on the thread that holds the node's sockets (see `supervisor.transport.link`).

(About 520 lines, over the usual 400: both ends of every link share one poller, one table of
streams by file descriptor and one handling file, and the switch-over, "down" and the window
each touch both ends; the frames and the stream they travel on are modules of their own.)
"""

from __future__ import annotations

import hmac
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import zmq
from loguru import logger

from messages.codec import DecodeError
from supervisor.transport.frames import (
    MAX_BATCH_BYTES,
    BadTell,
    FrameKind,
    ack_frame,
    error_frame,
    hello_frame,
    parse_frame,
    parse_hello,
    split_tells,
    tells_frame,
    welcome_frame,
)
from supervisor.transport.handling import HandlingFile
from supervisor.transport.pump import Delivery, Undecodable
from supervisor.transport.stream import FrameStream, StreamError, dial, listen
from supervisor.transport.wire import (
    DIRECT_SCHEME,
    MAX_FRAME_BYTES,
    Header,
    PeerDown,
    PeerInfo,
    WireError,
    encode_header,
    link_token,
    shown,
)

__all__ = ["FULL", "NONE", "QUEUED", "SENT", "DirectLinks"]

log = logger.bind(actor="node")

HUB, SWITCHING, DIRECT = "hub", "switching", "direct"
SENT, QUEUED, FULL, NONE = "sent", "queued", "full", "none"


UNPROVED_LIMIT = 64
"""Connections that have not said hello yet: past this many, the oldest is closed."""
_WATCH_READ, _WATCH_BOTH, _WRITABLE = int(zmq.POLLIN), int(zmq.POLLIN | zmq.POLLOUT), int(zmq.POLLOUT)
_READABLE = int(zmq.POLLIN | zmq.POLLERR)  # an error or a hang-up: the read says which (plain ints: no enum per poll)


@dataclass
class _Out:
    """This node's link to one peer."""

    name: str
    state: str = HUB
    incarnation: int = 0
    stream: FrameStream | None = None
    next_seq: int = 1
    unacked: deque[tuple[int, bytes]] = field(default_factory=deque)
    waiting: deque[bytes] = field(default_factory=deque)
    welcomed: bool = False
    cleared: bool = False


@dataclass
class _In:
    """One peer's link to this node."""

    name: str
    incarnation: int
    stream: FrameStream
    slot: int
    received: int = 0
    done: int = 0
    acked: int = 0
    skipped: set[int] = field(default_factory=set)  # undecodable tells, done before the tells ahead of them
    live: bool = True  # False once the peer's process is down or linked again (its deliveries mark nothing)


class DirectLinks:
    """The direct links of one node (see the module docstring)."""

    def __init__(
        self,
        name: str,
        incarnation: int,
        secret: bytes,
        endpoint: str,
        peers: set[str],
        *,
        poller: zmq.Poller,
        to_hub: Callable[[list[bytes]], None],
        deliver: Callable[[list[Delivery]], object],
        dead_letter: Callable[[str, Any, str, str | None], None],
        file: HandlingFile,
        window: int = 256,
        wait_limit: int = 100_000,
        ack_every: int = 64,
        on_acks_owed: Callable[[], None] | None = None,
    ) -> None:
        self.name, self.incarnation, self.secret, self.endpoint = name, incarnation, secret, endpoint
        self.peers = peers
        self.window, self.wait_limit = window, wait_limit
        self.ack_every, self._on_acks_owed = ack_every, on_acks_owed  # acks due in the middle of a burst
        self._poller = poller
        self._to_hub, self._deliver, self._dead_letter, self._file = to_hub, deliver, dead_letter, file
        assert endpoint.startswith(DIRECT_SCHEME), endpoint
        self._path = Path(endpoint.removeprefix(DIRECT_SCHEME))
        self.listener = listen(self._path)
        self._listener_fd = self.listener.fileno()
        poller.register(self._listener_fd, zmq.POLLIN)
        self._fds: dict[int, FrameStream] = {}  # the poll names what it found by file descriptor
        self.out: dict[str, _Out] = {}
        self.inbound: dict[str, _In] = {}
        self.streams: dict[FrameStream, _Out] = {}  # our links to peers
        self._routes: dict[FrameStream, str | None] = {}  # connections to us -> the peer each proved to be
        self._writing: set[FrameStream] = set()  # streams the poller also watches for room to write
        self._owed = False  # some link has done tells not acknowledged yet
        self._slots: dict[str, int] = {}  # peer -> its slot of the handling file (0 is the hub's)
        self._known: dict[str, PeerInfo] = {}  # peers the hub introduced, not dialled yet
        self.counts: Counter[str] = Counter()  # impostors, refused (frames before a hello), out_of_order

    # ---- sending ---------------------------------------------------------------------------------

    def tell(self, name: str, body: bytes) -> str:
        """SENT or QUEUED on ``name``'s link, FULL (the caller dead-letters it), or NONE: use the hub."""
        out = self.out.get(name)
        if out is None or out.state == HUB:
            known = self._known.pop(name, None)
            if known is None:
                return NONE
            out = self._dial(known)  # the first tell to a peer the hub introduced
            if out.state == HUB:
                return NONE  # it could not be dialled: this tell, and the next, go through the hub
        if out.state == DIRECT:
            if not out.waiting and len(out.unacked) < self.window and self._push(out, [body]):
                return SENT
            if len(out.waiting) % 32 == 0 and out.stream is not None:
                self.from_peer(out.stream)  # acks that came meanwhile, and what they let go (a tell never waits)
        if len(out.waiting) >= self.wait_limit:
            return FULL
        out.waiting.append(body)
        return QUEUED

    def _push(self, out: _Out, bodies: list[bytes]) -> bool:
        """Send ``bodies`` in one frame, numbered on from the link's last."""
        stream = out.stream
        if stream is None or stream.closed:
            return False  # the peer is gone: the mail waits for "down"
        first = out.next_seq
        if not self._send(stream, tells_frame(first, bodies)):
            return False
        out.unacked.extend(zip(range(first, first + len(bodies)), bodies, strict=True))
        out.next_seq = first + len(bodies)
        return True

    def _fill(self, out: _Out) -> None:
        """Send what waits, as far as the window lets, in frames of as many tells as fit."""
        while out.state == DIRECT and out.waiting and len(out.unacked) < self.window:
            batch: list[bytes] = []
            size = 0
            for body in islice(out.waiting, self.window - len(out.unacked)):
                if batch and size + len(body) > MAX_BATCH_BYTES:
                    break
                batch.append(body)
                size += len(body)
            if not self._push(out, batch):
                return
            for _ in batch:
                out.waiting.popleft()

    def depths(self) -> dict[str, int]:
        """Mail on its way to each peer: sent and not yet acknowledged, or waiting here."""
        return {o.name: len(o.unacked) + len(o.waiting) for o in self.out.values() if o.unacked or o.waiting}

    # ---- what the hub says -----------------------------------------------------------------------

    def introduce(self, peer: PeerInfo) -> None:
        """The hub introduces ``peer``: kept until the first tell to it."""
        if peer.name not in self.peers:
            log.warning(
                "{}: the hub introduced {}, which is not a peer of this deployment", self.name, shown(peer.name)
            )
            return
        out = self.out.get(peer.name)
        if out is not None and out.state != HUB:
            self._dial(peer)  # a link to an earlier process of it is still open: settle it now
        else:
            self._known[peer.name] = peer

    def _dial(self, peer: PeerInfo) -> _Out:
        """Dial ``peer``, prove who we are, and ask the hub to drain what it holds from us for it.
        The link stays HUB if nobody listens there."""
        out = self.out.setdefault(peer.name, _Out(peer.name))
        if out.incarnation == peer.incarnation and out.state != HUB:
            return out  # told twice
        if out.state != HUB:  # a link to an earlier process the hub has not said is down: settle nothing twice
            log.warning("{}: {} was introduced again; its old link's mail goes through the hub", self.name, peer.name)
            self.peer_down(PeerDown(peer.name, out.incarnation))
        try:
            stream = dial(peer.endpoint.removeprefix(DIRECT_SCHEME), MAX_FRAME_BYTES)
        except OSError as error:  # gone already, or not listening: the mail keeps going through the hub
            log.warning("{}: could not dial {} at {}: {}", self.name, peer.name, peer.endpoint, error)
            return out
        self._watch(stream)
        self.streams[stream] = out
        out.stream, out.state, out.incarnation, out.next_seq = stream, SWITCHING, peer.incarnation, 1
        out.welcomed = out.cleared = False
        self._send(stream, hello_frame(peer.name, self.name, self.incarnation, peer.token))
        self._to_hub([encode_header(Header(kind="drain", to=peer.name)), b""])
        return out

    def cleared(self, name: str) -> None:
        """The hub holds nothing more from us for ``name``."""
        out = self.out.get(name)
        if out is not None and out.state == SWITCHING:
            out.cleared = True
            self._switch(out)

    def _switch(self, out: _Out) -> None:
        if out.state == SWITCHING and out.welcomed and out.cleared:
            out.state = DIRECT
            log.info("{}: direct link to {} (pid {}) open", self.name, out.name, out.incarnation)
            self._fill(out)

    def peer_down(self, down: PeerDown) -> None:
        """Process ``down.incarnation`` of a peer is gone: what it had not done goes to the hub, in order."""
        known = self._known.get(down.name)
        if known is not None and known.incarnation == down.incarnation:
            del self._known[down.name]
        out = self.out.get(down.name)
        if out is not None and out.incarnation == down.incarnation and out.state != HUB:
            if out.stream is not None:
                self._drop(out.stream)
            again = [body for seq, body in out.unacked if seq > down.done and seq != down.handling]
            lost = sum(1 for seq, _ in out.unacked if seq == down.handling > down.done)
            again += out.waiting
            out.stream, out.state, out.incarnation = None, HUB, 0
            out.unacked.clear()
            out.waiting.clear()
            if lost:
                log.warning("{}: {} died while handling our tell (a dead letter at the hub)", self.name, down.name)
            header = encode_header(Header(kind="tell", to=down.name))
            for body in again:
                self._to_hub([header, body])
            log.info("{}: {} is down; {} tells go through the hub", self.name, down.name, len(again))
        inbound = self.inbound.get(down.name)
        if inbound is not None and inbound.incarnation == down.incarnation:
            inbound.live = False
            self._drop(inbound.stream)
            del self.inbound[down.name]

    # ---- frames from peers -----------------------------------------------------------------------

    def on_events(self, events: dict[Any, int]) -> None:
        """What the poll found on this node's direct sockets (``events`` may hold others: ignored)."""
        for target, mask in events.items():
            if target == self._listener_fd:
                self._accept()
                continue
            stream = self._fds.get(target)
            if stream is None:
                continue
            if mask & _WRITABLE:
                self._flush_stream(stream)
            if mask & _READABLE:
                if stream in self._routes:
                    self._from_connection(stream)
                elif stream in self.streams:
                    self.from_peer(stream)

    def _watch(self, stream: FrameStream) -> None:
        self._fds[stream.fd] = stream
        self._poller.register(stream.fd, _WATCH_READ)

    def _send(self, stream: FrameStream, frame: bytes) -> bool:
        """``frame`` on ``stream`` (now, or as it drains); False if the stream is over."""
        try:
            stream.send(frame)
        except StreamError:
            self._drop(stream)
            return False
        if stream.wants_write and stream not in self._writing:
            self._writing.add(stream)
            self._poller.modify(stream.fd, _WATCH_BOTH)
        return True

    def _flush_stream(self, stream: FrameStream) -> None:
        try:
            stream.flush()
        except StreamError:
            self._drop(stream)
            return
        if not stream.wants_write and stream in self._writing:
            self._writing.discard(stream)
            self._poller.modify(stream.fd, _WATCH_READ)

    def _drop(self, stream: FrameStream) -> None:
        """Stop watching ``stream`` and close it (its peer's state is settled by the hub's word)."""
        if self._fds.get(stream.fd) is stream:
            del self._fds[stream.fd]
            self._poller.unregister(stream.fd)
        self.streams.pop(stream, None)
        self._routes.pop(stream, None)
        self._writing.discard(stream)
        stream.close()

    def _frames(self, stream: FrameStream) -> list[bytes]:
        try:
            return stream.receive()
        except StreamError as error:
            out = self.streams.get(stream)
            if out is not None:
                log.info("{}: the link to {} closed: {}", self.name, out.name, error)
            self._drop(stream)
            return []

    def from_peer(self, stream: FrameStream) -> None:
        """Frames a peer sends back on our link to it: its welcome, acks, or an error."""
        out = self.streams.get(stream)
        if out is None:
            return
        for frame in self._frames(stream):
            try:
                kind, seq, _, body = parse_frame(frame)
            except WireError as error:
                log.warning("{}: ignored a frame from {}: {}", self.name, out.name, error)
                continue
            if kind == FrameKind.ACK:
                unacked = out.unacked
                while unacked and unacked[0][0] <= seq:
                    unacked.popleft()
                self._fill(out)
            elif kind == FrameKind.WELCOME:
                out.welcomed = True
                self._switch(out)
            elif kind == FrameKind.ERROR:
                log.error("{}: {} refused a frame on our direct link: {!r}", self.name, out.name, bytes(body[:300]))

    def _accept(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except BlockingIOError:
            return
        stream = FrameStream(connection, MAX_FRAME_BYTES)
        unproved = [s for s, name in self._routes.items() if name is None]
        if len(unproved) >= UNPROVED_LIMIT:
            self.counts["refused"] += 1
            self._drop(unproved[0])  # the oldest that has not said who it is
        self._routes[stream] = None
        self._watch(stream)

    def _from_connection(self, stream: FrameStream) -> None:
        for frame in self._frames(stream):
            try:
                self._inbound_frame(stream, frame)
            except Exception:  # a bug must not end the node's I/O
                log.exception("{}: could not handle a frame on the direct endpoint; carrying on", self.name)

    def _refuse(self, stream: FrameStream, reason: str, counter: str) -> None:
        self.counts[counter] += 1
        log.warning("{}: refused a frame on the direct endpoint: {}", self.name, reason)
        self._send(stream, error_frame(reason, self.name))

    def _inbound_frame(self, stream: FrameStream, frame: bytes) -> None:
        try:
            kind, seq, count, body = parse_frame(frame)
        except WireError as error:
            self._refuse(stream, str(error), "refused")
            return
        name = self._routes.get(stream)
        if kind == FrameKind.HELLO:
            self._hello(stream, seq, body)
            return
        if name is None:
            self._refuse(
                stream,
                "say hello with a token from the hub first: this connection has not proved who it is",
                "refused",
            )
            return
        if kind != FrameKind.TELLS:
            self._refuse(
                stream, f"a peer sends tells and hellos on a direct link, not {FrameKind(kind).name}", "refused"
            )
            return
        inbound = self.inbound[name]
        if seq != inbound.received + 1 or not 0 < count <= self.window:
            self._refuse(
                stream,
                f"tells {seq}..{seq + count - 1} out of order (expected {inbound.received + 1}, at most {self.window})",
                "out_of_order",
            )
            return
        inbound.received = seq + count - 1
        try:
            messages, good = split_tells(body, count)
        except WireError as error:  # not even an array: each of its tells is a dead letter
            self._refuse(stream, str(error), "refused")
            messages, good = [BadTell(DecodeError(str(error)), frame)] * count, False
        done, mark = self._done, self._mark
        deliveries = [
            Delivery(m, name, None, partial(done, inbound, n), partial(mark, inbound, n))
            for n, m in enumerate(messages, seq)
            if type(m) is not BadTell
        ]
        if not good:
            for number, message in enumerate(messages, seq):
                if type(message) is BadTell:
                    reason = str(message.error)[:300]
                    self._dead_letter(self.name, Undecodable.of(message.data), f"undecodable: {reason}", name)
                    self._skip(inbound, number)
        if deliveries:
            self._deliver(deliveries)

    def _hello(self, stream: FrameStream, incarnation: int, body: memoryview) -> None:
        try:
            hello = parse_hello(body)
        except WireError as error:
            self._refuse(stream, str(error), "refused")
            return
        claimed = hello.sender
        if claimed not in self.peers or hello.to != self.name:
            self._refuse(stream, f"{shown(claimed)!r} is not a peer of {self.name}", "impostors")
            return
        if not hmac.compare_digest(hello.token, link_token(self.secret, claimed, incarnation)):
            self._refuse(stream, f"not admitted as {shown(claimed)}: wrong token", "impostors")
            return
        old = self.inbound.get(claimed)
        if old is not None:
            old.live = False
            if old.stream is not stream:
                self._drop(old.stream)
        slot = self._slots.setdefault(claimed, len(self._slots) + 1)
        self._file.reset(slot, incarnation)
        self.inbound[claimed] = _In(claimed, incarnation, stream, slot)
        self._routes[stream] = claimed
        self._send(stream, welcome_frame())

    def _done(self, inbound: _In, seq: int) -> None:
        """The actor is finished with tell ``seq`` (tells are done in order; skipped ones with them)."""
        if not inbound.live:
            return  # a link an earlier process of the peer had
        skipped = inbound.skipped
        while skipped and seq + 1 in skipped:
            skipped.discard(seq + 1)
            seq += 1
        inbound.done = seq
        self._owed = True
        self._file.done(inbound.slot, seq)
        if seq - inbound.acked >= self.ack_every and self._on_acks_owed is not None:
            self._on_acks_owed()

    def _skip(self, inbound: _In, seq: int) -> None:
        """Tell ``seq`` was dead-lettered on arrival: done once every tell before it is."""
        if inbound.done == seq - 1:
            self._done(inbound, seq)
        else:
            inbound.skipped.add(seq)

    def _mark(self, inbound: _In, seq: int) -> None:
        """The actor takes tell ``seq`` now (written where the supervisor reads it after a kill)."""
        if inbound.live:
            self._file.handling(inbound.slot, seq)

    def acks_owed(self) -> bool:
        return self._owed

    def flush_acks(self, ack_at: int = 1) -> None:
        if not self._owed:
            return
        owed = False
        for inbound in self.inbound.values():
            if inbound.done - inbound.acked >= ack_at:
                inbound.acked = inbound.done
                self._send(inbound.stream, ack_frame(inbound.done))  # if the peer is gone, the hub settles its link
            owed = owed or inbound.done > inbound.acked
        self._owed = owed

    def close(self) -> None:
        for stream in [*self.streams, *self._routes]:
            stream.close()
        self.streams.clear()
        self._routes.clear()
        self.listener.close()
        self._path.unlink(missing_ok=True)
