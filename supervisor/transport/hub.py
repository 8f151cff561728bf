"""The hub: the supervisor process's ZeroMQ ROUTER, routing frames between nodes and clients by name.

Who is who is the hub's decision, never the peer's. A connection is a client
(``client/<hex of its identity>``) until it proves, in its hello, that it is a node: in ipc
mode with the secret the supervisor gave that node incarnation (`admit`), in tcp mode with
the CurveZMQ key bound to the actor name (`supervisor.transport.keys`). The hub stamps the sender on
every frame it forwards, and forwards an answer only to an ask it routed (same asker, same
responder, same id): a peer can neither speak for an actor nor forge a reply.

Each node's undelivered mail is kept: while a node is down its mail waits (up to
``queue_limit`` messages and ``queue_bytes`` bytes; beyond that it becomes a dead letter and
an asker gets an error). A node holds at most ``window`` unacknowledged deliveries; when its
process dies, the one it was handling (its handling file says which; without one, the first
unacknowledged) is dead-lettered, as in-process, and the rest go to the next incarnation, in order. Every bad frame gets a typed
`DeliveryFailed` answer, or is counted as dropped when even that cannot be sent
(`Hub.counts`); nothing a peer sends can stop the hub's thread.

Direct node-to-node links (`supervisor.transport.direct`) are introduced, drained and settled
by `supervisor.transport.directory`; a dead node's handling file (`supervisor.transport.handling`)
says exactly what it had done and which delivery was in hand.

(About 580 lines, over the usual 400: routing, identities, acknowledgement windows and the
guarded receive loop share the ROUTER socket and its per-node state; the slots, the directory
and the handling files live in their own modules.)
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any

import msgspec
import zmq
from loguru import logger

from supervisor.transport.directory import Directory
from supervisor.transport.handling import SlotState, direct_socket, handling_path, read_handling
from supervisor.transport.keys import allow_clients, server_curve
from supervisor.transport.slots import Delivery, HubNodeStatus, NodeSlot, readable
from supervisor.transport.wire import (
    DIRECT_SCHEME,
    MAX_FRAME_BYTES,
    Header,
    NodeReport,
    WireError,
    client_name,
    decode_header,
    encode_header,
    error_frames,
    is_client,
    shown,
)

__all__ = ["Hub", "HubNodeStatus", "SystemHandler", "readable"]

_report_decoder = msgspec.msgpack.Decoder(NodeReport)


def _report(body: bytes) -> NodeReport:
    """What a node's pong reports (nothing, if it says nothing valid)."""
    try:
        return _report_decoder.decode(body) if body else NodeReport()
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return NodeReport()


log = logger.bind(actor="hub")

SystemHandler = Callable[[Header, bytes], "list[bytes] | None"]
"""Answers frames addressed to a name the hub itself serves (such as "runtime"): [header, body] or None."""

SENT, FULL, GONE = "sent", "full", "gone"


class Hub:
    """Routes frames by name; see the module docstring. Runs in its own thread (`start` / `stop`).

    ``names``: the nodes of the deployment. ``served``: names the hub answers itself through
    ``system_handler``. ``on_silent(name)`` is called when a connected node has not answered a
    heartbeat for ``heartbeat_timeout`` seconds. ``keys`` (a `supervisor.transport.keys` folder) switches
    on CurveZMQ: only peers whose public key is in the folder get in, and a node's key names it
    (required for tcp://). Without keys a node proves itself with the secret given to `admit`.
    """

    def __init__(
        self,
        endpoint: str,
        names: Iterable[str],
        *,
        served: Iterable[str] = (),
        system_handler: SystemHandler | None = None,
        window: int = 256,
        queue_limit: int = 10_000,
        queue_bytes: int = 64 << 20,
        pending_limit: int = 100_000,
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float = 10.0,
        on_silent: Callable[[str], None] | None = None,
        keys: Path | None = None,
        handling_folder: Path | None = None,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        if endpoint.startswith("tcp://") and keys is None:
            raise ValueError(
                "a tcp:// hub needs CurveZMQ keys (see supervisor.transport.keys); use ipc:// for one host"
            )
        self.endpoint = endpoint
        self.nodes = {name: NodeSlot(name) for name in names}
        self.served = set(served)
        self.system_handler = system_handler
        self.window = window
        self.queue_limit = queue_limit
        self.queue_bytes = queue_bytes
        self.pending_limit = pending_limit
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.on_silent = on_silent
        self._keys = keys
        self.handling_folder = handling_folder
        self._context = context or zmq.Context.instance()
        self._commands: SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = SimpleQueue()
        self._lock = threading.Lock()  # guards the slots for status readers
        self._connected = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._secrets: dict[str, bytes] = {}  # node name -> the proof its current incarnation must show
        self._routes: dict[bytes, str] = {}  # connection identity -> the node it proved to be
        self._pending: Counter[tuple[str, str, int]] = Counter()  # (responder, asker, id) of asks routed
        self.dead_letters: deque[tuple[str, str, str]] = deque(maxlen=10_000)  # (recipient, sender, reason)
        self._dead_letter_total = 0
        self._drops_this_beat = 0
        self._directory = Directory(self.nodes, self._send, self._secrets.get)
        self.counts: Counter[str] = Counter()
        """received, routed, answered (bad frames answered with an error), dropped (answers that could
        not be sent), impostors (hellos refused), forged (answers to no ask), internal_errors (bugs survived).
        A frame over `MAX_FRAME_BYTES` never reaches the hub: ZeroMQ drops the connection that sent it."""

    @property
    def errors_answered(self) -> int:
        return self.counts["answered"]

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._running.set()
        self._thread = threading.Thread(target=self._serve, name="hub", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._running.clear()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    @property
    def alive(self) -> bool:
        """True while the hub's thread serves (false after `stop`, or if it ever died)."""
        return self._thread is not None and self._thread.is_alive()

    # ---- commands from other threads ---------------------------------------------------------

    def admit(self, name: str, secret: str) -> None:
        """The next incarnation of node ``name`` proves itself with ``secret`` in its hello (ipc mode);
        any earlier secret stops working."""
        with self._lock:
            self._secrets[name] = secret.encode()

    def node_down(self, name: str, reason: str, incarnation: int) -> None:
        """The supervisor saw process ``incarnation`` of node ``name`` die: stop delivering to it and
        settle its in-flight mail (ignored if a newer incarnation has already said hello)."""
        self._commands.put((self._node_down, (name, reason, incarnation)))

    def say_bye(self, name: str) -> None:
        """Ask node ``name`` to stop gracefully."""
        self._commands.put((self._send_control, (name, "bye")))

    def status(self) -> list[HubNodeStatus]:
        now = time.monotonic()
        with self._lock:
            return [
                HubNodeStatus(
                    s.name,
                    s.connected,
                    s.incarnation,
                    len(s.queue),
                    len(s.inflight) + self._directory.in_transit(s.name),
                    s.delivered,
                    s.dead_letters,
                    now - s.last_pong if s.connected else 0.0,
                )
                for s in self.nodes.values()
            ]

    def wait_connected(self, name: str, incarnation: int, timeout: float) -> bool:
        """Block until node ``name`` has said hello as process ``incarnation`` (its pid)."""
        slot = self.nodes[name]
        with self._connected:
            return self._connected.wait_for(lambda: slot.connected and slot.incarnation == incarnation, timeout)

    # ---- the hub thread ----------------------------------------------------------------------

    def _serve(self) -> None:
        socket = self._context.socket(zmq.ROUTER)
        authenticator = None
        try:
            socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
            if self._keys is not None:
                authenticator = allow_clients(self._context, self._keys)
                public, secret = server_curve(self._keys)
                socket.curve_server = True
                socket.curve_publickey = public
                socket.curve_secretkey = secret
            socket.bind(self.endpoint)
        except (zmq.ZMQError, OSError, ValueError) as error:
            self._error = error
            self._ready.set()
            socket.close(0)
            if authenticator is not None:
                authenticator.stop()
            return
        self._socket = socket
        self._ready.set()
        poller = zmq.Poller()
        poller.register(socket, zmq.POLLIN)
        next_beat = time.monotonic() + self.heartbeat_interval
        keyed = self._keys is not None
        try:
            while self._running.is_set():
                events = dict(poller.poll(20))
                if socket in events:
                    for _ in range(1000):  # drain what is there, then look at commands and timers
                        try:
                            frames = socket.recv_multipart(zmq.NOBLOCK, copy=not keyed)
                        except zmq.Again:
                            break
                        self._guarded(self._receive, frames, keyed)
                self._guarded(self._run_commands)
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat_interval
                    self._guarded(self._heartbeat)
        finally:
            socket.close(0)
            if authenticator is not None:
                authenticator.stop()

    def _guarded(self, handler: Callable[..., None], *args: Any) -> None:
        """Run one step of the loop; a bug in it is logged and counted, and the hub carries on."""
        try:
            handler(*args)
        except Exception:
            self.counts["internal_errors"] += 1
            log.exception("the hub could not handle a frame or command; it carries on")

    def _receive(self, frames: list[Any], keyed: bool) -> None:
        user_id = None
        if keyed:
            user_id = frames[1].get("User-Id") if len(frames) > 1 else None
            frames = [f.bytes for f in frames]
        self.counts["received"] += 1
        identity = frames[0]
        who = self._who(identity, user_id)
        try:
            self._handle(identity, who, frames, user_id)
        except Exception:
            self.counts["internal_errors"] += 1
            log.exception("the hub could not handle a frame from {}", shown(who))
            self._answer_error(identity, 0, "the hub could not handle this frame", counted=False)

    def _who(self, identity: bytes, user_id: str | None) -> str:
        """The authenticated name of a connection: the node it proved to be, else a client name."""
        name = self._routes.get(identity)
        if name is not None and (user_id is None or user_id == name):
            return name
        return client_name(identity)

    def _run_commands(self) -> None:
        while True:
            try:
                handler, args = self._commands.get_nowait()
            except Empty:
                return
            handler(*args)

    def _send(self, identity: bytes | None, frames: list[bytes]) -> str:
        if identity is None:
            return GONE
        try:
            self._socket.send_multipart([identity, *frames], zmq.NOBLOCK)
        except zmq.Again:  # the peer's pipe is full: it is not reading
            return FULL
        except zmq.ZMQError:  # EHOSTUNREACH: not connected
            return GONE
        return SENT

    def _handle(self, identity: bytes, who: str, frames: list[bytes], user_id: str | None) -> None:
        if len(frames) != 3:
            self._answer_error(identity, 0, f"a frame must be [header, body], got {len(frames) - 1} parts")
            return
        try:
            header = decode_header(frames[1])
        except WireError as error:
            self._answer_error(identity, 0, str(error))
            return
        body = frames[2]
        kind = header.kind
        node = self.nodes.get(who)
        if kind in ("tell", "ask"):
            self._route(identity, who, header, body)
        elif kind in ("reply", "error"):
            self._answer(identity, who, header, body)
        elif kind == "hello":
            self._hello(identity, who, header, body, user_id)
        elif kind == "ack" and node is not None:
            self._acked(node, header.seq)
        elif kind == "pong" and node is not None:
            report = _report(body)
            with self._lock:
                node.last_pong = time.monotonic()
                node.direct_out = report.direct_out
                node.node_dead_letters = report.dead_letters
        elif kind == "drain" and node is not None:
            self._directory.drain(who, header.to)
        elif kind in ("ack", "pong", "drain"):
            self._answer_error(identity, header.id, f"only a node may send {kind!r} frames (say hello first)")
        else:
            self._answer_error(identity, header.id, f"a peer may not send {kind!r} frames")

    def _answer_error(self, identity: bytes, id: int, reason: str, recipient: str = "", counted: bool = True) -> None:
        if counted:
            self.counts["answered"] += 1
        log.warning("refused a frame from {}: {}", shown(client_name(identity)), reason)
        if self._send(identity, error_frames(reason, id=id, recipient=recipient)) != SENT:
            self._dropped(client_name(identity), "an error answer")

    def _dropped(self, to: str, what: str) -> None:
        """Count (and log) an answer that could not be sent; past 10 a heartbeat, one summary line per heartbeat."""
        self.counts["dropped"] += 1
        self._drops_this_beat += 1
        if self._drops_this_beat <= 10:
            log.warning("dropped {} for {}: it is gone or not reading (pipe full)", what, shown(to))

    def _log_drops(self) -> None:
        if self._drops_this_beat > 10:
            log.warning(
                "dropped {} more answers since the last heartbeat ({} in all)",
                self._drops_this_beat - 10,
                self.counts["dropped"],
            )
        self._drops_this_beat = 0

    def _identity_of(self, name: str) -> bytes | None:
        """Where to send frames for ``name``: a node's current connection, or a client's own identity."""
        if is_client(name):
            try:
                return bytes.fromhex(name.removeprefix("client/"))
            except ValueError:
                return None
        slot = self.nodes.get(name)
        return slot.route if slot is not None else None

    def _answer(self, identity: bytes, who: str, header: Header, body: bytes) -> None:
        """A reply or error from ``who``: forwarded only if ``who`` was asked by ``header.to`` under this id."""
        key = (who, header.to, header.id)
        if self._pending[key] <= 0:
            self.counts["forged"] += 1
            self._pending.pop(key, None)
            self._answer_error(
                identity,
                header.id,
                f"no ask from {shown(header.to)} to {shown(who)} with id {header.id} is waiting for an answer",
            )
            return
        self._settle_ask(key)
        self.counts["routed"] += 1
        frames = [encode_header(Header(kind=header.kind, to=header.to, sender=who, id=header.id)), body]
        if self._send(self._identity_of(header.to), frames) != SENT:
            self._dropped(header.to, f"the answer from {who} (id {header.id})")

    def _settle_ask(self, key: tuple[str, str, int]) -> None:
        self._pending[key] -= 1
        if self._pending[key] <= 0:
            del self._pending[key]

    def _route(self, identity: bytes, who: str, header: Header, body: bytes) -> None:
        to = header.to
        if to in self.served:
            self.counts["routed"] += 1
            answer = (
                self.system_handler(Header(kind=header.kind, to=to, sender=who, id=header.id), body)
                if self.system_handler
                else None
            )
            if answer is not None and header.kind == "ask" and self._send(identity, answer) != SENT:
                self._dropped(who, f"the answer from {to}")
            return
        if is_client(to):
            self._to_client(identity, who, header, body)
            return
        slot = self.nodes.get(to)
        if slot is None:
            known = ", ".join(sorted([*self.nodes, *self.served]))
            self._dead_letter(to, who, "no actor has this name")
            self._answer_error(identity, header.id, f"no actor named {shown(to)!r} (known actors: {known})", to)
            return
        if header.kind == "ask" and len(self._pending) >= self.pending_limit:
            self._answer_error(
                identity, header.id, f"{self.pending_limit} asks are waiting for answers; not queued", to
            )
            return
        with self._lock:
            full = len(slot.queue) >= self.queue_limit or slot.queued_bytes + len(body) > self.queue_bytes
            if not full:
                slot.queue.append(Delivery(next(slot.next_seq), header.kind, who, header.id, body))
                slot.queued_bytes += len(body)
        if full:
            self._dead_letter(to, who, f"mailbox full ({len(slot.queue)} messages, {slot.queued_bytes} bytes waiting)")
            self._answer_error(identity, header.id, f"{to} has {len(slot.queue)} messages waiting; not queued", to)
            return
        self.counts["routed"] += 1
        if header.kind == "ask":
            self._pending[(to, who, header.id)] += 1
        self._deliver(slot)

    def _to_client(self, identity: bytes, who: str, header: Header, body: bytes) -> None:
        """A tell from a node to a client (an actor answering a client's tell); clients do not talk to each other."""
        if who not in self.nodes or header.kind != "tell":
            self._answer_error(identity, header.id, "only an actor may tell a client; a client cannot be asked")
            return
        self.counts["routed"] += 1
        frames = [encode_header(Header(kind="tell", to=header.to, sender=who)), body]
        if self._send(self._identity_of(header.to), frames) != SENT:
            self._dropped(header.to, f"a tell from {who}")

    def _deliver(self, slot: NodeSlot) -> None:
        if not slot.connected:
            return
        with self._lock:
            while slot.queue and len(slot.inflight) < self.window:
                delivery = slot.queue[0]
                header = Header(
                    kind=delivery.kind,  # type: ignore[arg-type]
                    to=slot.name,
                    sender=delivery.sender,
                    id=delivery.id,
                    seq=delivery.seq,
                )
                sent = self._send(slot.route, [encode_header(header), delivery.body])
                if sent == FULL:
                    return  # the node is busy: the rest waits for its acks (or the next heartbeat)
                if sent == GONE:
                    slot.connected = False
                    log.warning("node {} is unreachable; its mail waits", slot.name)
                    return
                slot.queue.popleft()
                slot.queued_bytes -= len(delivery.body)
                slot.inflight.append(delivery)
                slot.delivered += 1

    def _acked(self, slot: NodeSlot, seq: int) -> None:
        with self._lock:
            while slot.inflight and slot.inflight[0].seq <= seq:
                slot.inflight.popleft()
        if slot.drains:
            self._directory.check(slot)
        self._deliver(slot)

    def _hello(self, identity: bytes, who: str, header: Header, proof: bytes, user_id: str | None) -> None:
        """A peer says it is node ``header.to`` (process ``header.id``): bind its connection to that name if it proves it."""
        name = header.to or who  # an old node says hello without naming itself: its name is what it proved
        slot = self.nodes.get(name)
        refusal = None
        if slot is None:
            refusal = f"{shown(name)!r} is not a node of this deployment"
        elif self._keys is not None:
            if user_id != name:
                refusal = f"this connection's key is not {name}'s (it is {user_id or 'unknown'}'s)"
        else:
            with self._lock:
                expected = self._secrets.get(name)
            if expected is None or not hmac.compare_digest(proof, expected):
                refusal = f"not admitted as {name}: wrong or missing node secret"
        if refusal is not None or slot is None:
            self.counts["impostors"] += 1
            log.error("refused a hello from {}: {}", shown(who), refusal)
            self._answer_error(identity, header.id, refusal or "refused", name)
            return
        incarnation = header.id
        if slot.incarnation != incarnation:
            self._retire(slot, f"{name} restarted (process {slot.incarnation} -> {incarnation})")
        with self._connected:
            if slot.route is not None and slot.route != identity:
                self._routes.pop(slot.route, None)
            self._routes[identity] = name
            slot.route = identity
            slot.connected, slot.incarnation, slot.last_pong = True, incarnation, time.monotonic()
            slot.endpoint = header.endpoint if header.endpoint == self._direct_endpoint(incarnation) else ""
            self._connected.notify_all()
        log.info("node {} connected (pid {}), {} messages waiting", name, incarnation, len(slot.queue))
        self._directory.introduce(slot)
        self._deliver(slot)

    def _direct_endpoint(self, incarnation: int) -> str:
        """Where a node incarnation may listen for direct links: its socket in the handling folder
        (ipc mode only; anything else it names is ignored, so its mail goes through the hub)."""
        if self._keys is not None or self.handling_folder is None:
            return ""
        return f"{DIRECT_SCHEME}{direct_socket(self.handling_folder, incarnation)}"

    def _retire(self, slot: NodeSlot, reason: str) -> None:
        """Process ``slot.incarnation`` is gone: settle what the hub delivered to it and what its peers
        sent it directly, from its handling file (`supervisor.transport.handling`)."""
        states = None
        if self.handling_folder is not None and slot.incarnation:
            states = read_handling(handling_path(self.handling_folder, slot.name, slot.incarnation))
        self._settle_inflight(slot, reason, states[0] if states else None)
        for sender in self._directory.down(slot, states):
            self._dead_letter(slot.name, sender, f"{reason} while handling it")
        with self._lock:
            slot.retired_dead_letters += slot.node_dead_letters
            slot.node_dead_letters = 0
        if slot.endpoint:  # the dead process's direct endpoint (a killed one could not remove it)
            Path(slot.endpoint.removeprefix(DIRECT_SCHEME)).unlink(missing_ok=True)
        slot.endpoint = ""

    def _settle_inflight(self, slot: NodeSlot, reason: str, state: SlotState | None) -> None:
        """What it had done is dropped, the one it was handling is a dead letter, the rest is queued
        again, in order; without a handling file the first unacknowledged delivery is taken for the
        one it was handling."""
        with self._lock:
            inflight, slot.inflight = list(slot.inflight), deque()
            if state is None:
                dead, rest = inflight[:1], inflight[1:]
            else:
                dead = [d for d in inflight if state.was_handling(d.seq)]
                rest = [d for d in inflight if d.seq > state.done and not state.was_handling(d.seq)]
            slot.queue.extendleft(reversed(rest))
            slot.queued_bytes += sum(len(d.body) for d in rest)
        for first in dead:
            self._dead_letter(slot.name, first.sender, f"{reason} while handling it")
            if first.kind == "ask":
                self._settle_ask((slot.name, first.sender, first.id))
                failed = error_frames(
                    f"{slot.name} died while handling it ({reason})", id=first.id, recipient=slot.name
                )
                if self._send(self._identity_of(first.sender), failed) != SENT:
                    self._dropped(first.sender, f"the error for its ask to {slot.name}")

    def _node_down(self, name: str, reason: str, incarnation: int) -> None:
        slot = self.nodes.get(name)
        if slot is None or slot.incarnation != incarnation:
            return  # unknown, or news about a process already replaced
        with self._lock:
            slot.connected = False
            if slot.route is not None:
                self._routes.pop(slot.route, None)
                slot.route = None
        self._retire(slot, reason)
        with self._lock:
            slot.incarnation = 0

    def _send_control(self, name: str, kind: str) -> None:
        slot = self.nodes.get(name)
        if slot is not None:
            self._send(slot.route, [encode_header(Header(kind=kind)), b""])  # type: ignore[arg-type]

    def _heartbeat(self) -> None:
        self._log_drops()
        now = time.monotonic()
        ping = [encode_header(Header(kind="ping")), b""]
        for slot in self.nodes.values():
            if not slot.connected:
                continue
            if now - slot.last_pong > self.heartbeat_timeout:
                log.error("node {} has not answered heartbeats for {:.1f}s", slot.name, now - slot.last_pong)
                with self._lock:
                    slot.last_pong = now  # report once per timeout
                if self.on_silent is not None:
                    self.on_silent(slot.name)
                continue
            self._send(slot.route, ping)
            self._deliver(slot)  # mail held back by a full pipe goes now

    def dead_letter_count(self) -> int:
        """Every dead letter of the system: the hub's own, and those each node's runtime recorded (as of
        its last heartbeat; a node's earlier processes included)."""
        with self._lock:
            return self._dead_letter_total + sum(
                s.node_dead_letters + s.retired_dead_letters for s in self.nodes.values()
            )

    def _dead_letter(self, recipient: str, sender: str, reason: str) -> None:
        self.dead_letters.append((shown(recipient), sender, reason))
        self._dead_letter_total += 1
        slot = self.nodes.get(recipient)
        if slot is not None:
            with self._lock:
                slot.dead_letters += 1
        log.warning("dead letter to {} from {}: {}", shown(recipient), sender or "?", reason)
