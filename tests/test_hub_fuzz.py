"""A bounded hub fuzz against a running process-mode system: hostile frames change nothing and break nothing.

Random and mutated frames, deep nesting, odd names, impersonated hellos, forged replies, spoofed
senders and oversize frames (tests/hostile.py). ``bench/hub_fuzz.py`` runs the same at 100,000 frames.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desk.processes import ProcessSystem
from tests.hostile import fuzz_hub
from tests.test_processes import small_desk

pytestmark = pytest.mark.slow


def test_hostile_frames_leave_the_hub_the_nodes_and_the_books_untouched(tmp_path: Path) -> None:
    with ProcessSystem(small_desk(tmp_path / "run")) as system:
        report = fuzz_hub(system, frames=4_000, seed=9)
    assert report.failures == [], report.as_dict()
    assert report.answers + report.dropped_by_hub == report.expected_answers
    assert report.impersonations_refused > 0 and report.forged_replies_refused > 0 and report.oversize > 0
    assert report.crashes == report.restarts == report.state_changes == 0
