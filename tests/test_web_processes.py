"""The dashboard in process mode: served by the supervisor process, reading the nodes through the hub."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from desk.processes import ProcessSystem
from desk.web import Dashboard, ProcessSource
from supervisor.transport.client import Client
from tests.webdemo import demo_deployment


@pytest.mark.slow
def test_the_supervisor_process_serves_the_dashboard_of_its_nodes_and_takes_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))  # the nodes inherit it: their board record stays private
    deployment = demo_deployment(tmp_path / "run")
    with ProcessSystem(deployment) as system, Client(system.endpoint, timeout=10.0) as client:
        dashboard = Dashboard(deployment, ProcessSource(system, client))
        dashboard.start()
        try:
            api = httpx.Client(base_url=dashboard.url, timeout=20.0)
            status = api.get("/api/status").json()
            pids = {a["name"]: a["pid"] for a in status["actors"]}
            assert pids["gateway"] and pids["gateway"] != os.getpid() and "alerts" in pids
            deadline = time.monotonic() + 60
            while not api.get("/api/status").json()["slots"] and time.monotonic() < deadline:
                time.sleep(0.2)
            allocate = {"exchange": "kraken", "account": "trade", "currency": "usd", "index": 4, "amount": 3.0}
            answer = api.post("/api/actions/allocate", json={"confirm": True, "params": allocate}).json()
            assert answer["answer"]["slots"][4] == 3.0
            assert api.get("/api/audit").json()[0]["action"] == "allocate"
            assert "treasury_actor_mailbox_depth" in api.get("/metrics").text
        finally:
            dashboard.stop()
