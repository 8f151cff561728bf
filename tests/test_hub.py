"""The hub and the node link over real ZeroMQ sockets (nodes as threads here; as processes in test_processes)."""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from actors.base import Actor
from messages import Message, Ping, Pong
from supervisor import ChildSpec, Runtime, Supervisor
from supervisor.transport.hub import Hub
from supervisor.transport.link import NodeLink
from tests.probe import Note, Probe, recorder

_incarnations = itertools.count(1000)


class Relay(Actor):
    """Pings ``peer`` when told a Note; records the Pong it gets back."""

    def __init__(self, probe: Probe, peer: str) -> None:
        super().__init__()
        self.probe, self.peer = probe, peer

    def on_note(self, message: Note) -> None:
        self.tell(self.peer, Ping(nonce=int(message.text)))

    def on_pong(self, message: Pong) -> None:
        self.probe.record("pong", self.name, str(message.nonce))


class Node:
    """A node's link and local runtime, running in a thread of this test process."""

    def __init__(
        self, name: str, endpoint: str, names: list[str], factory: Callable[[], Actor], secret: str = ""
    ) -> None:
        self.link = NodeLink(name, endpoint, names, incarnation=next(_incarnations), secret=secret)
        self.runtime = Runtime(Supervisor([ChildSpec(name, factory)], backoff=(0.0, 0.0)), remote=self.link)
        self.link.runtime = self.runtime
        self.runtime.start()
        self.thread = threading.Thread(target=self.link.run, daemon=True)
        self.thread.start()

    def kill(self) -> None:
        """Vanish like a killed process: no acks, no goodbye."""
        self.link.request_stop("killed", graceful=False)
        self.thread.join(30)
        assert not self.thread.is_alive(), "the link's I/O thread did not leave its loop"
        # Stop the actors before closing the link: an actor finishing a message hands an ack
        # wake-up to its own socket of the link, and a closed one raised at teardown (the flake).
        self.runtime.stop()
        self.link.close()

    def stop(self) -> None:
        self.kill()


@pytest.fixture
def endpoint(tmp_path: Path) -> str:
    return f"ipc://{tmp_path / 'hub.sock'}"


@pytest.fixture
def hub_and_nodes(endpoint: str) -> Iterator[tuple[Hub, Callable[..., Node]]]:
    names = ["a", "b"]
    hub = Hub(endpoint, names, heartbeat_interval=0.2)
    hub.start()
    nodes: list[Node] = []

    def start(name: str, factory: Callable[[], Actor]) -> Node:
        secret = secrets.token_hex(16)
        hub.admit(name, secret)
        node = Node(name, endpoint, names, factory, secret)
        assert hub.wait_connected(name, node.link.incarnation, 5)
        nodes.append(node)
        return node

    yield hub, start
    for node in nodes:
        node.stop()
    hub.stop()


class Client:
    """A peer that uses only pyzmq and the msgpack package, as an outside program would."""

    def __init__(self, endpoint: str) -> None:
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def send(self, *frames: bytes) -> None:
        self.socket.send_multipart(list(frames))

    def ask(self, to: str, body: dict[str, Any], id: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
        self.send(msgpack.packb({"kind": "ask", "to": to, "id": id}), msgpack.packb(body))
        return self.receive()

    def receive(self, timeout_ms: int = 5000) -> tuple[dict[str, Any], dict[str, Any]]:
        assert self.socket.poll(timeout_ms), "no answer"
        header, body = self.socket.recv_multipart()
        return msgpack.unpackb(header), msgpack.unpackb(body)

    def close(self) -> None:
        self.socket.close(0)


def test_a_tell_crosses_the_hub_and_the_answer_comes_back(hub_and_nodes: Any) -> None:
    hub, start = hub_and_nodes
    probe = Probe()
    a = start("a", lambda: Relay(probe, "b"))
    start("b", recorder(probe))
    a.runtime.tell("a", Note("7"))
    assert probe.wait_for(lambda: probe.of("pong", "a") == [("pong", "a", "7")])


class Greeter(Actor):
    """Tells ``peer`` a Note as it starts (before its node's I/O loop runs)."""

    def __init__(self, peer: str) -> None:
        super().__init__()
        self.peer = peer

    def on_start(self) -> None:
        self.tell(self.peer, Note("hello from on_start"))


class SenderLog(Actor):
    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def on_note(self, message: Note) -> None:
        self.probe.record("from", self.name, self.sender or "", message.text)


def test_a_tell_from_on_start_is_stamped_with_the_actors_name(hub_and_nodes: Any) -> None:
    _, start = hub_and_nodes
    probe = Probe()
    start("b", lambda: SenderLog(probe))
    start("a", lambda: Greeter("b"))  # its hello is on the wire before anything it tells
    assert probe.wait_for(lambda: bool(probe.of("from", "b")))
    assert probe.of("from", "b") == [("from", "b", "a", "hello from on_start")]


def test_a_client_with_only_msgpack_and_pyzmq_asks_an_actor(hub_and_nodes: Any, endpoint: str) -> None:
    _, start = hub_and_nodes
    start("b", recorder(Probe()))
    client = Client(endpoint)
    try:
        header, body = client.ask("b", {"type": "Ping", "nonce": 42}, id=9)
        assert header["kind"] == "reply" and header["sender"] == "b" and header["id"] == 9
        assert header["to"].startswith("client/")
        assert body == {"type": "Pong", "actor": "b", "nonce": 42}
    finally:
        client.close()


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ((b"only one part",), "a frame must be [header, body]"),
        ((b"\xc1", b""), "frame header is not MessagePack"),
        ((msgpack.packb({"kind": "launch"}), b""), "bad frame header"),
        ((msgpack.packb({"kind": "ack", "seq": 1}), b"", b"extra"), "a frame must be [header, body]"),
        (
            (msgpack.packb({"kind": "ask", "to": "nobody", "id": 3}), msgpack.packb({"type": "Ping"})),
            "no actor named 'nobody'",
        ),
        ((msgpack.packb({"kind": "bye"}), b""), "a peer may not send 'bye' frames"),
    ],
)
def test_malformed_frames_and_unknown_destinations_get_a_typed_error(
    hub_and_nodes: Any, endpoint: str, frames: tuple[bytes, ...], reason: str
) -> None:
    hub, start = hub_and_nodes
    start("b", recorder(Probe()))
    client = Client(endpoint)
    try:
        client.send(*frames)
        header, body = client.receive()
        assert header["kind"] == "error" and body["type"] == "DeliveryFailed" and reason in body["reason"]
        assert client.ask("b", {"type": "Ping"})[1]["type"] == "Pong"  # the hub and the node carry on
    finally:
        client.close()


def test_an_unknown_message_type_is_answered_by_the_node_which_carries_on(hub_and_nodes: Any, endpoint: str) -> None:
    _, start = hub_and_nodes
    probe = Probe()
    start("b", recorder(probe))
    client = Client(endpoint)
    try:
        header, body = client.ask("b", {"type": "LaunchRockets"}, id=4)
        assert header["kind"] == "error" and header["id"] == 4
        assert "unknown message type 'LaunchRockets'" in body["reason"]
        header, body = client.ask("b", {"type": "Note", "text": "still fine"}, id=5)
        assert body == "still fine"
    finally:
        client.close()


def test_mail_for_a_node_that_is_not_up_waits_and_arrives_in_order(hub_and_nodes: Any, endpoint: str) -> None:
    hub, start = hub_and_nodes
    probe = Probe()
    client = Client(endpoint)
    try:
        for i in range(20):
            client.send(msgpack.packb({"kind": "tell", "to": "b"}), msgpack.packb({"type": "Note", "text": str(i)}))
        assert client.ask("runtime-less", {"type": "Ping"})[1]["type"] == "DeliveryFailed"  # hub answers at once
        [status] = [s for s in hub.status() if s.name == "b"]
        assert status.queued == 20 and not status.connected
        start("b", recorder(probe))
        assert probe.wait_for(lambda: len(probe.notes("b")) == 20)
        assert probe.notes("b") == [str(i) for i in range(20)]
    finally:
        client.close()


def test_when_a_node_dies_its_message_in_hand_is_dead_lettered_and_the_rest_go_to_the_next(
    hub_and_nodes: Any, endpoint: str
) -> None:
    hub, start = hub_and_nodes
    first_probe, second_probe = Probe(), Probe()
    first = start("b", recorder(first_probe))
    client = Client(endpoint)
    try:
        client.send(msgpack.packb({"kind": "tell", "to": "b"}), msgpack.packb({"type": "Block", "gate": "forever"}))
        assert first_probe.wait_for(lambda: bool(first_probe.of("blocked", "b")))
        for i in range(5):
            client.send(msgpack.packb({"kind": "tell", "to": "b"}), msgpack.packb({"type": "Note", "text": str(i)}))
        assert hub_and_nodes[0].wait_connected("b", first.link.incarnation, 1)
        first.kill()  # the process is gone while handling Block
        hub.node_down("b", "b was killed", first.link.incarnation)
        first_probe.gate("forever").set()
        start("b", recorder(second_probe))
        assert second_probe.wait_for(lambda: len(second_probe.notes("b")) == 5)
        assert second_probe.notes("b") == ["0", "1", "2", "3", "4"]
        assert second_probe.of("blocked") == []  # the message in hand was not delivered again
        [(recipient, _, why)] = list(hub.dead_letters)  # the Block, once (by whichever news came first)
        assert recipient == "b" and why.endswith("while handling it")
    finally:
        client.close()


def test_a_full_mailbox_turns_more_mail_into_dead_letters_and_errors(endpoint: str) -> None:
    hub = Hub(endpoint, ["b"], queue_limit=3)
    hub.start()
    client = Client(endpoint)
    try:
        for i in range(3):
            client.send(msgpack.packb({"kind": "tell", "to": "b"}), msgpack.packb({"type": "Note", "text": str(i)}))
        header, body = client.ask("b", {"type": "Note", "text": "one too many"}, id=8)
        assert header["kind"] == "error" and "3 messages waiting" in body["reason"]
        assert [r for r, _, _ in hub.dead_letters] == ["b"]
    finally:
        client.close()
        hub.stop()


def test_a_tcp_hub_without_keys_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs CurveZMQ keys"):
        Hub("tcp://127.0.0.1:5599", ["b"])


class Quiet(Message, frozen=True):
    pass


def test_acks_let_the_hub_forget_delivered_mail(hub_and_nodes: Any, endpoint: str) -> None:
    hub, start = hub_and_nodes
    probe = Probe()
    start("b", recorder(probe))
    client = Client(endpoint)
    try:
        for i in range(600):  # more than the window
            client.send(msgpack.packb({"kind": "tell", "to": "b"}), msgpack.packb({"type": "Note", "text": str(i)}))
        assert probe.wait_for(lambda: len(probe.notes("b")) == 600, timeout=10)
        client.ask("b", {"type": "Ping"})
        [status] = [s for s in hub.status() if s.name == "b"]
        assert status.queued == 0 and status.delivered == 601
    finally:
        client.close()


# ---- hostile peers (issue 9) ------------------------------------------------------------------------


def _deep(depth: int = 1_000) -> bytes:
    return b"\x91" * depth + b"\x00"


class Witness(Actor):
    """Records who sent each Note (the sender the hub stamped) and tells the sender back."""

    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def on_note(self, message: Note) -> None:
        envelope = self.current_envelope
        self.probe.record("from", self.name, str(envelope.sender if envelope else None))
        self.reply(Note(text=f"seen {message.text}"))


class Huge(Actor):
    """Answers a Ping with a number no MessagePack can carry."""

    def on_ping(self, message: Ping) -> int:
        return 2**70


def _serving_runtime(endpoint: str) -> Hub:
    """A hub that also serves "runtime" by decoding the body with the codec, as the supervisor does."""
    from messages.codec import DecodeError, decode, encode
    from messages.system import Rejected
    from supervisor.transport.wire import Header, encode_header

    def answer(header: Header, body: bytes) -> list[bytes]:
        try:
            reply: Message = Pong(actor="runtime", nonce=getattr(decode(body), "nonce", 0))
        except DecodeError as error:
            reply = Rejected(reason=str(error))
        return [encode_header(Header(kind="reply", to=header.sender, id=header.id)), encode(reply)]

    return Hub(endpoint, ["b"], served={"runtime"}, system_handler=answer, heartbeat_interval=0.2)


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ((msgpack.packb({"kind": "reply", "to": "☃", "id": 1}), b""), "no ask from ☃"),
        ((msgpack.packb({"kind": "tell", "to": "☃"}), b""), "no actor named '☃'"),
        ((b"\x82\xa4kind\xa4tell\xa1x" + _deep(), b""), "nested too deeply"),
        ((b"\x82\xa4kind\xa4tell\xa2to" + _deep(), b""), "bad frame header"),
        ((msgpack.packb({"kind": "tell", "to": "x" * 10_000}), b""), "bad frame header"),
        ((msgpack.packb({"kind": "ack", "seq": 5}), b""), "only a node may send 'ack'"),
        ((msgpack.packb({"kind": "pong"}), b""), "only a node may send 'pong'"),
    ],
    ids=["non-latin-1 reply", "non-latin-1 tell", "deep header", "deep to", "long to", "client ack", "client pong"],
)
def test_frames_that_killed_the_hub_thread_are_answered_and_it_carries_on(
    endpoint: str, frames: tuple[bytes, ...], reason: str
) -> None:
    hub = _serving_runtime(endpoint)
    hub.start()
    client = Client(endpoint)
    try:
        client.send(*frames)
        header, body = client.receive()
        assert header["kind"] == "error" and body["type"] == "DeliveryFailed" and reason in body["reason"]
        assert client.ask("runtime", {"type": "Ping", "nonce": 3})[1] == {
            "type": "Pong",
            "actor": "runtime",
            "nonce": 3,
        }
        assert hub.alive and hub.counts["internal_errors"] == 0
    finally:
        client.close()
        hub.stop()


def test_an_ask_to_runtime_with_a_deeply_nested_body_is_rejected_and_the_hub_carries_on(endpoint: str) -> None:
    hub = _serving_runtime(endpoint)
    hub.start()
    client = Client(endpoint)
    try:
        client.send(
            msgpack.packb({"kind": "ask", "to": "runtime", "id": 7}), b"\x82\xa4type\xa4Ping\xa1x" + _deep(100_000)
        )
        header, body = client.receive()
        assert header["id"] == 7 and body["type"] == "Rejected" and "nested too deeply" in body["reason"]
        assert hub.alive and client.ask("runtime", {"type": "Ping"})[1]["type"] == "Pong"
    finally:
        client.close()
        hub.stop()


def test_deeply_nested_tells_do_not_crash_a_node_and_are_dead_lettered_as_a_digest(
    hub_and_nodes: Any, endpoint: str
) -> None:
    from supervisor.transport.link import Undecodable

    _, start = hub_and_nodes
    node = start("b", recorder(Probe()))
    client = Client(endpoint)
    try:
        for _ in range(12):  # a dozen used to exhaust the root supervisor's intensity
            client.send(msgpack.packb({"kind": "tell", "to": "b"}), b"\x82\xa4type\xa4Note\xa4text" + _deep(100_000))
        big = b"\xc1" * 500_000
        client.send(msgpack.packb({"kind": "tell", "to": "b"}), big)
        assert client.ask("b", {"type": "Note", "text": "alive"})[1] == "alive"
        assert [a.restarts for a in node.runtime.status()] == [0]
        letters = node.runtime.dead_letters
        assert len(letters) == 13 and all(isinstance(d.message, Undecodable) for d in letters)
        assert letters[-1].message.size == 500_000 and len(letters[-1].message.sha256) == 32  # the digest, not the body
    finally:
        client.close()


def test_a_peer_that_claims_a_nodes_name_gets_none_of_its_mail(hub_and_nodes: Any, endpoint: str) -> None:
    hub, start = hub_and_nodes
    probe = Probe()
    start("b", recorder(probe))
    impostor = zmq.Context.instance().socket(zmq.DEALER)
    impostor.setsockopt(zmq.IDENTITY, b"b")  # the real node's name as its connection identity
    impostor.setsockopt(zmq.LINGER, 0)
    impostor.connect(endpoint)
    client = Client(endpoint)
    try:
        for proof in (b"", b"guessed-secret"):
            impostor.send_multipart([msgpack.packb({"kind": "hello", "to": "b", "id": 1}), proof])
            assert impostor.poll(5000)
            header, body = impostor.recv_multipart()
            assert msgpack.unpackb(header)["kind"] == "error" and "not admitted as b" in msgpack.unpackb(body)["reason"]
        for i in range(5):
            client.send(msgpack.packb({"kind": "tell", "to": "b"}), msgpack.packb({"type": "Note", "text": str(i)}))
        assert client.ask("b", {"type": "Note", "text": "real"})[1] == "real"
        assert probe.notes("b") == ["0", "1", "2", "3", "4", "real"]  # the real node got all of it
        assert not impostor.poll(300)  # and the impostor nothing
        assert hub.counts["impostors"] == 2
    finally:
        impostor.close(0)
        client.close()


def test_the_hub_stamps_the_sender_whatever_the_frame_says_and_the_actor_can_answer_the_client(
    hub_and_nodes: Any, endpoint: str
) -> None:
    _, start = hub_and_nodes
    probe = Probe()
    start("b", lambda: Witness(probe))
    client = Client(endpoint)
    try:
        client.send(
            msgpack.packb({"kind": "tell", "to": "b", "sender": "a"}), msgpack.packb({"type": "Note", "text": "1"})
        )
        header, body = client.receive()  # Witness told its answer back to the sender it saw
        assert header["kind"] == "tell" and header["sender"] == "b" and body == {"type": "Note", "text": "seen 1"}
        [(_, _, sender)] = probe.of("from", "b")
        assert sender.startswith("client/") and sender != "client/a" and sender == header["to"]
    finally:
        client.close()


def test_a_reply_to_no_ask_is_refused_and_never_forwarded(hub_and_nodes: Any, endpoint: str) -> None:
    hub, start = hub_and_nodes
    start("b", recorder(Probe()))
    asker, forger = Client(endpoint), Client(endpoint)
    try:
        header, _ = asker.ask("b", {"type": "Ping"}, id=5)
        asker_name = header["to"]
        for to, kind in ((asker_name, "reply"), (asker_name, "error"), ("b", "reply")):
            forger.send(
                msgpack.packb({"kind": kind, "to": to, "id": 5, "sender": "b"}),
                msgpack.packb({"type": "Pong", "actor": "b", "nonce": 666}),
            )
            header, body = forger.receive()
            assert header["kind"] == "error" and "is waiting for an answer" in body["reason"]
        assert not asker.socket.poll(300)  # the asker saw no forged answer
        assert hub.counts["forged"] == 3
    finally:
        asker.close()
        forger.close()


def test_a_frame_over_the_size_limit_is_dropped_by_the_socket_and_nothing_is_kept(
    hub_and_nodes: Any, endpoint: str
) -> None:
    from supervisor.transport.wire import MAX_FRAME_BYTES

    hub, start = hub_and_nodes
    start("b", recorder(Probe()))
    client = Client(endpoint)
    try:
        client.send(msgpack.packb({"kind": "tell", "to": "b"}), b"\xc1" * (MAX_FRAME_BYTES + 1))
        header, _ = Client(endpoint).ask("b", {"type": "Ping"})  # a fresh connection: the hub carries on
        assert header["kind"] == "reply"
        [status] = [s for s in hub.status() if s.name == "b"]
        assert status.queued == 0 and status.delivered == 1  # the oversize frame never reached the node
    finally:
        client.close()


def test_under_a_flood_every_answer_is_either_delivered_or_counted_as_dropped(endpoint: str) -> None:
    hub = _serving_runtime(endpoint)
    hub.start()
    client = Client(endpoint)
    asks = 30_000
    try:
        for i in range(asks):  # and read nothing meanwhile: the hub's pipe to this client fills up
            client.send(msgpack.packb({"kind": "ask", "to": "runtime", "id": i + 1}), msgpack.packb({"type": "Ping"}))
        answered = 0
        while client.socket.poll(1000):
            client.socket.recv_multipart()
            answered += 1
        assert hub.counts["dropped"] > 0  # the flood did overflow
        assert answered + hub.counts["dropped"] == asks  # and not one answer vanished uncounted
        assert hub.alive and client.ask("runtime", {"type": "Ping"}, id=0)[1]["type"] == "Pong"
    finally:
        client.close()
        hub.stop()


def test_an_answer_that_cannot_be_encoded_reaches_the_asker_as_a_typed_error(hub_and_nodes: Any, endpoint: str) -> None:
    _, start = hub_and_nodes
    start("b", Huge)
    client = Client(endpoint)
    try:
        header, body = client.ask("b", {"type": "Ping"}, id=3)
        assert header["kind"] == "error" and header["id"] == 3 and body["type"] == "DeliveryFailed"
        assert "could not send its answer" in body["reason"]
    finally:
        client.close()
