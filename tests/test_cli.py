"""bin/run's entry point runs the built-in topology for a fixed time and exits 0 with a summary."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from supervisor.cli import main
from supervisor.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """main() reconfigures loguru for a program; put the test defaults back afterwards."""
    yield
    configure_logging("DEBUG")


def test_run_for_a_fixed_time_prints_status_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--for", "0.3", "--every", "0.1", "--log-level", "WARNING"]) == 0
    out = capsys.readouterr().out
    assert "status: heart=running" in out
    # a Pong racing the shutdown may be dead-lettered, so the count is not fixed
    assert re.search(r"summary: ran 0.3s, restarts=0, dead letters=\d+, stopped: stopped by request", out)
