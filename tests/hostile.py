"""A hostile peer for a running process-mode system: random, mutated, impersonating, forging and
oversize frames, each with the outcome the hub promises, and the checks that nothing gave way.

`fuzz_hub(system, frames, seed)` returns a `FuzzReport`; the test suite runs it briefly
(tests/test_hub_fuzz.py), ``bench/hub_fuzz.py`` at 100,000 frames.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import msgspec
import zmq

from desk.processes import ProcessSystem
from messages.balances import GetBalances
from messages.base import message_types
from messages.tasks import GetTasks
from supervisor.transport.client import Client
from supervisor.transport.keys import curve_client
from supervisor.transport.wire import (
    MAX_FRAME_BYTES,
    WireError,
    decode_header,
    is_client,
    random_identity,
)

READ_ONLY = [{"type": "Ping", "nonce": 1}, {"type": "GetBalances"}, {"type": "GetTasks"}, {"type": "Count"}]


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class FuzzReport:
    """What was sent and what came of it; `failures` lists every promise broken (empty when all held)."""

    frames: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    expected_answers: int = 0
    answers: int = 0
    dropped_by_hub: int = 0
    unanswered: int = 0
    oversize: int = 0
    tells_to_nodes: int = 0
    impersonations_refused: int = 0
    impersonations_succeeded: int = 0
    forged_replies_refused: int = 0
    forged_replies_delivered: int = 0
    spoofed_senders_honoured: int = 0
    crashes: int = 0
    restarts: int = 0
    state_changes: int = 0
    hub_internal_errors: int = 0
    supervisor_rss_growth_mb: float = 0.0
    node_rss_growth_mb: float = 0.0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "kinds"}
        out["kinds"] = dict(self.kinds)
        return out


class _Peer:
    """One hostile DEALER: counts the answers it expects and what it gets."""

    def __init__(self, endpoint: str, identity: bytes | None = None, keys: Path | None = None) -> None:
        self.socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if keys is not None:  # an admitted client key: the hub lets it in, as a client
            curve_client(self.socket, keys)
        self.socket.setsockopt(zmq.IDENTITY, identity or random_identity())
        self.socket.setsockopt(zmq.RCVHWM, 100_000)
        self.socket.connect(endpoint)
        self.expected = 0
        self.received = 0
        self.mail_for_actors = 0  # frames meant for a node that reached this peer: impersonation succeeded
        self.spoofed = 0

    def send(self, frames: list[bytes], expect: bool) -> None:
        self.socket.send_multipart(frames)
        self.expected += expect

    def drain(self, wait_ms: int = 0) -> int:
        got = 0
        while self.socket.poll(wait_ms if got == 0 else 0):
            frames = self.socket.recv_multipart()
            got += 1
            if frames and len(frames) == 2:
                try:
                    header = decode_header(frames[0])
                except WireError:
                    continue
                if header.kind in ("tell", "ask") and header.to and not is_client(header.to):
                    self.mail_for_actors += 1
                if header.kind in ("reply", "error", "tell") and header.to and not is_client(header.to):
                    self.spoofed += 1
                if header.kind == "tell":
                    continue  # an actor telling its answer back to our tell: not one of the expected answers
                self.received += 1
        return got

    def close(self) -> None:
        self.socket.close(0)


class _Frames:
    """The generator: each call gives (frames, expects an answer)."""

    def __init__(self, rng: random.Random, nodes: list[str], victim: str) -> None:
        self.rng, self.nodes, self.victim = rng, nodes, victim
        self.targets = [*nodes, "runtime"]
        self.tags = [
            tag for tag, cls in message_types().items() if any(f.required for f in msgspec.structs.fields(cls))
        ]

    def _bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def _header(self, **fields: Any) -> bytes:
        return msgpack.packb(fields)  # type: ignore[no-any-return]

    def _mutate(self, original: bytes) -> bytes:
        data = bytearray(original)
        for _ in range(self.rng.randint(1, 3)):
            action = self.rng.random()
            position = self.rng.randrange(len(data) + 1)
            if action < 0.4 and data:
                data[min(position, len(data) - 1)] = self.rng.randrange(256)
            elif action < 0.7:
                data[position:position] = self._bytes(self.rng.randint(1, 4))
            else:
                del data[position : position + self.rng.randint(1, 4)]
        return bytes(data)

    def make(self, i: int) -> tuple[str, list[bytes]]:
        r = self.rng
        kind = r.choices(
            [
                "random",
                "mutated_header",
                "mutated_body",
                "junk_fields",
                "deep",
                "odd_to",
                "forged_reply",
                "impersonate",
                "control",
                "spoofed_sender",
                "bad_tell",
            ],
            [10, 10, 20, 10, 8, 6, 10, 8, 8, 10, 6],
        )[0]
        to = r.choice(self.targets)
        body = msgpack.packb(r.choice(READ_ONLY))
        if kind == "random":
            return kind, [self._bytes(r.randint(0, 64)) for _ in range(r.choice([1, 2, 2, 3, 4]))]
        if kind == "mutated_header":
            return kind, [self._mutate(self._header(kind="ask", to=to, id=i)), body]
        if kind == "mutated_body":
            return kind, [self._header(kind="ask", to=to, id=i), self._mutate(body)]
        if kind == "junk_fields":
            fields = {
                "".join(r.choices("abcdefghijklmnop_", k=r.randint(1, 8))): r.choice(
                    [None, -1, 2**63, 1.5e308, "x" * r.randint(0, 300), [1, 2], {"a": float("nan")}, float("inf")]
                )
                for _ in range(r.randint(0, 4))
            }
            return kind, [self._header(kind="ask", to=to, id=i), msgpack.packb({**fields, "type": r.choice(self.tags)})]
        if kind == "deep":
            depth = r.choice([200, 1_000, 5_000, 50_000])
            if r.random() < 0.5:
                return kind, [b"\x82\xa4kind\xa3ask\xa1x" + b"\x91" * depth + b"\x00", body]
            return kind, [
                self._header(kind="ask", to=to, id=i),
                b"\x82\xa4type\xa4Ping\xa1x" + b"\x91" * depth + b"\x00",
            ]
        if kind == "odd_to":
            odd = r.choice(
                [
                    "☃",
                    "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
                    "x" * 700,
                    "",
                    "client/zz",
                    "client/" + "00" * 5,
                    "runtime/..",
                    "gateway\x00",
                ]
            )
            return kind, [self._header(kind=r.choice(["ask", "tell", "reply"]), to=odd, id=i), body]
        if kind == "forged_reply":
            victim = r.choice([self.victim, *self.nodes])
            forged = msgpack.packb(
                {"type": "PendingTasks", "tasks": [], "correlation_id": f"transfers-{r.randint(0, 99)}"}
            )
            return kind, [
                self._header(
                    kind=r.choice(["reply", "error"]), to=victim, id=r.randint(0, 50), sender=r.choice(self.nodes)
                ),
                forged,
            ]
        if kind == "impersonate":
            return kind, [
                self._header(kind="hello", to=r.choice(self.nodes), id=r.randint(1, 2**22)),
                self._bytes(r.choice([0, 16, 32])),
            ]
        if kind == "control":
            return kind, [
                self._header(kind=r.choice(["ack", "pong", "ping", "bye", "hello"]), seq=r.randint(0, 2**31)),
                b"",
            ]
        if kind == "bad_tell":  # no answer to a tell: the node dead-letters it (a dozen used to stop the desk)
            bad = r.choice(
                [self._mutate(body), b"\x82\xa4type\xa4Ping\xa1x" + b"\x91" * 50_000 + b"\x00", self._bytes(100)]
            )
            return kind, [self._header(kind="tell", to=r.choice(self.nodes)), bad]
        return kind, [self._header(kind="ask", to=r.choice(self.nodes), id=i, sender=r.choice(self.nodes)), body]


def _expects_answer(frames: list[bytes], nodes: set[str]) -> bool:
    """What the hub promises for ``frames``: an answer, except for a well-formed tell it delivers."""
    if len(frames) != 2:
        return True
    try:
        header = decode_header(frames[0])
    except WireError:
        return True
    return not (header.kind == "tell" and (header.to in nodes or header.to == "runtime"))


def _state(client: Client) -> tuple[Any, Any]:
    views = client.ask("gateway", GetBalances()).views
    balances = sorted((v.exchange, v.account, v.currency, v.slots) for v in views)
    tasks = client.ask("tasks", GetTasks()).tasks
    return balances, sorted(map(repr, tasks))


def fuzz_hub(system: ProcessSystem, frames: int, seed: int = 1, peers: int = 4, window: int = 400) -> FuzzReport:
    """Send ``frames`` hostile frames to ``system``'s hub and check every promise; see `FuzzReport`."""
    assert system.hub is not None and system.runtime is not None
    hub, runtime = system.hub, system.runtime
    rng = random.Random(seed)
    report = FuzzReport()
    nodes = [n.name for n in runtime.nodes]
    keys = system.keys if system.endpoint.startswith("tcp://") else None
    with Client(system.endpoint, keys=keys, timeout=30.0) as victim:
        before_state = _state(victim)
        victim_name = "client/" + bytes(victim._socket.getsockopt(zmq.IDENTITY)).hex()  # type: ignore[arg-type]
        before_pids = {n.name: (n.pid, n.restarts) for n in runtime.nodes}
        before_counts = dict(hub.counts)
        rss_before = _rss_mb()
        node_rss_before = {n.name: _rss_mb(n.pid) for n in runtime.nodes if n.pid}
        hostile = [_Peer(system.endpoint, keys=keys) for _ in range(peers)]
        named = _Peer(system.endpoint, identity=b"gateway", keys=keys)  # the identity the impostor used
        hostile.append(named)
        oversize = _Peer(system.endpoint, keys=keys)
        generator = _Frames(rng, nodes, victim_name)
        node_set = set(nodes)
        started = time.monotonic()
        for i in range(1, frames + 1):
            peer = hostile[i % len(hostile)]
            if i % 997 == 0:  # oversize: the socket drops the connection; nothing reaches the hub
                oversize.send(
                    [msgpack.packb({"kind": "tell", "to": rng.choice(nodes)}), b"\xc1" * (MAX_FRAME_BYTES + 1)], False
                )
                report.oversize += 1
                report.kinds["oversize"] += 1
                continue
            kind, parts = generator.make(i)
            report.kinds[kind] += 1
            expect = _expects_answer(parts, node_set)
            report.tells_to_nodes += not expect
            peer.send(parts, expect)
            if peer.expected - peer.received > window:
                peer.drain(2000)
            elif i % 50 == 0:
                peer.drain(0)
            if i % 5000 == 0:  # the victim keeps working meanwhile, and sees only its own answers
                victim.ask("gateway", GetBalances())
        report.frames = frames
        quiet = time.monotonic()
        while time.monotonic() - quiet < 5.0:
            if sum(p.drain(200) for p in hostile):
                quiet = time.monotonic()
            dropped = hub.counts["dropped"] - before_counts.get("dropped", 0)
            if sum(p.received for p in hostile) + dropped >= sum(p.expected for p in hostile):
                break
        report.seconds = round(time.monotonic() - started, 1)
        for peer in hostile:
            report.expected_answers += peer.expected
            report.answers += peer.received
            report.impersonations_succeeded += peer.mail_for_actors
            report.spoofed_senders_honoured += peer.spoofed
        report.dropped_by_hub = hub.counts["dropped"] - before_counts.get("dropped", 0)
        report.unanswered = report.expected_answers - report.answers - report.dropped_by_hub
        report.impersonations_refused = hub.counts["impostors"] - before_counts.get("impostors", 0)
        report.forged_replies_refused = hub.counts["forged"] - before_counts.get("forged", 0)
        report.hub_internal_errors = hub.counts["internal_errors"] - before_counts.get("internal_errors", 0)
        # the victim: only its own answers, never a forged one
        while victim._socket.poll(200):
            victim._socket.recv_multipart()
            report.forged_replies_delivered += 1
        after_state = _state(victim)
        report.state_changes = int(after_state != before_state)
        after = {n.name: (n.pid, n.restarts) for n in runtime.nodes}
        report.restarts = sum(after[n][1] - before_pids[n][1] for n in nodes)
        report.crashes = sum(
            1 for n in runtime.nodes if n.state != "running" or after[n.name][0] != before_pids[n.name][0]
        )
        report.crashes += 0 if hub.alive else 1
        report.supervisor_rss_growth_mb = round(_rss_mb() - rss_before, 1)
        report.node_rss_growth_mb = round(
            max((_rss_mb(n.pid) - node_rss_before.get(n.name, 0.0) for n in runtime.nodes if n.pid), default=0.0), 1
        )
        for peer in [*hostile, oversize]:
            peer.close()
    checks = {
        "crashes": report.crashes == 0,
        "restarts": report.restarts == 0,
        "state changed": report.state_changes == 0,
        "impersonation": report.impersonations_succeeded == 0,
        "forged replies": report.forged_replies_delivered == 0,
        "spoofed senders": report.spoofed_senders_honoured == 0,
        "unanswered frames": report.unanswered == 0,
        "hub bugs": report.hub_internal_errors == 0,
        "supervisor memory": report.supervisor_rss_growth_mb < 200,
        "node memory": report.node_rss_growth_mb < 200,
        "pending asks": len(hub._pending) == 0,
        "dead letters bounded": len(hub.dead_letters) <= 10_000,
    }
    report.failures = [name for name, ok in checks.items() if not ok]
    return report
