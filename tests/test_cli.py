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


# ---- bin/run send and keys with hostile input (issue 9): one line on stderr, exit 2 ---------------------

ALLOCATE = '{"strategy": "a", "cmd": "allocate", "currency": "usd", "amount": 100, "index": %s}'


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["gateway", "[" * 100_000], "nested too deeply"),
        (["gateway", '{"type": "Ping", "x": ' + "[" * 5_000 + "]" * 5_000 + "}"], "nested too deeply"),
        (
            ["gateway", '{"type": "Rejected", "reason": "\udcff"}'],
            "not UTF-8",
        ),  # how Python hands over a non-UTF-8 argv
        (["gate\udcffway", '{"type": "Ping"}'], "not an actor name"),
        (["gateway", ALLOCATE % 2**64], "beyond 64 bits"),
        (["gateway", '{"type": "Ping"}', "--timeout", "nan"], "--timeout"),
        (["gateway", '{"type": "Ping"}', "--timeout", "-1"], "--timeout"),
        (["gateway", '{"type": "Ping"}', "--endpoint", "tcp://::::"], "cannot connect"),
        (["gateway", '{"type": "Ping"}', "--endpoint", "nonsense"], "not an endpoint"),
        (
            ["gateway", '{"type": "Ping"}', "--endpoint", "tcp://127.0.0.1:1", "--keys", "/nonexistent"],
            "cannot read the key",
        ),
    ],
    ids=[
        "deep json",
        "deep field",
        "non-utf8 json",
        "non-utf8 actor",
        "index 2**64",
        "timeout nan",
        "timeout -1",
        "bad tcp endpoint",
        "not an endpoint",
        "missing keys",
    ],
)
def test_bin_run_send_refuses_hostile_input_with_one_line_and_exit_2(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if "--endpoint" not in args:
        args = [*args, "--endpoint", f"ipc://{tmp_path / 'nobody.sock'}"]
    if "--timeout" in args:  # argparse refuses it: SystemExit(2)
        with pytest.raises(SystemExit) as exited:
            main(["send", *args])
        assert exited.value.code == 2
    else:
        assert main(["send", *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.strip().count("\n") == 0, err


def test_bin_run_send_with_a_non_utf8_argv_from_the_shell_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "desk.cli",
            "send",
            "gateway",
            b'{"type": "Rejected", "reason": "\xff"}',
            "--endpoint",
            f"ipc://{tmp_path / 'nobody.sock'}",
        ],
        capture_output=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 2 and b"not UTF-8" in done.stderr and done.stderr.strip().count(b"\n") == 0


def test_bin_run_keys_writes_secret_keys_0600_and_a_key_per_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    previous = os.umask(0o022)  # the usual umask, under which zmq.auth wrote secrets world-readable
    folder = tmp_path / "keys"
    try:
        assert main(["keys", str(folder), "--client", "ops", "--client", "strategy"]) == 0
    finally:
        os.umask(previous)
    secrets = sorted(folder.rglob("*.key_secret"))
    assert {p.name for p in secrets} >= {
        "server.key_secret",
        "gateway.key_secret",
        "tasks.key_secret",
        "ops.key_secret",
        "strategy.key_secret",
    }
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in secrets)
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert (folder / "nodes" / "gateway.key").exists() and (folder / "clients" / "ops.key").exists()
    before = (folder / "nodes" / "gateway.key_secret").read_bytes()
    assert main(["keys", str(folder), "--node", "gateway"]) == 0
    assert (folder / "nodes" / "gateway.key_secret").read_bytes() == before  # an existing pair is kept
    assert "secrets 0600" in capsys.readouterr().out
