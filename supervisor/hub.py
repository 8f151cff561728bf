"""The hub: the supervisor process's ZeroMQ ROUTER, routing frames between nodes and clients by name.

Each node (one actor per OS process) connects with its actor name as identity. The hub keeps
every node's undelivered mail: while a node is down its mail waits (up to ``queue_limit``;
beyond that it becomes a dead letter and an asker gets an error). A node holds at most
``window`` unacknowledged deliveries; when its process dies, the first of those (the one it
was handling) is dead-lettered, as in-process, and the rest go to the next incarnation, in
order. A malformed frame or an unknown destination gets a typed `DeliveryFailed` answer;
nothing a peer sends can crash the hub.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any

import zmq
from loguru import logger

from supervisor.keys import allow_clients, server_curve
from supervisor.wire import Header, WireError, decode_header, encode_header, error_frames

__all__ = ["Hub", "HubNodeStatus", "SystemHandler"]

log = logger.bind(actor="hub")

SystemHandler = Callable[[Header, bytes], "list[bytes] | None"]
"""Answers frames addressed to a name the hub itself serves (such as "runtime"): [header, body] or None."""


def readable(identity: str) -> str:
    """A peer's identity for a log line: a node's name as is, a client's binary ZeroMQ identity as hex."""
    if identity.isprintable() and identity.isascii():
        return identity
    return "client-" + identity.encode("latin-1").hex()


@dataclass
class _Delivery:
    seq: int
    kind: str
    sender: str
    id: int
    body: bytes


@dataclass
class _NodeSlot:
    """What the hub knows about one node name."""

    name: str
    connected: bool = False
    incarnation: int = 0  # the pid its hello announced
    queue: deque[_Delivery] = field(default_factory=deque)
    inflight: deque[_Delivery] = field(default_factory=deque)
    next_seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    last_pong: float = 0.0
    delivered: int = 0
    dead_letters: int = 0


@dataclass(frozen=True)
class HubNodeStatus:
    name: str
    connected: bool
    incarnation: int
    queued: int
    inflight: int
    delivered: int
    dead_letters: int
    silent_for: float


class Hub:
    """Routes frames by name; see the module docstring. Runs in its own thread (`start` / `stop`).

    ``names``: the nodes of the deployment. ``served``: names the hub answers itself through
    ``system_handler``. ``on_silent(name)`` is called when a connected node has not answered a
    heartbeat for ``heartbeat_timeout`` seconds. ``keys`` (a `supervisor.keys` folder) switches
    on CurveZMQ: only peers whose public key is in ``keys/clients`` get in (required for tcp://).
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
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float = 10.0,
        on_silent: Callable[[str], None] | None = None,
        keys: Path | None = None,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        if endpoint.startswith("tcp://") and keys is None:
            raise ValueError("a tcp:// hub needs CurveZMQ keys (see supervisor.keys); use ipc:// for one host")
        self.endpoint = endpoint
        self.nodes = {name: _NodeSlot(name) for name in names}
        self.served = set(served)
        self.system_handler = system_handler
        self.window = window
        self.queue_limit = queue_limit
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.on_silent = on_silent
        self._keys = keys
        self._context = context or zmq.Context.instance()
        self._commands: SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = SimpleQueue()
        self._lock = threading.Lock()  # guards the slots for status readers
        self._connected = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.dead_letters: deque[tuple[str, str, str]] = deque(maxlen=10_000)  # (recipient, sender, reason)
        self.errors_answered = 0

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

    # ---- commands from other threads ---------------------------------------------------------

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
                HubNodeStatus(s.name, s.connected, s.incarnation, len(s.queue), len(s.inflight), s.delivered,
                              s.dead_letters, now - s.last_pong if s.connected else 0.0)
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
            socket.setsockopt(zmq.ROUTER_HANDOVER, 1)
            socket.setsockopt(zmq.LINGER, 0)
            if self._keys is not None:
                authenticator = allow_clients(self._context, self._keys)
                public, secret = server_curve(self._keys)
                socket.curve_server = True
                socket.curve_publickey = public
                socket.curve_secretkey = secret
            socket.bind(self.endpoint)
        except (zmq.ZMQError, OSError) as error:
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
        try:
            while self._running.is_set():
                events = dict(poller.poll(20))
                if socket in events:
                    for _ in range(1000):  # drain what is there, then look at commands and timers
                        try:
                            frames = socket.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._handle(frames)
                self._run_commands()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat_interval
                    self._heartbeat()
        finally:
            socket.close(0)
            if authenticator is not None:
                authenticator.stop()

    def _run_commands(self) -> None:
        while True:
            try:
                handler, args = self._commands.get_nowait()
            except Empty:
                return
            handler(*args)

    def _send(self, identity: bytes, frames: list[bytes]) -> bool:
        try:
            self._socket.send_multipart([identity, *frames], zmq.NOBLOCK)
        except zmq.ZMQError:  # EHOSTUNREACH (not connected) or a full pipe
            return False
        return True

    def _handle(self, frames: list[bytes]) -> None:
        identity = frames[0]
        who = identity.decode("latin-1")  # lossless: clients may have binary identities
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
        if kind in ("tell", "ask"):
            self._route(identity, who, header, body)
        elif kind in ("reply", "error"):
            if not self._send(header.to.encode("latin-1"), [encode_header(Header(kind=kind, sender=who, id=header.id)),
                                                             body]):
                log.info("answer from {} to {} dropped: the asker is gone", readable(who), readable(header.to))
        elif kind == "ack":
            self._acked(who, header.seq)
        elif kind == "hello":
            self._hello(who, header.id)
        elif kind == "pong":
            slot = self.nodes.get(who)
            if slot is not None:
                with self._lock:
                    slot.last_pong = time.monotonic()
        else:
            self._answer_error(identity, header.id, f"a peer may not send {kind!r} frames")

    def _answer_error(self, identity: bytes, id: int, reason: str, recipient: str = "") -> None:
        self.errors_answered += 1
        log.warning("refused a frame from {}: {}", readable(identity.decode("latin-1")), reason)
        self._send(identity, error_frames(reason, id=id, recipient=recipient))

    def _route(self, identity: bytes, who: str, header: Header, body: bytes) -> None:
        to = header.to
        if to in self.served:
            answer = self.system_handler(Header(kind=header.kind, to=to, sender=who, id=header.id), body) \
                if self.system_handler else None
            if answer is not None and header.kind == "ask":
                self._send(identity, answer)
            return
        slot = self.nodes.get(to)
        if slot is None:
            known = ", ".join(sorted([*self.nodes, *self.served]))
            self._dead_letter(to, who, "no actor has this name")
            self._answer_error(identity, header.id, f"no actor named {to!r} (known actors: {known})", to)
            return
        with self._lock:
            if len(slot.queue) >= self.queue_limit:
                full = True
            else:
                full = False
                slot.queue.append(_Delivery(next(slot.next_seq), header.kind, who, header.id, body))
        if full:
            self._dead_letter(to, who, f"mailbox full ({self.queue_limit} waiting while {to} is down)")
            self._answer_error(identity, header.id, f"{to} has {self.queue_limit} messages waiting; not queued", to)
            return
        self._deliver(slot)

    def _deliver(self, slot: _NodeSlot) -> None:
        if not slot.connected:
            return
        identity = slot.name.encode()
        with self._lock:
            while slot.queue and len(slot.inflight) < self.window:
                delivery = slot.queue[0]
                header = Header(kind=delivery.kind, to=slot.name, sender=delivery.sender, id=delivery.id,  # type: ignore[arg-type]
                                seq=delivery.seq)
                if not self._send(identity, [encode_header(header), delivery.body]):
                    slot.connected = False
                    log.warning("node {} is unreachable; its mail waits", slot.name)
                    return
                slot.queue.popleft()
                slot.inflight.append(delivery)
                slot.delivered += 1

    def _acked(self, who: str, seq: int) -> None:
        slot = self.nodes.get(who)
        if slot is None:
            return
        with self._lock:
            while slot.inflight and slot.inflight[0].seq <= seq:
                slot.inflight.popleft()
        self._deliver(slot)

    def _hello(self, who: str, incarnation: int) -> None:
        slot = self.nodes.get(who)
        if slot is None:
            self._answer_error(who.encode("latin-1"), 0, f"{who!r} is not a node of this deployment")
            return
        if slot.incarnation != incarnation:
            self._settle_inflight(slot, f"{who} restarted (process {slot.incarnation} -> {incarnation})")
        with self._connected:
            slot.connected, slot.incarnation, slot.last_pong = True, incarnation, time.monotonic()
            self._connected.notify_all()
        log.info("node {} connected (pid {}), {} messages waiting", who, incarnation, len(slot.queue))
        self._deliver(slot)

    def _settle_inflight(self, slot: _NodeSlot, reason: str) -> None:
        """The node died: its first unacknowledged delivery was being handled (dead letter); requeue the rest."""
        with self._lock:
            inflight, slot.inflight = list(slot.inflight), deque()
            if inflight:
                slot.queue.extendleft(reversed(inflight[1:]))
        if inflight:
            first = inflight[0]
            self._dead_letter(slot.name, first.sender, f"{reason} while handling it")
            if first.kind == "ask":
                self._send(first.sender.encode("latin-1"), error_frames(f"{slot.name} died while handling it ({reason})",
                                                               id=first.id, recipient=slot.name))

    def _node_down(self, name: str, reason: str, incarnation: int) -> None:
        slot = self.nodes.get(name)
        if slot is None or slot.incarnation != incarnation:
            return  # unknown, or news about a process already replaced
        with self._lock:
            slot.connected = False
        self._settle_inflight(slot, reason)
        with self._lock:
            slot.incarnation = 0

    def _send_control(self, name: str, kind: str) -> None:
        self._send(name.encode(), [encode_header(Header(kind=kind)), b""])  # type: ignore[arg-type]

    def _heartbeat(self) -> None:
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
            self._send(slot.name.encode(), ping)

    def _dead_letter(self, recipient: str, sender: str, reason: str) -> None:
        self.dead_letters.append((recipient, sender, reason))
        slot = self.nodes.get(recipient)
        if slot is not None:
            with self._lock:
                slot.dead_letters += 1
        log.warning("dead letter to {} from {}: {}", readable(recipient), readable(sender) if sender else "?", reason)
