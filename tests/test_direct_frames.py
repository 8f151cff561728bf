"""The frames of a direct link and the Unix stream they travel on, and `DirectLinks` driven through real sockets.

The test plays the other node by hand (its own `FrameStream`), so every frame the link sends or
takes is visible: batching behind the window, the typed refusals, a bad message in a batch
dead-lettered alone while the rest keeps its order, and the handling file's account of it.
"""

from __future__ import annotations

import select
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from messages.codec import encode
from messages.system import Ping
from supervisor.transport.direct import NONE, DirectLinks
from supervisor.transport.frames import (
    BadTell,
    FrameKind,
    ack_frame,
    hello_frame,
    parse_frame,
    parse_hello,
    split_tells,
    tells_frame,
    welcome_frame,
)
from supervisor.transport.handling import HandlingFile
from supervisor.transport.pump import Delivery
from supervisor.transport.stream import FrameStream, StreamError, dial, listen
from supervisor.transport.wire import MAX_FRAME_BYTES, Header, PeerInfo, WireError, decode_header, link_token


def ping(nonce: int) -> bytes:
    return encode(Ping(nonce=nonce))


def frames_from(stream: FrameStream, count: int, timeout: float = 5.0) -> list[bytes]:
    """The next ``count`` frames on ``stream`` (waiting on the socket, never on time)."""
    got: list[bytes] = []
    while len(got) < count:
        assert select.select([stream], [], [], timeout)[0], f"got {len(got)} of {count} frames"
        got += stream.receive()
    return got


# ---- frames ----------------------------------------------------------------------------------------


def test_a_batch_of_tells_round_trips_through_one_frame() -> None:
    frame = tells_frame(7, [ping(n) for n in range(1, 41)])
    kind, seq, count, body = parse_frame(frame)
    assert (kind, seq, count) == (FrameKind.TELLS, 7, 40)
    messages, good = split_tells(body, count)
    assert good and [m.nonce for m in messages] == list(range(1, 41))  # type: ignore[attr-defined]


def test_a_bad_message_in_a_batch_is_singled_out_and_the_others_keep_their_places() -> None:
    unknown = msgspec.msgpack.encode({"type": "NoSuchMessage"})
    _, _, count, body = parse_frame(tells_frame(1, [ping(1), unknown, ping(3)]))
    messages, good = split_tells(body, count)
    assert not good
    assert messages[0] == Ping(nonce=1) and messages[2] == Ping(nonce=3)
    bad = messages[1]
    assert isinstance(bad, BadTell) and bad.data == unknown and "NoSuchMessage" in str(bad.error)


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (b"\x01\x00", "13-byte head"),
        (struct.pack("<BQI", 9, 1, 0), "unknown direct-link frame kind 9"),
    ],
)
def test_a_frame_that_is_not_one_is_named(frame: bytes, why: str) -> None:
    with pytest.raises(WireError, match=why):
        parse_frame(frame)


def test_a_tells_body_that_lies_about_its_count_or_is_not_an_array_is_refused() -> None:
    _, _, _, body = parse_frame(tells_frame(1, [ping(1), ping(2)]))
    with pytest.raises(WireError, match="said 3 messages and carries 2"):
        split_tells(body, 3)
    with pytest.raises(WireError, match="must be an array"):
        split_tells(memoryview(b"\xc1\xc1"), 1)


def test_a_hello_says_who_dials_whom_with_the_token() -> None:
    kind, incarnation, _, body = parse_frame(hello_frame("keeper", "sender", 4242, b"t" * 32))
    assert (kind, incarnation) == (FrameKind.HELLO, 4242)
    hello = parse_hello(body)
    assert (hello.to, hello.sender, hello.token) == ("keeper", "sender", b"t" * 32)
    with pytest.raises(WireError, match="bad hello"):
        parse_hello(memoryview(msgspec.msgpack.encode({"to": "keeper"})))


# ---- the stream ------------------------------------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[FrameStream, FrameStream]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    left, right = FrameStream(a, 1 << 20), FrameStream(b, 1 << 20)
    yield left, right
    left.close()
    right.close()


def test_frames_larger_than_the_kernel_takes_at_once_arrive_whole_and_in_order(
    pair: tuple[FrameStream, FrameStream],
) -> None:
    left, right = pair
    sent = [bytes([n]) * 100_000 for n in range(60)]  # 6 MB: far more than a socket buffer
    for frame in sent:
        left.send(frame)
    assert left.wants_write  # the rest waits in the stream, not in a blocked call
    got: list[bytes] = []
    while len(got) < len(sent):
        left.flush()
        assert select.select([right], [], [], 5)[0]
        got += right.receive()
    assert got == sent and not left.wants_write


def test_a_frame_cut_across_reads_is_handed_over_only_when_whole(pair: tuple[FrameStream, FrameStream]) -> None:
    left, right = pair
    data = (5).to_bytes(4, "little") + b"hello" + (3).to_bytes(4, "little") + b"abc"
    left.socket.sendall(data[:2])
    assert select.select([right], [], [], 5)[0]
    assert right.receive() == []
    left.socket.sendall(data[2:11])
    assert frames_from(right, 1) == [b"hello"]
    left.socket.sendall(data[11:])
    assert frames_from(right, 1) == [b"abc"]


def test_a_length_over_the_limit_or_a_closed_peer_ends_the_stream(pair: tuple[FrameStream, FrameStream]) -> None:
    left, right = pair
    left.socket.sendall((right.max_frame + 1).to_bytes(4, "little"))
    assert select.select([right], [], [], 5)[0]
    with pytest.raises(StreamError, match="over the limit"):
        right.receive()
    assert right.closed
    with pytest.raises(StreamError):
        right.send(b"late")
    assert select.select([left], [], [], 5)[0]
    with pytest.raises(StreamError, match="closed"):
        left.receive()


# ---- DirectLinks, the other node played by the test --------------------------------------------------


@dataclass
class Node:
    """One node's `DirectLinks`, and what it handed to its actor, the hub and the dead letters."""

    links: DirectLinks
    poller: zmq.Poller
    file: HandlingFile
    delivered: list[Delivery] = field(default_factory=list)
    to_hub: list[list[bytes]] = field(default_factory=list)
    dead: list[tuple[Any, ...]] = field(default_factory=list)

    def turn(self, until: Callable[[], bool], timeout_ms: int = 5000) -> None:
        """Poll and handle until ``until()`` (or fail after ``timeout_ms`` of silence)."""
        while not until():
            events = dict(self.poller.poll(timeout_ms))
            assert events, "nothing came"
            self.links.on_events(events)

    def slot(self, number: int) -> tuple[int, int, int]:
        data = self.file.path.read_bytes()
        incarnation, done, handling = struct.unpack_from("<QQQ", data, number * 24)
        return incarnation, done, handling


def make_node(folder: Path, name: str, secret: bytes, window: int = 256) -> Node:
    poller = zmq.Poller()
    file = HandlingFile(folder / f"{name}.handling", 3)
    node = Node(None, poller, file)  # type: ignore[arg-type]
    node.links = DirectLinks(
        name,
        100,
        secret,
        f"unix://{folder / f'{name}.sock'}",
        {"a", "b"},
        poller=poller,
        to_hub=node.to_hub.append,
        deliver=node.delivered.extend,
        dead_letter=lambda *args: node.dead.append(args),
        file=file,
        window=window,
        ack_every=1000,
    )
    return node


def test_tells_that_queue_behind_the_window_go_in_frames_of_as_many_as_it_lets(tmp_path: Path) -> None:
    folder = tmp_path
    a = make_node(folder, "a", b"secret-a", window=4)
    peer = listen(folder / "b.sock")
    try:
        a.links.introduce(PeerInfo("b", f"unix://{folder / 'b.sock'}", 200, b"token-for-b"))
        for nonce in range(1, 11):
            a.links.tell("b", ping(nonce))  # the first dials; all wait for the switch
        peer.setblocking(True)
        b_end = FrameStream(peer.accept()[0], MAX_FRAME_BYTES)
        [hello] = frames_from(b_end, 1)
        kind, incarnation, _, body = parse_frame(hello)
        assert (kind, incarnation, parse_hello(body).token) == (FrameKind.HELLO, 100, b"token-for-b")
        assert decode_header(a.to_hub[-1][0]) == Header(kind="drain", to="b")  # the hub drains what it holds first
        b_end.send(welcome_frame())
        a.links.cleared("b")
        a.turn(lambda: a.links.out["b"].state == "direct")
        sizes = []
        out = a.links.out["b"]

        def let_go(upto: int) -> Callable[[], bool]:
            return lambda: not out.unacked or out.unacked[0][0] > upto

        for acked in (4, 8, 10):
            [frame] = frames_from(b_end, 1)
            kind, seq, count, body = parse_frame(frame)
            sizes.append((seq, count))
            assert [m.nonce for m in split_tells(body, count)[0]] == list(range(seq, seq + count))  # type: ignore[attr-defined]
            assert len(out.unacked) == count  # never more than the window
            b_end.send(ack_frame(acked))
            a.turn(let_go(acked))
        assert sizes == [(1, 4), (5, 4), (9, 2)]
        assert a.links.depths() == {}
    finally:
        a.links.close()
        peer.close()


def test_a_bad_tell_is_dead_lettered_alone_and_counted_done_in_its_turn(tmp_path: Path) -> None:
    folder = tmp_path
    b = make_node(folder, "b", b"secret-b")
    a_end = dial(str(folder / "b.sock"), MAX_FRAME_BYTES)
    try:
        a_end.send(hello_frame("b", "a", 7, link_token(b"secret-b", "a", 7)))
        b.turn(lambda: "a" in b.links.inbound)
        [welcome] = frames_from(a_end, 1)
        assert parse_frame(welcome)[0] == FrameKind.WELCOME
        unknown = msgspec.msgpack.encode({"type": "NoSuchMessage"})
        a_end.send(tells_frame(1, [ping(1), unknown, ping(3)]))
        b.turn(lambda: len(b.delivered) == 2)
        first, third = b.delivered
        assert (first.message, third.message, first.sender) == (Ping(nonce=1), Ping(nonce=3), "a")
        [(recipient, undecodable, reason, sender)] = b.dead
        assert (recipient, sender, undecodable.size) == ("b", "a", len(unknown)) and "NoSuchMessage" in reason
        slot = 1  # the first peer that linked
        assert b.slot(slot) == (7, 0, 0)  # nothing done yet: tell 2 waits for tell 1
        assert first.mark is not None and first.receipt is not None
        first.mark()
        assert b.slot(slot) == (7, 0, 1)
        first.receipt()
        assert b.slot(slot)[1] == 2  # tell 1 done, and the dead letter after it with it
        assert third.mark is not None and third.receipt is not None
        third.mark()
        third.receipt()
        assert b.slot(slot) == (7, 3, 3)
        b.links.flush_acks()
        [ack] = frames_from(a_end, 1)
        assert parse_frame(ack)[:2] == (FrameKind.ACK, 3)
        a_end.send(tells_frame(9, [ping(9)]))  # a gap: refused, typed
        b.turn(lambda: b.links.counts["out_of_order"] == 1)
        [error] = frames_from(a_end, 1)
        kind, _, _, body = parse_frame(error)
        assert kind == FrameKind.ERROR and b"out of order" in bytes(body)
        assert len(b.delivered) == 2
    finally:
        a_end.close()
        b.links.close()


def test_a_peer_that_cannot_be_dialled_leaves_the_mail_on_the_hub(tmp_path: Path) -> None:
    a = make_node(tmp_path, "a", b"secret-a")
    try:
        a.links.introduce(PeerInfo("b", f"unix://{tmp_path / 'nobody.sock'}", 200, b"token-for-b"))
        assert a.links.tell("b", ping(1)) == NONE  # not dialled: this tell goes through the hub
        assert a.links.tell("b", ping(2)) == NONE  # and so does the next; nothing waits on a dead link
        assert a.links.depths() == {} and a.to_hub == []
    finally:
        a.links.close()
