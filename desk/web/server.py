"""The dashboard server: uvicorn on a thread of its own, in the process that hosts the runtime.

`Dashboard(deployment, source)` assembles the history, metrics, sampler and FastAPI app;
`start` serves them and writes ``web.json`` in the runtime folder (how `bin/run status` and
`send` find an in-process system); `stop` ends it all.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from loguru import logger

from actors.stores.journal import Journal
from desk.config import LOCAL_HOSTS, Deployment
from desk.history import HistoryStore
from desk.metrics import DeskMetrics
from desk.watch import StatusWatch
from desk.web.app import create_app
from desk.web.sampler import Sampler
from desk.web.snapshot import Snapshots
from desk.web.source import Source

__all__ = ["WEB_RECORD", "Dashboard", "read_web_record"]

WEB_RECORD = "web.json"

log = logger.bind(actor="web")


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def read_web_record(folder: Path) -> dict[str, Any] | None:
    """The dashboard a running system wrote in ``folder`` (None when there is none, or its process is gone)."""
    try:
        record = json.loads((folder / WEB_RECORD).read_text())
        os.kill(int(record["pid"]), 0)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError, PermissionError):
        return None
    return record  # type: ignore[no-any-return]


class Dashboard:
    """The web dashboard and API of one running system (in-process or the supervisor of process mode)."""

    def __init__(
        self, deployment: Deployment, source: Source, now: Callable[[], float] = time.time, port: int | None = None
    ) -> None:
        web = deployment.web
        if web.host not in LOCAL_HOSTS and not web.token:
            raise ValueError(f"the dashboard on {web.host!r} needs web.token (only 127.0.0.1 may go without)")
        self.deployment = deployment
        self.host = web.host
        self.port = web.port if port is None else port
        self.token = web.token
        self.history = HistoryStore(deployment.journal_path, deployment.history)
        self.journal = Journal(deployment.journal_path)
        self.metrics = DeskMetrics()
        self.snapshots = Snapshots(source, deployment)
        watch = StatusWatch(deployment.alerts, source="dashboard") if deployment.alerts.watch else None
        self.sampler = Sampler(
            self.snapshots,
            self.history,
            self.metrics,
            self.journal,
            now,
            web.refresh,
            deployment.scheduler.timezone,
            watch,
        )
        self.app = create_app(self.snapshots, self.sampler, self.history, self.metrics, now, self.token)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self, timeout: float = 30.0) -> str:
        """Serve; returns the URL (another free port when the configured one is taken)."""
        if self.port and not _free(self.host, self.port):
            log.warning("port {} is taken; the dashboard takes a free port instead", self.port)
            self.port = 0
        self.sampler.start()
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="dashboard", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard could not start on {self.host}:{self.port}")
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        record = {"url": self.url, "pid": os.getpid(), "token": self.token is not None}
        (self.deployment.folder / WEB_RECORD).write_text(json.dumps(record))
        log.info("dashboard at {}", self.url)
        return self.url

    def stop(self) -> None:
        """Stop serving and sampling; calling it again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        (self.deployment.folder / WEB_RECORD).unlink(missing_ok=True)
        self.sampler.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10.0)
        self.history.close()
        self.journal.close()

    def __enter__(self) -> Dashboard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
