"""The hub's side of direct links: introducing nodes to each other, draining, and saying who is down.

See `supervisor.transport.direct` for the protocol. The hub calls these on its own thread; they
only read and change the node slots and send frames through the hub's socket.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import msgspec

from supervisor.transport.handling import SlotState
from supervisor.transport.slots import NodeSlot
from supervisor.transport.wire import Header, PeerDown, PeerInfo, encode_header, link_token

__all__ = ["Directory"]

Send = Callable[[bytes | None, list[bytes]], str]


class Directory:
    """Which nodes take direct links, and what each must be told."""

    def __init__(self, nodes: dict[str, NodeSlot], send: Send, secret_of: Callable[[str], bytes | None]) -> None:
        self.nodes = nodes
        self._send = send
        self._secret_of = secret_of

    def _direct_peers(self, slot: NodeSlot) -> list[NodeSlot]:
        return [n for n in self.nodes.values() if n is not slot and n.connected and n.endpoint]

    def introduce(self, slot: NodeSlot) -> None:
        """``slot`` just connected: introduce it and every other node that takes direct links to each other."""
        if not slot.endpoint:
            return
        for other in self._direct_peers(slot):
            self._introduce_to(other, slot)
            self._introduce_to(slot, other)

    def _introduce_to(self, holder: NodeSlot, peer: NodeSlot) -> None:
        secret = self._secret_of(peer.name)
        if secret is None:
            return
        token = link_token(secret, holder.name, holder.incarnation)
        info = PeerInfo(name=peer.name, endpoint=peer.endpoint, incarnation=peer.incarnation, token=token)
        self._send(holder.route, [encode_header(Header(kind="peer")), msgspec.msgpack.encode(info)])

    def drain(self, holder: str, target: str) -> None:
        """``holder`` asks to hear once the hub holds none of its mail for ``target`` (queued or in flight)."""
        slot = self.nodes.get(target)
        if slot is not None:
            slot.drains.add(holder)
            self.check(slot)

    def check(self, target: NodeSlot) -> None:
        """Say "clear" to every holder waiting on ``target`` that has no mail left at the hub for it."""
        for holder_name in list(target.drains):
            if any(d.sender == holder_name for d in itertools.chain(target.queue, target.inflight)):
                continue
            target.drains.discard(holder_name)
            holder = self.nodes.get(holder_name)
            if holder is not None and holder.connected:
                self._send(holder.route, [encode_header(Header(kind="clear", sender=target.name)), b""])

    def down(self, slot: NodeSlot, states: list[SlotState] | None) -> list[str]:
        """Process ``slot.incarnation`` is gone: tell each node that takes direct links what of its mail
        the dead process had done (from its handling file, ``states``); the senders of the one in hand."""
        if not slot.endpoint:
            return []
        by_process = {s.incarnation: s for s in (states or [])[1:] if s.incarnation}
        in_hand = []
        for other in self._direct_peers(slot):
            state = by_process.get(other.incarnation)
            done, handling = (state.done, state.handling) if state is not None else (0, 0)
            if state is not None and state.handling > state.done:
                in_hand.append(other.name)
            down = PeerDown(name=slot.name, incarnation=slot.incarnation, done=done, handling=handling)
            self._send(other.route, [encode_header(Header(kind="down")), msgspec.msgpack.encode(down)])
            other.drains.discard(slot.name)
            other.direct_out.pop(slot.name, None)
        slot.drains.clear()
        slot.direct_out = {}
        return in_hand

    def in_transit(self, name: str) -> int:
        """Mail on its way to ``name`` over direct links, as its senders last reported."""
        return sum(n.direct_out.get(name, 0) for n in self.nodes.values() if n.connected)
