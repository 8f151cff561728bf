"""bin/run's entry point: runs a deployment for a fixed time, prints status and an honest summary."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from desk.cli import main
from supervisor.logs import configure_logging

SMALL_DESK = """
[runtime]
folder = "run"

[venue]
seed = 5

[[accounts]]
exchange = "kraken"
account = "trade"
balances = { usdc = 10000.0 }

[[accounts]]
exchange = "kraken"
account = "main"
balances = { usdc = 1000.0 }

[scheduler]
jobs = [
  { name = "run_transfers", target = "transfers", message = "RunTransfers", every = 0.2 },
  { name = "treasurer", target = "treasurer", message = "DemoTick", every = 0.3 },
  { name = "reconcile", target = "gateway", message = "Reconcile", every = 0.5 },
]

[[actors]]
name = "treasurer"
class = "actors.demo:DemoTreasurer"
params = { sweep = [["kraken", "trade"], ["kraken", "main"]], amount = 100.0, currency = "usdc", chain = [], chain_amount = 0.0 }
"""


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """main() reconfigures loguru for a program; put the test defaults back afterwards."""
    yield
    configure_logging("DEBUG")


def test_a_deployment_runs_for_a_fixed_time_and_summarises_honestly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    desk = tmp_path / "desk.toml"
    desk.write_text(SMALL_DESK)
    assert main(["--config", str(desk), "--for", "1.5", "--every", "0.5"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\[\s+0\.\ds\] actors \d+/\d+ running", out)
    assert "kraken.trade usdc" in out
    summary = next(line for line in out.splitlines() if line.startswith("summary:"))
    done = int(re.search(r"transfers done (\d+)", summary).group(1))  # type: ignore[union-attr]
    assert done >= 1
    assert "funds conserved: yes" in summary and "ledgers match venue: yes" in summary
    assert (tmp_path / "run" / "journal.sqlite").exists()


def test_a_bad_config_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    desk = tmp_path / "desk.toml"
    desk.write_text(SMALL_DESK.replace("seed = 5", "seed = 5\nsead = 6"))
    assert main(["--config", str(desk), "--for", "1"]) == 2
    assert "config error at venue.sead: unknown key" in capsys.readouterr().err
