"""Shared fixtures: a manual clock, a runtime factory that always stops what it started."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from supervisor import ChildSpec, ManualClock, Runtime, Supervisor
from supervisor.logs import configure_logging


@pytest.fixture(autouse=True, scope="session")
def compact_logs() -> None:
    """One line per log event, tagged with the actor, written to whatever stderr pytest captures."""
    configure_logging("DEBUG")


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
