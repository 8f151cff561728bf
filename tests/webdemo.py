"""The running demo with its dashboard, for the web, API and browser tests (one per test module)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from desk.config import Deployment, load_demo_config
from desk.system import System
from desk.web import Dashboard, InProcessSource


def demo_deployment(folder: Path, **web: Any) -> Deployment:
    """The built-in demo, its runtime in ``folder``, its dashboard on a free port (``web`` overrides)."""
    demo = load_demo_config()
    return msgspec.structs.replace(
        demo,
        runtime=msgspec.structs.replace(demo.runtime, folder=str(folder)),
        web=msgspec.structs.replace(demo.web, **{"port": 0, "refresh": 0.3, **web}),
    )


@contextmanager
def running_demo(folder: Path, **web: Any) -> Iterator[tuple[System, Dashboard]]:
    """The demo running in this process with its dashboard served; both stopped afterwards."""
    deployment = demo_deployment(folder, **web)
    with System(deployment) as system:
        dashboard = Dashboard(deployment, InProcessSource(system))
        dashboard.start()
        try:
            yield system, dashboard
        finally:
            dashboard.stop()
