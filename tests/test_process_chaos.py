"""Chaos in process mode: kill -9 random nodes of the running demo under load, then the exit audit must pass.

Real processes, real sockets, real time: the demo's strategies, treasurer and hedge loop keep trading
while a seeded sequence of nodes is killed; then the world is stopped and audited as `bin/run
--processes` does on exit (funds conserved, every ledger equals the venue, no transfer paid twice).
"""

from __future__ import annotations

import os
import random
import signal
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.stores.journal import Journal
from desk.config import DEMO_CONFIG, Deployment, parse_config
from desk.processes import ProcessSystem
from desk.status import ledger_mismatches, unsettled_accounts
from messages.balances import GetBalances
from messages.common import Currencies, Exchanges
from messages.tasks import AddTransferTask
from supervisor.transport.client import Client

pytestmark = pytest.mark.slow

KILLS = 8
SEED = 2026


def _demo(folder: Path) -> Deployment:
    data: dict[str, Any] = tomllib.loads(DEMO_CONFIG.read_text())
    data["runtime"]["folder"] = str(folder)
    data["supervisor"]["intensity"] = 50  # nodes are killed on purpose
    return parse_config(data, folder)


@pytest.fixture
def private_xdg(tmp_path: Path) -> Iterator[None]:
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(xdg)  # the nodes inherit it: their board record stays private
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous


def test_killing_random_nodes_under_load_keeps_every_cent_and_pays_nothing_twice(
    tmp_path: Path, private_xdg: None
) -> None:
    rng = random.Random(SEED)
    system = ProcessSystem(_demo(tmp_path / "run"))
    system.start()
    runtime = system.runtime
    assert runtime is not None
    killed: Counter[str] = Counter()
    try:
        with Client(system.endpoint, timeout=10.0) as client:
            for _ in range(KILLS):
                # load: a sweep the treasurer does not make, then a kill of a random node mid-traffic
                client.tell(
                    "tasks",
                    AddTransferTask(
                        from_exchange=Exchanges.KRAKEN,
                        from_account="main",
                        to_exchange=Exchanges.KRAKEN,
                        to_account="trade",
                        currency=Currencies.USDC,
                        amount=float(rng.choice([10, 50, 100])),
                    ),
                )
                time.sleep(rng.uniform(0.5, 2.5))  # real time: the demo trades meanwhile
                node = rng.choice(runtime.nodes)
                before, pid = node.restarts, node.pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                killed[node.name] += 1
                assert runtime.wait_until(lambda: node.restarts > before and node.state == "running", 60), node.name  # noqa: B023
            time.sleep(3.0)  # the restarted nodes catch up
            system.venue.close()  # the market stops: no more fills
            runtime.stop_nodes(set(system.names) - {"gateway"})  # their last fills and adjusts drain into it
            views = client.ask("gateway", GetBalances()).views
        debits = Counter(m.client_id for m in system.venue.audit() if m.kind == "debit")
        assert debits and max(debits.values()) == 1, "a transfer was paid twice"
        errors = system.venue.conservation_error()
        assert all(abs(e) < 0.005 for e in errors.values()), f"funds not conserved: {errors}"
        with Journal(system.deployment.journal_path) as journal:
            moving = unsettled_accounts(journal.intents.open_intents())
            done = {i.client_id for i in journal.intents.with_status("done")}
        assert done <= set(debits), "the desk counts as done a transfer the venue never paid"
        mismatches = ledger_mismatches(views, system.venue.all_balances(), moving)
        assert mismatches == [], f"after killing {dict(killed)}: {mismatches}"
    finally:
        system.stop()
