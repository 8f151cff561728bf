"""Shared fixtures: a manual clock, a runtime factory that always stops what it started."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from loguru import logger

from supervisor import ChildSpec, ManualClock, Runtime, Supervisor
from supervisor.logs import FORMAT, configure_logging

_log_lines: list[str] = []
_log_lock = threading.Lock()


def _collect(message: str) -> None:
    with _log_lock:
        _log_lines.append(message)


@pytest.fixture(autouse=True, scope="session")
def compact_logs() -> None:
    """One line per log event, tagged with the actor (the format programs use)."""
    configure_logging("DEBUG")


@pytest.fixture(autouse=True)
def test_logs() -> Iterator[None]:
    """Collect every log line (DEBUG up) and write them to stderr at the test's teardown, where pytest
    captures them (shown for a failing test). A line logged between tests, such as an abandoned
    incarnation's thread finishing after its test, goes to the next test's capture, never to the
    terminal between the progress dots."""
    logger.remove()
    logger.configure(extra={"actor": "-"})
    logger.add(_collect, level="DEBUG", format=FORMAT, colorize=False, backtrace=False, diagnose=False)
    yield
    with _log_lock:
        lines, _log_lines[:] = list(_log_lines), []
    sys.stderr.write("".join(lines))


@pytest.fixture(autouse=True)
def private_board_records(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the user's real balance-board record (and a running system)."""
    folder = tmp_path_factory.mktemp("xdg")
    folder.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    monkeypatch.delenv("TREASURY_RUNTIME", raising=False)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_runtime(clock: ManualClock) -> Iterator[Callable[..., Runtime]]:
    """Build and start a Runtime on the manual clock; every one is stopped after the test."""
    started: list[Runtime] = []

    def make(root: Supervisor | Sequence[ChildSpec], **options: Any) -> Runtime:
        options.setdefault("clock", clock)
        runtime = Runtime(root, **options)
        runtime.start()
        started.append(runtime)
        return runtime

    yield make
    for runtime in started:
        runtime.stop()
