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
