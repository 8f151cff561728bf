"""What the hub keeps per node name: its mail (queued and in flight), its connection, its direct endpoint."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Delivery", "HubNodeStatus", "NodeSlot", "readable"]


def readable(identity: str) -> str:
    """A peer's identity for a log line: a node's name as is, a client's binary ZeroMQ identity as hex."""
    if identity.isprintable() and identity.isascii():
        return identity
    return "client-" + identity.encode("latin-1").hex()


@dataclass
class Delivery:
    seq: int
    kind: str
    sender: str
    id: int
    body: bytes


@dataclass
class NodeSlot:
    """What the hub knows about one node name."""

    name: str
    connected: bool = False
    incarnation: int = 0  # the pid its hello announced
    route: bytes | None = None  # the identity of the connection that proved it is this node
    queue: deque[Delivery] = field(default_factory=deque)
    queued_bytes: int = 0
    inflight: deque[Delivery] = field(default_factory=deque)
    next_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    last_pong: float = 0.0
    delivered: int = 0
    dead_letters: int = 0
    endpoint: str = ""  # its direct endpoint (ipc mode), if it takes direct links
    drains: set[str] = field(default_factory=set)  # peers waiting to hear that the hub holds nothing of theirs for it
    direct_out: dict[str, int] = field(default_factory=dict)  # mail on its way to each peer, as its last pong said
    node_dead_letters: int = 0  # what its runtime recorded, as its last pong said
    retired_dead_letters: int = 0  # what its earlier processes' runtimes had recorded


@dataclass(frozen=True)
class HubNodeStatus:
    """One node as the hub sees it. ``inflight`` includes what peers have sent it over direct links
    and not had acknowledged yet (or hold back for it), as their last heartbeat said."""

    name: str
    connected: bool
    incarnation: int
    queued: int
    inflight: int
    delivered: int
    dead_letters: int
    silent_for: float
