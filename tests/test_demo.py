"""The built-in demo that bin/run starts: a few seconds of it must move money, hedge, and account for every cent."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from desk.cli import main
from supervisor.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    configure_logging("DEBUG")


@pytest.mark.slow
def test_the_demo_moves_money_completes_a_chain_hedges_and_conserves_funds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--for", "9", "--every", "3"]) == 0
    out = capsys.readouterr().out
    status = [line for line in out.splitlines() if "actors" in line and "running" in line]
    assert len(status) >= 2 and all("14/14 running" in line for line in status)  # alerts included
    assert "hedge btc/usd:" in out and "balances: kraken.hedge" in out
    summary = next(line for line in out.splitlines() if line.startswith("summary:"))
    assert int(re.search(r"transfers done (\d+)", summary).group(1)) >= 3  # type: ignore[union-attr]
    assert "chains completed 1/1" in summary
    assert int(re.search(r"hedges done (\d+), failed 0", summary).group(1)) >= 3  # type: ignore[union-attr]
    assert "funds conserved: yes" in summary and "ledgers match venue: yes" in summary
    assert "restarts 0" in summary
