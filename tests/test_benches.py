"""The process benchmark still measures what README's figures come from: a small run, its JSON checked.

Figures are not asserted (speed goals live in `bench/`, never in tests); what is asserted is that
every figure and baseline is there, measured in the same run, and that nothing was lost on the way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_process_bench_prints_every_figure_beside_its_baselines() -> None:
    done = subprocess.run(
        [sys.executable, "bench/process_bench.py", "--round-trips", "300", "--messages", "3000", "--no-board"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout)
    for path in ("actor_to_actor", "raw_zmq", "raw_unix_socket"):
        measured = figures[path]
        assert measured["round_trip"]["p50_us"] > 0 and measured["one_way"]["p50_us"] > 0, path
        assert measured["round_trip"]["p99_us"] >= measured["round_trip"]["p50_us"], path
        assert measured["throughput_per_s"] > 0, path
    assert figures["client_through_hub"]["round_trip"]["p50_us"] > 0
    assert figures["hub_dead_letters"] == 0  # 3,000 tells through the hub: nothing overflowed
    redis = figures["redis_listener"]
    if shutil.which("redis-server"):
        assert redis["available"], redis
        assert redis["round_trip"]["p50_us"] > 0 and redis["one_way"]["p50_us"] > 0
        assert {"actor_round_trip_p50_vs_redis_listener", "actor_one_way_p50_vs_redis_listener"} <= set(
            figures["ratios"]
        )
    else:
        assert not redis["available"] and "not on PATH" in redis["note"]
    assert set(figures["goals"]) <= set(figures["ratios"]) | {"board_read_vs_raw"}
    assert figures["ratios"]["actor_throughput_vs_raw_zmq"] > 0
