"""Process mode with real OS processes and real sockets: the demo as one process per actor.

One system (the built-in demo, in a private folder) serves the module's tests in order; the
last test kills every node kind in turn, then stops the world and audits it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desk.config import DEMO_CONFIG, Deployment, actor_names, parse_config
from desk.processes import ProcessSystem
from desk.status import ledger_mismatches, unsettled_accounts
from messages.balances import GetBalances
from messages.common import Currencies, Exchanges
from messages.system import Ping
from messages.tasks import AddTransferTask, GetTasks, PendingTasks
from supervisor import StartError
from supervisor.transport.client import Client, ClientError

pytestmark = pytest.mark.slow

PYTHON = sys.executable
REPO = Path(__file__).resolve().parent.parent


def free_tcp_endpoint() -> str:
    """A tcp endpoint whose port and the next two (the venue's) are free now: the machine is shared."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(20_000, 60_000)
        try:
            for offset in range(3):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return f"tcp://127.0.0.1:{port}"
    raise RuntimeError("no free tcp port")


def demo_in(folder: Path, **overrides: Any) -> Deployment:
    data = tomllib.loads(DEMO_CONFIG.read_text())
    data["runtime"]["folder"] = str(folder)
    data["supervisor"]["intensity"] = 50  # this module kills nodes on purpose, many times
    data.update(overrides)
    return parse_config(data, folder)


def cli(*args: str, folder: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "desk.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TREASURY_RUNTIME": str(folder), **(env or {})},
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessSystem]:
    folder = tmp_path_factory.mktemp("desk") / "run"
    xdg = tmp_path_factory.mktemp("xdg")
    xdg.chmod(0o700)
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(xdg)  # the nodes inherit it: their board record stays private
    system = ProcessSystem(demo_in(folder))
    system.start()
    try:
        yield system
    finally:
        system.stop()
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous


@pytest.fixture
def client(running: ProcessSystem) -> Iterator[Client]:
    with Client(running.endpoint, timeout=10.0) as c:
        yield c


def test_every_actor_runs_in_its_own_process(running: ProcessSystem, client: Client) -> None:
    status = client.status()
    pids = [a.pid for a in status.actors]
    assert [a.name for a in status.actors] == running.names
    assert all(a.state == "running" for a in status.actors)
    assert len(set(pids)) == len(pids) and os.getpid() not in pids
    assert (running.folder.stat().st_mode & 0o777) == 0o700


def test_each_node_writes_a_rotated_log_of_its_own_and_keeps_stderr_for_what_escapes_it(
    running: ProcessSystem, client: Client
) -> None:
    client.ask("gateway", Ping())
    logs = running.folder / "logs"
    for name in running.names:
        assert (logs / f"{name}.log").exists() and (logs / f"{name}.out").exists(), name
    assert "gateway" in (logs / "gateway.log").read_text()  # loguru's lines, tagged with the actor
    assert "INFO" not in (logs / "gateway.out").read_text()  # only errors reach the raw output


def test_bin_run_send_allocates_and_a_rejection_exits_non_zero(running: ProcessSystem) -> None:
    command = {
        "strategy": "ops",
        "cmd": "allocate",
        "currency": "usdc",
        "amount": 100,
        "index": 4,
        "exchange": "kraken",
        "account": "main",
    }
    done = cli("send", "gateway", json.dumps(command), folder=running.folder)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["type"] == "BalanceView" and answer["slots"][4] == 100.0
    refused = cli("send", "gateway", json.dumps({**command, "amount": 10_000_000}), folder=running.folder)
    assert refused.returncode == 1 and json.loads(refused.stdout)["type"] == "Rejected"
    typed = cli(
        "send",
        "tasks",
        '{"type": "GetLastSuccess", "key": ["kraken", "x", "kraken", "y", "usdc"]}',
        folder=running.folder,
    )
    assert typed.returncode == 0 and json.loads(typed.stdout)["timestamp"] is None
    unknown = cli("send", "nobody", '{"type": "Ping"}', folder=running.folder)
    assert unknown.returncode == 1 and "no actor named 'nobody'" in unknown.stderr


def test_another_process_reads_the_board_as_the_desk_library_did(running: ProcessSystem) -> None:
    script = textwrap.dedent("""
        from messages.common import Currencies, Currency, Exchange, Exchanges
        from actors.stores.board import StrategyBalanceManager
        manager = StrategyBalanceManager(Exchanges.KRAKEN, strategy_count=8, account="main")
        print(manager.get_balance(Currencies.USDC, index=4), manager.get_balance(Currencies.USDC, index=0))
    """)
    done = subprocess.run(
        [PYTHON, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "TREASURY_RUNTIME": str(running.folder)},
    )
    assert done.returncode == 0, done.stderr
    slot4, total = map(float, done.stdout.split())
    assert slot4 == 100.0 and total > 0


def test_bin_run_status_shows_pids_states_and_balances(running: ProcessSystem) -> None:
    done = cli("status", "--json", folder=running.folder)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert {a["name"] for a in status["actors"]} == set(running.names)
    assert all(isinstance(a["pid"], int) for a in status["actors"])
    assert any(b["account"] == "kraken.main" and b["currency"] == "usdc" for b in status["balances"])
    assert "hedge" in status and status["hedge"]["market"] == "btc/usd"
    text = cli("status", folder=running.folder)
    assert text.returncode == 0 and "gateway" in text.stdout and "balances:" in text.stdout


def test_a_client_with_only_pyzmq_and_msgpack_talks_to_the_hub(running: ProcessSystem) -> None:
    script = textwrap.dedent(f"""
        import sys, zmq, msgpack
        assert "messages" not in sys.modules and "supervisor" not in sys.modules
        s = zmq.Context().socket(zmq.DEALER)
        s.connect({running.endpoint!r})
        s.send_multipart([msgpack.packb({{"kind": "ask", "to": "gateway", "id": 1}}),
                          msgpack.packb({{"type": "Ping", "nonce": 5}})])
        assert s.poll(10000)
        header, body = s.recv_multipart()
        print(msgpack.unpackb(header)["kind"], msgpack.unpackb(body))
        s.send_multipart([b"garbage"])
        assert s.poll(10000)
        print(msgpack.unpackb(s.recv_multipart()[1])["type"])
    """)
    done = subprocess.run([PYTHON, "-I", "-c", script], capture_output=True, text=True, timeout=30, cwd="/")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "reply {'type': 'Pong', 'actor': 'gateway', 'nonce': 5}"
    assert lines[1] == "DeliveryFailed"


def test_in_ipc_mode_a_hello_without_the_incarnations_secret_is_refused(running: ProcessSystem, client: Client) -> None:
    assert running.hub is not None
    before = running.hub.counts["impostors"]
    assert "not admitted as gateway" in _hello(running.endpoint, "gateway", None, b"0" * 32)
    assert "not admitted as tasks" in _hello(running.endpoint, "tasks", None)
    assert running.hub.counts["impostors"] == before + 2
    assert client.ask("gateway", Ping()).actor == "gateway"
    assert all(a.state == "running" for a in client.status().actors)


def test_a_second_system_in_the_same_folder_is_refused_and_leaves_the_first_untouched(
    running: ProcessSystem, client: Client
) -> None:
    second = ProcessSystem(running.deployment)
    with pytest.raises(RuntimeError, match="already running"):
        second.start()
    assert (running.folder / "system.json").exists() and (running.folder / "hub.sock").exists()
    assert client.ask("gateway", Ping()).actor == "gateway"


def test_killing_each_node_kind_loses_no_task_and_pays_no_transfer_twice(
    running: ProcessSystem, client: Client
) -> None:
    runtime = running.runtime
    assert runtime is not None
    # a task that cannot run (its source is empty): it must still be pending after every kill
    stuck = AddTransferTask(
        from_exchange=Exchanges.MEXC,
        from_account="trade",
        to_exchange=Exchanges.MEXC,
        to_account="main",
        currency=Currencies.USDT,
        amount=1.0,
    )
    assert client.ask("tasks", stuck).added
    for kind in ["tasks", "transfers", "chains", "gateway", "hedge_b", "hedge_a", "scheduler"]:
        node = next(n for n in runtime.nodes if n.name == kind)
        before, pid = node.restarts, node.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert runtime.wait_until(lambda n=node, b=before: n.restarts == b + 1 and n.state == "running", 30), kind
        assert node.pid != pid
        assert client.ask(kind, Ping()).actor == kind
        pending = client.ask("tasks", GetTasks())
        assert isinstance(pending, PendingTasks)
        assert any(k == stuck.key for k, _ in pending.tasks), f"task lost after killing {kind}"
    status = client.status()
    assert {a.name: a.restarts for a in status.actors if a.restarts} == {
        k: 1 for k in ["tasks", "transfers", "chains", "gateway", "hedge_b", "hedge_a", "scheduler"]
    }
    # stop the world and audit: every transfer paid once, every cent accounted for
    running.venue.close()
    runtime.stop_nodes(set(running.names) - {"gateway"})
    views = client.ask("gateway", GetBalances()).views
    debits = Counter(m.client_id for m in running.venue.audit() if m.kind == "debit")
    assert debits and max(debits.values()) == 1, "a transfer was paid twice"
    assert all(abs(e) < 0.005 for e in running.venue.conservation_error().values())
    from actors.stores.journal import Journal

    with Journal(running.deployment.journal_path) as journal:
        moving = unsettled_accounts(journal.intents.open_intents())
        done_ids = {i.client_id for i in journal.intents.with_status("done")}
    assert done_ids <= set(debits)  # every transfer the desk counts as done was paid at the venue
    assert ledger_mismatches(views, running.venue.all_balances(), moving) == []


def test_stopping_leaves_no_process_socket_or_shared_memory_behind(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    system = ProcessSystem(demo_in(folder))
    shm_before = set(os.listdir("/dev/shm"))
    system.start()
    assert system.runtime is not None
    pids = [n.pid for n in system.runtime.nodes]
    assert list(folder.glob("*.sock")) and (folder / "system.json").exists()
    system.stop()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert list(folder.glob("*.sock")) == [] and not (folder / "system.json").exists()
    new = set(os.listdir("/dev/shm")) - shm_before  # the machine is shared: count only segments of our nodes
    assert {segment for segment in new if any(f"-{pid}-" in segment for pid in pids)} == set()


def test_a_tcp_hub_admits_only_peers_with_an_allowed_key(tmp_path: Path) -> None:
    from supervisor.transport.keys import generate_keys

    small = demo_in(
        tmp_path / "run",
        hedge=None,
        actors=[],
        gateway={},
        scheduler={"jobs": [{"name": "reconcile", "target": "gateway", "message": "Reconcile", "every": 5.0}]},
    )
    keys = generate_keys(tmp_path / "keys", nodes=actor_names(small))
    system = ProcessSystem(small, endpoint=free_tcp_endpoint(), keys=keys)
    system.start()
    try:
        with Client(system.endpoint, keys=keys, timeout=10.0) as allowed:
            assert allowed.status().actors[0].name == "gateway"  # nodes joined over tcp with their keys
        with Client(system.endpoint, timeout=1.0) as stranger, pytest.raises(ClientError, match="did not answer"):
            stranger.status()
    finally:
        system.stop()


def test_a_frozen_node_that_misses_heartbeats_is_killed_and_restarted(tmp_path: Path) -> None:
    small = demo_in(
        tmp_path / "run",
        hedge=None,
        actors=[],
        gateway={},
        runtime={"folder": str(tmp_path / "run"), "heartbeat_interval": 0.2, "hang_timeout": 1.5},
        scheduler={"jobs": [{"name": "reconcile", "target": "gateway", "message": "Reconcile", "every": 5.0}]},
    )
    with ProcessSystem(small) as system:
        runtime = system.runtime
        assert runtime is not None
        node = next(n for n in runtime.nodes if n.name == "prices")
        frozen = node.pid
        assert frozen is not None
        os.kill(frozen, signal.SIGSTOP)  # alive but silent: no heartbeat answers
        assert runtime.wait_until(lambda: node.restarts == 1 and node.state == "running", 30)
        assert (
            node.pid != frozen and node.last_error == f"prices (pid {frozen}) killed by SIGKILL (it missed heartbeats)"
        )
        with pytest.raises(ProcessLookupError):
            os.kill(frozen, 0)
        with Client(system.endpoint, timeout=10.0) as client:
            client.tell("prices", Ping())  # an outside tell: answered to nobody, never a crash
            assert client.ask("prices", Ping()).actor == "prices"
            assert [a.restarts for a in client.status().actors if a.name == "prices"] == [1]


def test_a_node_from_another_host_joins_over_tcp_with_only_its_keys(tmp_path: Path) -> None:
    from messages.demo import DemoTick
    from supervisor.transport.keys import generate_keys

    far = {
        "name": "far_strategy",
        "class": "actors.demo:DemoStrategy",
        "external": True,
        "params": {"slot": 2, "exchange": "kraken", "account": "main", "currency": "usdc", "amount": 50.0},
    }
    small = demo_in(
        tmp_path / "run",
        hedge=None,
        actors=[far],
        gateway={},
        scheduler={"jobs": [{"name": "reconcile", "target": "gateway", "message": "Reconcile", "every": 5.0}]},
    )
    keys = generate_keys(tmp_path / "keys", nodes=actor_names(small))
    system = ProcessSystem(small, endpoint=free_tcp_endpoint(), keys=keys)
    system.start()
    elsewhere = tmp_path / "other-host"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TREASURY_RUNTIME"}
    try:
        with Client(system.endpoint, keys=keys, timeout=10.0) as client:
            [waiting] = [a for a in client.status().actors if a.name == "far_strategy"]
            assert waiting.state == "external, not connected"
            client.tell("far_strategy", DemoTick())  # waits at the hub for the node
            # what the desk runs on the other host: no config, no runtime folder, only the keys
            node = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "desk.cli",
                    "node",
                    "--connect",
                    system.endpoint,
                    "--name",
                    "far_strategy",
                    "--keys",
                    str(keys),
                ],
                cwd=elsewhere,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(tmp_path / "node.log", "wb"),
            )
            assert system.hub is not None and system.hub.wait_connected("far_strategy", node.pid, 30)
            allocated = 0.0
            for _ in range(2000):  # the waiting DemoTick makes it allocate through the gateway
                views = client.ask("gateway", GetBalances(exchange=Exchanges.KRAKEN, account="main")).views
                allocated = next(v.slots[2] for v in views if v.currency == Currencies.USDC)
                if allocated:
                    break
            assert allocated == 50.0
            [joined] = [a for a in client.status().actors if a.name == "far_strategy"]
            assert joined.state == "external, connected" and joined.pid == node.pid
            assert (elsewhere / "run" / "node-far_strategy" / "journal.sqlite").exists()
    finally:
        system.stop()  # asks the external node to leave
    assert node.wait(30) == 0, (tmp_path / "node.log").read_text()


def test_nodes_of_a_supervisor_killed_with_sigkill_stop_by_themselves(tmp_path: Path) -> None:
    import select

    folder = tmp_path / "run"
    desk = tmp_path / "desk.toml"
    desk.write_text(
        textwrap.dedent(f"""
        [runtime]
        folder = "{folder}"
        heartbeat_interval = 0.2
        hang_timeout = 2.0
        [[accounts]]
        exchange = "kraken"
        account = "main"
        balances = {{ usdc = 100.0 }}
        [scheduler]
        jobs = [{{ name = "reconcile", target = "gateway", message = "Reconcile", every = 5.0 }}]
    """)
    )
    supervisor = subprocess.Popen(
        [PYTHON, "-m", "desk.cli", "--processes", "--config", str(desk), "--for", "600"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert supervisor.stdout is not None
        ready, _, _ = select.select([supervisor.stdout], [], [], 60)  # printed once every node is up
        assert ready and supervisor.stdout.readline().startswith("process mode:")
        with Client(runtime_folder=folder, timeout=10.0) as client:
            statuses = client.status().actors
        assert statuses and all(a.state == "running" for a in statuses)
        pids = [a.pid for a in statuses]
    finally:
        supervisor.kill()  # no chance to stop its nodes
        supervisor.wait(10)
    watchers = [os.pidfd_open(pid) for pid in pids if pid is not None]
    try:
        for fd in watchers:  # each node notices the silent hub within hang_timeout and exits
            readable, _, _ = select.select([fd], [], [], 30)
            assert readable, "a node outlived its supervisor"
    finally:
        for fd in watchers:
            os.close(fd)


# ---- hostile peers and clean exits (issue 9) -----------------------------------------------------------


def small_desk(folder: Path, **runtime: Any) -> Deployment:
    return demo_in(
        folder,
        hedge=None,
        actors=[],
        gateway={},
        runtime={"folder": str(folder), **runtime},
        scheduler={"jobs": [{"name": "reconcile", "target": "gateway", "message": "Reconcile", "every": 5.0}]},
    )


def _hello(endpoint: str, name: str, curve: tuple[bytes, bytes, bytes] | None, proof: bytes = b"") -> str:
    """Say hello as node ``name`` from a fresh connection; the hub's answer (its reason, or "")."""
    import msgpack
    import zmq

    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    if curve is not None:
        socket.curve_serverkey, socket.curve_publickey, socket.curve_secretkey = curve
    socket.connect(endpoint)
    try:
        socket.send_multipart([msgpack.packb({"kind": "hello", "to": name, "id": 1}), proof])
        if not socket.poll(10_000):
            return ""
        return str(msgpack.unpackb(socket.recv_multipart()[1])["reason"])
    finally:
        socket.close(0)


def test_over_tcp_the_key_decides_which_actor_a_peer_is(tmp_path: Path) -> None:
    from supervisor.transport.keys import client_curve, generate_keys

    small = small_desk(tmp_path / "run")
    keys = generate_keys(tmp_path / "keys", nodes=actor_names(small), clients=["ops", "strategy"])
    system = ProcessSystem(small, endpoint=free_tcp_endpoint(), keys=keys)
    system.start()
    try:
        assert system.hub is not None and system.runtime is not None
        pid = next(n.pid for n in system.runtime.nodes if n.name == "gateway")
        for key in ("ops", "prices"):  # a client key, and another node's key, claiming to be the gateway
            reason = _hello(system.endpoint, "gateway", client_curve(keys, key))
            assert "key is not gateway's" in reason, reason
        assert system.hub.counts["impostors"] == 2
        for key in ("ops", "strategy"):  # each client has its own key, and each is a client
            with Client(system.endpoint, keys=keys, key=key, timeout=10.0) as client:
                assert client.ask("gateway", Ping()).actor == "gateway"
        [gateway] = [a for a in ProcessSystem.actor_statuses(system) if a.name == "gateway"]
        assert gateway.pid == pid and gateway.restarts == 0 and gateway.state == "running"
    finally:
        system.stop()


def test_tcp_without_keys_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    from supervisor.transport.keys import generate_keys

    folder = tmp_path / "run"
    with pytest.raises(ValueError, match="needs CurveZMQ keys"):
        ProcessSystem(small_desk(folder), endpoint=free_tcp_endpoint()).start()
    keys = generate_keys(tmp_path / "keys", nodes=["gateway"])  # not every node has its key
    with pytest.raises(ValueError, match="no node key for alerts, tasks, transfers"):
        ProcessSystem(small_desk(folder), endpoint=free_tcp_endpoint(), keys=keys).start()
    assert not folder.exists() or list(folder.iterdir()) == []
    desk = tmp_path / "desk.toml"
    desk.write_text(
        f'[runtime]\nfolder = "{folder}"\n[[accounts]]\nexchange = "kraken"\naccount = "main"\n'
        "balances = { usdc = 100.0 }\n"
    )
    done = subprocess.run(
        [
            PYTHON,
            "-m",
            "desk.cli",
            "--processes",
            "--config",
            str(desk),
            "--endpoint",
            free_tcp_endpoint(),
            "--for",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "needs CurveZMQ keys" in done.stderr
    assert not folder.exists() or list(folder.iterdir()) == []


def test_bin_run_processes_exits_non_zero_with_the_reason_and_cleans_up_when_the_supervisor_gives_up(
    tmp_path: Path,
) -> None:
    import select

    folder = tmp_path / "run"
    desk = tmp_path / "desk.toml"
    desk.write_text(
        textwrap.dedent(f"""
        [runtime]
        folder = "{folder}"
        [supervisor]
        intensity = 0
        [[accounts]]
        exchange = "kraken"
        account = "main"
        balances = {{ usdc = 100.0 }}
        [scheduler]
        jobs = [{{ name = "reconcile", target = "gateway", message = "Reconcile", every = 5.0 }}]
    """)
    )
    supervisor = subprocess.Popen(
        [PYTHON, "-m", "desk.cli", "--processes", "--config", str(desk), "--for", "600"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert supervisor.stdout is not None
        ready, _, _ = select.select([supervisor.stdout], [], [], 60)
        assert ready and supervisor.stdout.readline().startswith("process mode:")
        with Client(runtime_folder=folder, timeout=10.0) as client:
            statuses = client.status().actors
        victim = next(a.pid for a in statuses if a.name == "prices")
        assert victim is not None
        os.kill(victim, signal.SIGKILL)  # intensity 0: the first crash makes the root supervisor give up
        out, err = supervisor.communicate(timeout=90)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(10)
    assert supervisor.returncode == 1
    assert "gave up" in err and "prices" in err
    assert "not audited" in out
    assert not (folder / "system.json").exists() and list(folder.glob("*.sock")) == []
    for pid in [a.pid for a in statuses if a.pid is not None]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_an_external_node_on_the_same_host_proves_itself_with_the_secret_in_the_runtime_folder(tmp_path: Path) -> None:
    far = {
        "name": "far_strategy",
        "class": "actors.demo:DemoStrategy",
        "external": True,
        "params": {"slot": 2, "exchange": "kraken", "account": "main", "currency": "usdc", "amount": 50.0},
    }
    folder = tmp_path / "run"
    small = demo_in(
        folder,
        hedge=None,
        actors=[far],
        gateway={},
        scheduler={"jobs": [{"name": "reconcile", "target": "gateway", "message": "Reconcile", "every": 5.0}]},
    )
    system = ProcessSystem(small)
    system.start()
    try:
        secret = folder / "secrets" / "far_strategy"
        assert (secret.stat().st_mode & 0o777) == 0o600 and (secret.parent.stat().st_mode & 0o777) == 0o700
        assert "not admitted" in _hello(system.endpoint, "far_strategy", None, b"guess")
        node = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "desk.cli",
                "node",
                "--connect",
                system.endpoint,
                "--name",
                "far_strategy",
                "--runtime",
                str(folder),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "node.log", "wb"),
        )  # noqa: SIM115
        assert system.hub is not None and system.hub.wait_connected("far_strategy", node.pid, 30), (
            tmp_path / "node.log"
        ).read_text()
    finally:
        system.stop()
    assert node.wait(30) == 0
    assert not secret.exists()


def test_a_node_whose_actor_cannot_start_fails_the_start_with_the_reason(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    desk = demo_in(
        folder,
        hedge=None,
        actors=[{"name": "broken", "class": "tests.linked:FailsToStart"}],
        supervisor={"strategy": "one_for_one", "intensity": 1, "period": 10.0, "backoff": [0.0, 0.0]},
        gateway={},
        runtime={"folder": str(folder)},
        scheduler={"jobs": [{"name": "reconcile", "target": "gateway", "message": "Reconcile", "every": 5.0}]},
    )
    system = ProcessSystem(desk)
    with pytest.raises(StartError, match="broken exited during start"):  # its hello waits for its actor
        system.start()
    assert not (folder / "system.json").exists()
