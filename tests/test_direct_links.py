"""Direct node-to-node links (ipc mode) keep every promise of process mode, through real processes and sockets.

`tests.linked.Sender` (one node) tells `tests.linked.Keeper` (another) the words of a Note; the
keeper logs each Note it handles to a file. The last test runs two nodes as threads of this
process to look inside the link (its window).
"""

from __future__ import annotations

import itertools
import os
import secrets
import select
import signal
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from desk.config import parse_config
from desk.processes import ProcessSystem
from messages.system import Pong
from supervisor import ChildSpec, Runtime, Supervisor
from supervisor.transport.client import Client
from supervisor.transport.frames import FrameKind, hello_frame, parse_frame, tells_frame
from supervisor.transport.handling import HANDLING_FOLDER, handling_path
from supervisor.transport.hub import Hub
from supervisor.transport.link import NodeLink
from supervisor.transport.stream import FrameStream, StreamError, dial
from supervisor.transport.wire import MAX_FRAME_BYTES
from tests.linked import Sender
from tests.probe import Block, Note, Probe, recorder

pytestmark = pytest.mark.slow

DESK = """
[[accounts]]
exchange = "kraken"
account = "main"
balances = { usdc = 1000.0 }

[scheduler]
jobs = [{ name = "reconcile", target = "gateway", message = "Reconcile", every = 60.0 }]

[[actors]]
name = "keeper"
class = "tests.linked:Keeper"

[[actors]]
name = "sender"
class = "tests.linked:Sender"
params = { peer = "keeper" }
"""


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Re-check ``predicate`` until it holds (another process's progress, seen through a file or a status)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)  # re-check soon: nothing here waits for time to pass
    return True


class Linked:
    """A running system with a keeper and a sender, and the keeper's log."""

    def __init__(self, folder: Path) -> None:
        self.log, self.fifo = folder / "keeper.log", folder / "never.fifo"
        os.mkfifo(self.fifo)
        data: dict[str, Any] = tomllib.loads(DESK)
        data["actors"][0]["params"] = {"log": str(self.log), "fifo": str(self.fifo)}
        data["runtime"] = {"folder": str(folder / "run"), "heartbeat_interval": 0.2, "hang_timeout": 2.0}
        self.system = ProcessSystem(parse_config(data, folder))
        self.system.start()
        assert self.system.runtime is not None and self.system.hub is not None
        self.runtime, self.hub = self.system.runtime, self.system.hub
        self.client = Client(self.system.endpoint, timeout=10.0)

    def node(self, name: str) -> Any:
        return next(n for n in self.runtime.nodes if n.name == name)

    def lines(self) -> list[tuple[int, str, str]]:
        if not self.log.exists():
            return []
        return [(int(p), s, t) for p, s, t in (line.split(" ") for line in self.log.read_text().splitlines())]

    def texts(self, pid: int) -> list[str]:
        return [text for p, _, text in self.lines() if p == pid]

    def direct_links_opened(self) -> int:
        log = self.system.folder / "logs" / "sender.log"
        return log.read_text().count("direct link to keeper")

    def close(self) -> None:
        self.client.close()
        self.system.stop()


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[Linked]:
    system = Linked(tmp_path)
    try:
        yield system
    finally:
        system.close()


def test_tells_between_nodes_go_over_their_direct_link_in_order(linked: Linked) -> None:
    words = [str(i) for i in range(300)]  # more than a window
    linked.client.tell("sender", Note(text=" ".join(words)))
    pid = linked.node("keeper").pid
    assert wait_for(lambda: len(linked.texts(pid)) == 300)
    assert linked.texts(pid) == words
    assert {sender for _, sender, _ in linked.lines()} == {"sender"}  # stamped with the proven name
    [keeper] = [s for s in linked.hub.status() if s.name == "keeper"]
    assert keeper.delivered == 0  # none of it went through the hub
    assert linked.direct_links_opened() == 1


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_a_node_gone_mid_handling_loses_exactly_the_tell_in_hand_and_gets_the_rest_in_order(
    linked: Linked, how: signal.Signals
) -> None:
    keeper = linked.node("keeper")
    first = keeper.pid
    rest = [str(i) for i in range(20)]
    linked.client.tell("sender", Note(text=" ".join(["a", "b", "block", *rest])))
    assert wait_for(lambda: linked.texts(first)[-1:] == ["handling-block"])
    os.kill(first, how)  # frozen: alive but silent, until the supervisor kills it for missed heartbeats
    assert linked.runtime.wait_until(lambda: keeper.restarts == 1 and keeper.state == "running", 60)
    second = keeper.pid
    assert wait_for(lambda: len(linked.texts(second)) == len(rest))
    assert linked.texts(second) == rest  # in order, the one in hand not delivered again
    assert linked.texts(first) == ["a", "b", "handling-block"]
    [(recipient, sender, why)] = list(linked.hub.dead_letters)
    assert (recipient, sender) == ("keeper", "sender") and why.endswith("while handling it")
    assert linked.client.status().dead_letters == 1
    if how == signal.SIGSTOP:
        assert keeper.last_error.endswith("(it missed heartbeats)")


def test_mail_for_a_stopped_peer_waits_at_the_hub_and_arrives_in_order(linked: Linked) -> None:
    linked.client.tell("sender", Note(text="warm"))
    keeper = linked.node("keeper")
    first = keeper.pid
    assert wait_for(lambda: linked.texts(first) == ["warm"])
    linked.runtime.terminate_child("keeper")
    assert linked.runtime.wait_until(lambda: keeper.state == "terminated", 30)
    words = [str(i) for i in range(10)]
    linked.client.tell("sender", Note(text=" ".join(words)))
    assert wait_for(lambda: [a.mailbox for a in linked.client.status().actors if a.name == "keeper"] == [10])
    linked.runtime.restart_child("keeper")
    assert linked.runtime.wait_until(lambda: keeper.state == "running" and keeper.pid != first, 30)
    second = keeper.pid
    assert wait_for(lambda: len(linked.texts(second)) == 10)
    assert linked.texts(second) == words
    linked.client.tell("sender", Note(text="direct again"))
    assert wait_for(lambda: linked.texts(second)[-2:] == ["direct", "again"])
    assert linked.direct_links_opened() == 2
    assert list(linked.hub.dead_letters) == []


def test_a_dead_letter_in_a_nodes_own_runtime_counts_in_status(linked: Linked) -> None:
    assert linked.client.status().dead_letters == 0
    linked.client.tell("keeper", Pong(actor="nobody", nonce=1))  # the keeper does not handle it: its own dead letter
    assert wait_for(lambda: linked.client.status().dead_letters == 1)  # reported with its next heartbeat
    assert list(linked.hub.dead_letters) == []  # the hub itself lost nothing


def _answer(stream: FrameStream) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert select.select([stream], [], [], 10)[0], "the node did not answer"
        frames = stream.receive()
        if frames:
            kind, _, _, body = parse_frame(frames[0])
            assert kind == FrameKind.ERROR
            return str(msgpack.unpackb(body)["reason"])
    raise AssertionError("the node did not answer")


def test_an_impostor_dialling_a_nodes_direct_endpoint_is_refused(linked: Linked) -> None:
    pid = linked.node("keeper").pid
    folder = linked.system.folder / HANDLING_FOLDER
    assert (folder / f"{pid}.sock").exists()
    impostor = dial(str(folder / f"{pid}.sock"), MAX_FRAME_BYTES)
    forged = tells_frame(1, [msgpack.packb({"type": "Note", "text": "forged"})])
    try:
        impostor.send(forged)
        assert "has not proved who it is" in _answer(impostor)
        impostor.send(hello_frame("keeper", "sender", linked.node("sender").pid, secrets.token_bytes(32)))
        assert "wrong token" in _answer(impostor)
        impostor.send(forged)
        assert "has not proved who it is" in _answer(impostor)
        impostor.send(b"\x03short")
        assert "13-byte head" in _answer(impostor)
        impostor.socket.sendall((MAX_FRAME_BYTES + 1).to_bytes(4, "little"))
        assert select.select([impostor], [], [], 10)[0]
        with pytest.raises(StreamError):  # a frame over the limit: the node hangs up
            impostor.receive()
    finally:
        impostor.close()
    linked.client.tell("keeper", Note(text="through-the-hub"))  # a client's tell is stamped as the client's
    assert wait_for(lambda: [t for _, _, t in linked.lines()] == ["through-the-hub"])
    [(_, sender, _)] = linked.lines()
    assert sender.startswith("client/")
    assert handling_path(folder, "keeper", pid).exists()


# ---- inside a link: two nodes as threads of this process, real sockets ---------------------------

_incarnations = itertools.count(2000)


def test_a_direct_link_never_has_more_than_256_unacknowledged_tells(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path / 'hub.sock'}"
    folder = tmp_path / HANDLING_FOLDER
    hub = Hub(endpoint, ["a", "b"], heartbeat_interval=0.2, handling_folder=folder)
    hub.start()
    probe = Probe()
    nodes = []

    def start(name: str, factory: Callable[[], Any]) -> tuple[NodeLink, Runtime, threading.Thread]:
        secret, incarnation = secrets.token_hex(16), next(_incarnations)
        hub.admit(name, secret)
        link = NodeLink(
            name,
            endpoint,
            ["a", "b"],
            incarnation=incarnation,
            secret=secret,
            handling=handling_path(folder, name, incarnation),
            direct=True,
        )
        runtime = Runtime(Supervisor([ChildSpec(name, factory)]), remote=link)
        link.runtime = runtime
        runtime.start()
        thread = threading.Thread(target=link.run, daemon=True)
        thread.start()
        assert hub.wait_connected(name, incarnation, 10)
        nodes.append((link, runtime, thread))
        return link, runtime, thread

    try:
        start("b", recorder(probe))
        a, a_runtime, _ = start("a", lambda: Sender("b"))
        a_runtime.tell("a", Note(text="first"))
        assert probe.wait_for(lambda: probe.notes("b") == ["first"], 10)
        a_runtime.tell("b", Block(gate="hold"))  # from a's runtime: over the link
        assert probe.wait_for(lambda: bool(probe.of("blocked", "b")), 10)
        words = [str(i) for i in range(1000)]
        a_runtime.tell("a", Note(text=" ".join(words)))
        assert a._direct is not None
        out = a._direct.out["b"]
        assert wait_for(
            lambda: len(out.unacked) == 256 and len(out.waiting) == 1 + 1000 - 256, 10
        )  # the Block is in hand
        assert [a.mailbox for a in a_runtime.status()] == [0]
        probe.gate("hold").set()
        assert probe.wait_for(lambda: len(probe.notes("b")) == 1001, 30)
        assert probe.notes("b") == ["first", *words]
        assert wait_for(lambda: not out.unacked and not out.waiting, 10)
    finally:
        probe.gate("hold").set()
        for link, runtime, thread in nodes:
            link.request_stop("test over")
            thread.join(10)
            runtime.stop()
            link.close()
        hub.stop()
