"""A bounded hub fuzz against a running process-mode system: hostile frames change nothing and break nothing.

Random and mutated frames, deep nesting, odd names, impersonated hellos, forged replies, spoofed
senders and oversize frames (tests/hostile.py). ``bench/hub_fuzz.py`` runs the same at 100,000 frames.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desk.config import actor_names
from desk.processes import ProcessSystem
from supervisor.transport.keys import generate_keys
from tests.hostile import fuzz_hub
from tests.test_processes import free_tcp_endpoint, small_desk

pytestmark = pytest.mark.slow


def test_hostile_frames_leave_the_hub_the_nodes_and_the_books_untouched(tmp_path: Path) -> None:
    with ProcessSystem(small_desk(tmp_path / "run")) as system:
        report = fuzz_hub(system, frames=4_000, seed=9)
    assert report.failures == [], report.as_dict()
    assert report.answers + report.dropped_by_hub == report.expected_answers
    assert report.impersonations_refused > 0 and report.forged_replies_refused > 0 and report.oversize > 0
    assert report.crashes == report.restarts == report.state_changes == 0


def test_over_tcp_hostile_frames_from_admitted_client_keys_change_nothing(tmp_path: Path) -> None:
    desk = small_desk(tmp_path / "run")
    keys = generate_keys(tmp_path / "keys", nodes=actor_names(desk))
    with ProcessSystem(desk, endpoint=free_tcp_endpoint(), keys=keys) as system:
        report = fuzz_hub(system, frames=2_000, seed=11)
    assert report.failures == [], report.as_dict()
    assert report.impersonations_refused > 0 and report.impersonations_succeeded == 0
