"""Task manager benchmark: add_task latency and get_all_tasks snapshot cost at 1k, 10k and 100k pending tasks.

Prints one JSON document with figures in memory and with a journal (SQLite file in a temporary
folder): add p50/p99 of a new key and of a duplicate (a renewal), snapshot p50/max, and for the
journal the time a new manager takes to load the pending tasks; also one `clean_expired_tasks`
scan in which nothing has expired. The pending count stays at the size while adds are measured
(each measured task is removed again, untimed).
Goals (in memory): add p50 < 20 us, snapshot of 100k < 50 ms.

    .venv/bin/python bench/tasks_bench.py [--sizes 1000 10000 100000] [--samples 2000] [--snapshots 20]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from loguru import logger  # noqa: E402

from actors.stores.journal import Journal  # noqa: E402
from actors.tasks import TransferTaskKey, TransferTaskManager  # noqa: E402
from messages.common import Currencies, Exchanges  # noqa: E402


def key(i: int) -> TransferTaskKey:
    return TransferTaskKey(Exchanges.KRAKEN, f"sub{i}", Exchanges.BINANCE, "main", Currencies.USDC)


def add(manager: TransferTaskManager, k: TransferTaskKey) -> bool:
    return manager.add_task(k.from_exchange, k.from_account, k.to_exchange, k.to_account, k.currency, 100.0, None)


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    return {
        "p50_us": round(ordered[len(ordered) // 2] / 1000, 2),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] / 1000, 2),
    }


def timed(action: Callable[[], Any]) -> int:
    start = time.perf_counter_ns()
    action()
    return time.perf_counter_ns() - start


def measure(manager: TransferTaskManager, size: int, samples: int, snapshots: int) -> dict[str, Any]:
    """Add/renew/snapshot figures for a manager already holding ``size`` tasks (keys 0..size-1)."""
    gc.collect()
    new_adds: list[int] = []
    for i in range(samples):
        fresh = key(size + i)
        new_adds.append(timed(lambda fresh=fresh: add(manager, fresh)))  # type: ignore[misc]
        manager.remove_task(fresh)
    renewals = [timed(lambda i=i: add(manager, key(i * 7919 % size))) for i in range(samples)]  # type: ignore[misc]
    assert len(manager) == size
    snapshot_ns = sorted(timed(manager.get_all_tasks) for _ in range(snapshots))
    clean_ns = timed(manager.clean_expired_tasks)  # a full scan in which nothing has expired
    assert len(manager) == size
    return {
        "add_new": percentiles(new_adds),
        "add_duplicate_renews": percentiles(renewals),
        "snapshot_p50_ms": round(snapshot_ns[len(snapshot_ns) // 2] / 1e6, 3),
        "snapshot_max_ms": round(snapshot_ns[-1] / 1e6, 3),
        "clean_nothing_expired_ms": round(clean_ns / 1e6, 3),
    }


def in_memory(size: int, samples: int, snapshots: int) -> dict[str, Any]:
    manager = TransferTaskManager()
    for i in range(size):
        add(manager, key(i))
    return measure(manager, size, samples, snapshots)


def with_journal(size: int, samples: int, snapshots: int, folder: Path) -> dict[str, Any]:
    path = folder / f"journal-{size}.sqlite3"
    with Journal(path) as journal:
        manager = TransferTaskManager(journal=journal)
        start = time.perf_counter()
        for i in range(size):
            add(manager, key(i))
        fill_s = time.perf_counter() - start
        figures = measure(manager, size, samples, snapshots)
        start = time.perf_counter()
        reloaded = TransferTaskManager(journal=journal)
        load_ms = (time.perf_counter() - start) * 1000
        assert len(reloaded) == size
    figures["fill_per_add_us"] = round(fill_s / size * 1e6, 2)
    figures["load_ms"] = round(load_ms, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--samples", type=int, default=2_000, help="adds measured per size and mode")
    parser.add_argument("--snapshots", type=int, default=20, help="snapshots measured per size and mode")
    parser.add_argument("--folder", type=Path, default=None, help="where the journal files go (a temp folder)")
    args = parser.parse_args()
    logger.remove()

    results: dict[str, Any] = {"in_memory": {}, "journal": {}}
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        for size in args.sizes:
            results["in_memory"][str(size)] = in_memory(size, args.samples, args.snapshots)
            results["journal"][str(size)] = with_journal(size, args.samples, args.snapshots, Path(folder))
        journal_folder = str(Path(folder).parent)

    largest = str(max(args.sizes))
    memory = results["in_memory"]
    add_p50 = max(figures["add_new"]["p50_us"] for figures in memory.values())
    snapshot_largest = memory[largest]["snapshot_max_ms"]
    document = {
        "benchmark": "tasks_bench",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "journal_folder": journal_folder,
        "journal_synchronous": "NORMAL (task store)",
        "samples": args.samples,
        "snapshots": args.snapshots,
        **results,
        "goals": {"add_p50_us_in_memory": "< 20", f"snapshot_{largest}_ms_in_memory": "< 50"},
        "worst_in_memory": {"add_p50_us": add_p50, f"snapshot_{largest}_max_ms": snapshot_largest},
        "goals_met": add_p50 < 20 and snapshot_largest < 50,
    }
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
