"""What the operator reads in the logs: files that rotate, and peers named readably by the hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from supervisor.logs import configure_logging, log_to_file
from supervisor.transport.hub import readable


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    configure_logging("DEBUG")


def test_the_log_file_rotates_and_keeps_only_the_last_files(tmp_path: Path) -> None:
    configure_logging("WARNING")
    log_to_file(tmp_path / "logs" / "desk.log", rotation="2 KB", retention=2)
    for n in range(200):
        logger.bind(actor="test").info("line {} {}", n, "x" * 40)
    configure_logging("WARNING")  # closes the file sink (and runs its retention)
    files = sorted((tmp_path / "logs").iterdir())
    assert (tmp_path / "logs" / "desk.log") in files
    assert 2 <= len(files) <= 3  # the current file and at most two rotated ones
    assert all(f.stat().st_size < 4096 for f in files)


def test_the_hub_names_nodes_as_they_are_and_anonymous_clients_in_hex() -> None:
    assert readable("gateway") == "gateway"
    assert readable("\x00k\x8bEg") == "client-006b8b4567"
