"""Direct node-to-node links (ipc mode): a tell goes from one node's socket straight to the other's.

The hub stays the directory, the authority on identities and the mailbox of last resort:

- A node that takes direct links binds a ROUTER (its *direct endpoint*, in the runtime folder)
  and names it in its hello. The hub introduces every two such nodes to each other ("peer"):
  the endpoint, the process, and a token only the hub can mint, ``HMAC(peer's incarnation
  secret, holder's name and process)`` (`supervisor.transport.wire.link_token`).
- The holder dials the peer and says hello with that token; the peer checks it with its own
  secret and only then accepts frames from that connection, stamped with the proven name. A
  frame from a connection that has not proved who it is, or a wrong token, gets a typed error.
- Switching to the link keeps order: the holder stops sending, asks the hub to say when all it
  sent that peer through the hub is done ("drain" / "clear"), waits for the peer's "welcome",
  then sends what it held back, directly.
- Each link numbers its tells; at most ``window`` (256) are unacknowledged, the rest wait at the
  sender. The receiver acknowledges in batches and keeps a slot of its handling file per link.
- When a process dies the hub reads its handling file and tells each peer ("down") what of its
  direct mail was done and which one was in hand (a dead letter, counted by the hub); the peer
  hands the rest, then what it held back, to the hub, in order, for the next incarnation.

Every method runs on the thread that holds the node's sockets (see `supervisor.transport.link`).
"""

from __future__ import annotations

import hmac
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
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
from supervisor.transport.wire import (
    MAX_FRAME_BYTES,
    Header,
    PeerDown,
    PeerInfo,
    WireError,
    encode_header,
    link_token,
    random_identity,
    shown,
)

__all__ = ["FULL", "NONE", "QUEUED", "SENT", "DirectLinks", "waiting_frames"]

log = logger.bind(actor="node")

HUB, SWITCHING, DIRECT = "hub", "switching", "direct"
SENT, QUEUED, FULL, NONE = "sent", "queued", "full", "none"


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


@dataclass
class _Out:
    """This node's link to one peer."""

    name: str
    state: str = HUB
    incarnation: int = 0
    socket: zmq.Socket[Any] | None = None
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
    identity: bytes
    slot: int
    received: int = 0
    done: int = 0
    acked: int = 0
    skipped: set[int] = field(default_factory=set)  # undecodable tells, done before the tells ahead of them


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
        context: zmq.Context[Any],
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
        self._context, self._poller = context, poller
        self._to_hub, self._deliver, self._dead_letter, self._file = to_hub, deliver, dead_letter, file
        self.router = context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        self.router.bind(endpoint)
        poller.register(self.router, zmq.POLLIN)
        self.out: dict[str, _Out] = {}
        self.inbound: dict[str, _In] = {}
        self.sockets: dict[zmq.Socket[Any], _Out] = {}
        self._routes: dict[bytes, str] = {}  # connection identity -> the peer it proved to be
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
            self._dial(known)  # the first tell to a peer the hub introduced
            out = self.out[name]
        if out.state == DIRECT:
            if not out.waiting and len(out.unacked) < self.window and self._push(out, [body]):
                return SENT
            if len(out.waiting) % 32 == 0 and out.socket is not None:
                self.from_peer(out.socket)  # acks that came meanwhile, and what they let go (a tell never waits)
        if len(out.waiting) >= self.wait_limit:
            return FULL
        out.waiting.append(body)
        return QUEUED

    def _push(self, out: _Out, bodies: list[bytes]) -> bool:
        """Send ``bodies`` in one frame, numbered on from the link's last."""
        assert out.socket is not None
        first = out.next_seq
        try:
            out.socket.send(tells_frame(first, bodies), zmq.NOBLOCK)
        except zmq.Again:
            return False  # the peer's pipe is full or it is gone: the mail waits (for an ack, or for "down")
        out.unacked.extend(zip(range(first, first + len(bodies)), bodies, strict=True))
        out.next_seq = first + len(bodies)
        return True

    def _fill(self, out: _Out) -> None:
        """Send what waits, as far as the window lets, in frames of as many tells as fit."""
        while out.state == DIRECT and out.waiting and len(out.unacked) < self.window:
            batch, size = [], 0
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

    def _dial(self, peer: PeerInfo) -> None:
        """Dial ``peer``, prove who we are, and ask the hub to drain what it holds from us for it."""
        out = self.out.setdefault(peer.name, _Out(peer.name))
        if out.incarnation == peer.incarnation and out.state != HUB:
            return  # told twice
        if out.state != HUB:  # a link to an earlier process the hub has not said is down: settle nothing twice
            log.warning("{}: {} was introduced again; its old link's mail goes through the hub", self.name, peer.name)
            self.peer_down(PeerDown(peer.name, out.incarnation))
        socket = self._context.socket(zmq.DEALER)
        socket.setsockopt(zmq.IDENTITY, random_identity())
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        socket.connect(peer.endpoint)
        socket.send(hello_frame(peer.name, self.name, self.incarnation, peer.token))
        self._poller.register(socket, zmq.POLLIN)
        self.sockets[socket] = out
        out.socket, out.state, out.incarnation, out.next_seq = socket, SWITCHING, peer.incarnation, 1
        out.welcomed = out.cleared = False
        self._to_hub([encode_header(Header(kind="drain", to=peer.name)), b""])

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
            if out.socket is not None:
                self._poller.unregister(out.socket)
                self.sockets.pop(out.socket, None)
                out.socket.close(0)
            again = [body for seq, body in out.unacked if seq > down.done and seq != down.handling]
            lost = sum(1 for seq, _ in out.unacked if seq == down.handling > down.done)
            again += out.waiting
            out.socket, out.state, out.incarnation = None, HUB, 0
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
            self._routes.pop(inbound.identity, None)
            del self.inbound[down.name]

    # ---- frames from peers -----------------------------------------------------------------------

    def from_peer(self, socket: zmq.Socket[Any]) -> None:
        """Frames a peer sends back on our link to it: its welcome, acks, or an error."""
        out = self.sockets.get(socket)
        for frames in waiting_frames(socket):
            if out is None or len(frames) != 1:
                continue
            try:
                kind, seq, _, body = parse_frame(frames[0])
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

    def from_router(self) -> None:
        for frames in waiting_frames(self.router):
            try:
                self._inbound_frame(frames)
            except Exception:  # a bug must not end the node's I/O
                log.exception("{}: could not handle a frame on the direct endpoint; carrying on", self.name)

    def _refuse(self, identity: bytes, reason: str, counter: str) -> None:
        self.counts[counter] += 1
        log.warning("{}: refused a frame on the direct endpoint: {}", self.name, reason)
        try:
            self.router.send_multipart([identity, error_frame(reason, self.name)], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # gone, or not reading

    def _inbound_frame(self, frames: list[bytes]) -> None:
        identity = frames[0]
        if len(frames) != 2:
            self._refuse(identity, f"a direct-link frame is one part, got {len(frames) - 1}", "refused")
            return
        try:
            kind, seq, count, body = parse_frame(frames[1])
        except WireError as error:
            self._refuse(identity, str(error), "refused")
            return
        name = self._routes.get(identity)
        if kind == FrameKind.HELLO:
            self._hello(identity, seq, body)
            return
        if name is None:
            self._refuse(
                identity,
                "say hello with a token from the hub first: this connection has not proved who it is",
                "refused",
            )
            return
        if kind != FrameKind.TELLS:
            self._refuse(identity, f"a peer sends tells and hellos on a direct link, not {kind.name}", "refused")
            return
        inbound = self.inbound[name]
        if seq != inbound.received + 1 or not 0 < count <= self.window:
            self._refuse(
                identity,
                f"tells {seq}..{seq + count - 1} out of order (expected {inbound.received + 1}, at most {self.window})",
                "out_of_order",
            )
            return
        inbound.received = seq + count - 1
        try:
            messages = split_tells(body, count)
        except WireError as error:  # not even an array: each of its tells is a dead letter
            self._refuse(identity, str(error), "refused")
            messages = [BadTell(DecodeError(str(error)), frames[1])] * count
        deliveries = []
        for number, message in enumerate(messages, seq):
            if type(message) is BadTell:
                reason = str(message.error)[:300]
                self._dead_letter(self.name, Undecodable.of(message.data), f"undecodable: {reason}", name)
                self._skip(inbound, number)
            else:
                deliveries.append(
                    Delivery(
                        message, name, None, partial(self._done, inbound, number), partial(self._mark, inbound, number)
                    )
                )
        if deliveries:
            self._deliver(deliveries)

    def _hello(self, identity: bytes, incarnation: int, body: memoryview) -> None:
        try:
            hello = parse_hello(body)
        except WireError as error:
            self._refuse(identity, str(error), "refused")
            return
        claimed = hello.sender
        if claimed not in self.peers or hello.to != self.name:
            self._refuse(identity, f"{shown(claimed)!r} is not a peer of {self.name}", "impostors")
            return
        if not hmac.compare_digest(hello.token, link_token(self.secret, claimed, incarnation)):
            self._refuse(identity, f"not admitted as {shown(claimed)}: wrong token", "impostors")
            return
        old = self.inbound.get(claimed)
        if old is not None:
            self._routes.pop(old.identity, None)
        slot = self._slots.setdefault(claimed, len(self._slots) + 1)
        self._file.reset(slot, incarnation)
        self.inbound[claimed] = _In(claimed, incarnation, identity, slot)
        self._routes[identity] = claimed
        self.router.send_multipart([identity, welcome_frame()], zmq.NOBLOCK)

    def _done(self, inbound: _In, seq: int) -> None:
        """The actor is finished with tell ``seq`` (tells are done in order; skipped ones with them)."""
        if self.inbound.get(inbound.name) is not inbound:
            return  # a link an earlier process of the peer had
        skipped = inbound.skipped
        while skipped and seq + 1 in skipped:
            skipped.discard(seq + 1)
            seq += 1
        inbound.done = seq
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
        if self.inbound.get(inbound.name) is inbound:
            self._file.handling(inbound.slot, seq)

    def acks_owed(self) -> bool:
        return any(inbound.done > inbound.acked for inbound in self.inbound.values())

    def flush_acks(self, ack_at: int = 1) -> None:
        for inbound in self.inbound.values():
            if inbound.done - inbound.acked >= ack_at:
                inbound.acked = inbound.done
                try:
                    self.router.send_multipart([inbound.identity, ack_frame(inbound.done)], zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass  # the peer is gone; the hub settles its link

    def close(self) -> None:
        for socket in self.sockets:
            socket.close(0)
        self.sockets.clear()
        self.router.close(0)
