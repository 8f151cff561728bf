"""Child management in process mode: the tree listed and a node restarted through the hub and `bin/run`."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from desk.config import DEMO_CONFIG, parse_config
from desk.processes import ProcessSystem
from messages.supervision import Children, ChildType, ExitReason, RestartChild, TerminateChild, WhichChildren
from messages.system import Ping, Rejected
from supervisor.transport.client import Client

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessSystem]:
    folder = tmp_path_factory.mktemp("desk") / "run"
    xdg = tmp_path_factory.mktemp("xdg")
    xdg.chmod(0o700)
    data = tomllib.loads(DEMO_CONFIG.read_text())
    data["runtime"]["folder"] = str(folder)
    data.update(hedge=None, actors=[], gateway={})
    data["scheduler"] = {"jobs": [{"name": "reconcile", "target": "gateway", "message": "Reconcile", "every": 5.0}]}
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(xdg)
    running = ProcessSystem(parse_config(data, folder))
    running.start()
    try:
        yield running
    finally:
        running.stop()
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous


def test_the_runtime_lists_its_nodes_as_workers_with_their_pids(system: ProcessSystem) -> None:
    with Client(system.endpoint, timeout=10.0) as client:
        answer = client.ask("runtime", WhichChildren())
    assert isinstance(answer, Children)
    assert answer.children and all(c.kind is ChildType.WORKER and c.pid for c in answer.children)
    assert [c.name for c in answer.children][0] == "gateway"


def test_restart_child_replaces_the_node_process_and_says_shutdown(system: ProcessSystem) -> None:
    runtime = system.runtime
    assert runtime is not None
    node = next(n for n in runtime.nodes if n.name == "prices")
    before = node.pid
    with Client(system.endpoint, timeout=10.0) as client:
        client.ask("runtime", RestartChild(name="prices"))  # answered at once; the restart follows
        assert runtime.wait_until(lambda: node.pid != before and node.state == "running", 60)
        assert node.exit_reason is ExitReason.SHUTDOWN
        assert client.ask("prices", Ping()).actor == "prices"
        refused = client.ask("runtime", TerminateChild(name="nobody"))
        assert isinstance(refused, Rejected) and "no child named 'nobody'" in refused.reason


def test_bin_run_children_and_restart_reach_the_running_system(system: ProcessSystem) -> None:
    env = {**os.environ, "TREASURY_RUNTIME": str(system.folder)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "desk.cli", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    children = cli("children")
    assert children.returncode == 0, children.stderr
    assert children.stdout.splitlines()[0] == "children of root:"
    assert any(line.split()[:3] == ["gateway", "worker", "running"] for line in children.stdout.splitlines())
    restart = cli("restart", "scheduler")
    assert restart.returncode == 0, restart.stderr
    assert "restart of scheduler requested" in restart.stdout
    unknown = cli("restart", "nobody")
    assert unknown.returncode == 1 and "no child named 'nobody'" in unknown.stderr
