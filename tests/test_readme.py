"""Every Python block of README.md runs as written, each in a fresh interpreter.

A block that starts with ``# continues the block above`` runs after the block before it, as a
reader pasting both into one REPL would. Blocks that talk to a running system (`Client()`,
`StrategyBalanceManager(...)` finding the board) run while a process-mode demo is up.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from desk.config import DEMO_CONFIG, parse_config
from desk.processes import ProcessSystem

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CONTINUES = "# continues the block above"
NEEDS_SYSTEM = ("Client(", "StrategyBalanceManager(")


def blocks() -> list[tuple[int, str]]:
    """(line number, source) of each python block, with the blocks it continues prepended."""
    found: list[tuple[int, str]] = []
    for match in re.finditer(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M):
        line = README.read_text()[: match.start()].count("\n") + 2
        source = match.group(1)
        if source.startswith(CONTINUES):
            assert found, f"README.md:{line}: the first block cannot continue another"
            source = found[-1][1] + "\n" + source
        found.append((line, source))
    return found


def run(source: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", source],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


STANDALONE = [(line, source) for line, source in blocks() if not any(n in source for n in NEEDS_SYSTEM)]
WITH_SYSTEM = [(line, source) for line, source in blocks() if any(n in source for n in NEEDS_SYSTEM)]


def test_the_readme_has_python_blocks_of_both_kinds() -> None:
    assert len(STANDALONE) >= 4 and len(WITH_SYSTEM) >= 2


@pytest.mark.parametrize(("line", "source"), STANDALONE, ids=[f"README.md:{line}" for line, _ in STANDALONE])
def test_a_readme_block_runs_as_written(line: int, source: str, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    done = run(source, tmp_path, {"XDG_RUNTIME_DIR": str(xdg), "TREASURY_RUNTIME": str(tmp_path / "none")})
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessSystem, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("desk") / "run"
    xdg = tmp_path_factory.mktemp("xdg")
    xdg.chmod(0o700)
    data = tomllib.loads(DEMO_CONFIG.read_text())
    data["runtime"]["folder"] = str(folder)
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(xdg)  # the nodes inherit it: their board record stays private
    system = ProcessSystem(parse_config(data, folder))
    system.start()
    try:
        yield system, {"XDG_RUNTIME_DIR": str(xdg), "TREASURY_RUNTIME": str(folder)}
    finally:
        system.stop()
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous


@pytest.mark.slow
@pytest.mark.parametrize(("line", "source"), WITH_SYSTEM, ids=[f"README.md:{line}" for line, _ in WITH_SYSTEM])
def test_a_readme_block_runs_as_written_against_a_running_system(
    line: int, source: str, running: tuple[ProcessSystem, dict[str, str]], tmp_path: Path
) -> None:
    done = run(source, tmp_path, running[1])
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stderr[-3000:]}"
