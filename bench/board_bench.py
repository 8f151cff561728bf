"""Balance board read benchmark: reads from another process while the writer publishes, API vs raw seqlock.

Prints one JSON document. The writer (this process) publishes one row continuously - at full
speed, then paced at each of ``--rates`` publishes/s - while a reader process, in the same run and
interleaved round by round, times single reads three ways: a raw seqlock read of the same
memory (struct unpacks, no API), `SharedMemoryBoard.read`, and
`StrategyBalanceManager.get_balance` (found with no arguments but ``$TREASURY_RUNTIME``).
Figures are p50/p99 in ns per read, timer included (``timer_ns`` is the timer alone); the
ratios are board / raw. Goal: board read <= 3x raw.

    .venv/bin/python bench/board_bench.py [--reads 20000] [--rounds 10] [--rates 100000 1000]
"""

from __future__ import annotations

import argparse
import gc
import json
import mmap
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import _posixshmem  # noqa: E402

from loguru import logger  # noqa: E402

from actors.stores.board import StrategyBalanceManager  # noqa: E402
from actors.stores.shm_board import HEADER_SIZE, SharedMemoryBoard  # noqa: E402
from messages.balances import BalanceView  # noqa: E402
from messages.common import Currencies, Exchanges  # noqa: E402

SLOTS = 8
EXCHANGE, ACCOUNT, CURRENCY = Exchanges.KRAKEN, "main", Currencies.USDC


def view(n: int) -> BalanceView:
    """Row number ``n``: slot 0 is always the sum of the others, so a torn read would show."""
    subs = [float(n % 1000 + k) for k in range(SLOTS - 1)]
    return BalanceView(
        exchange=EXCHANGE,
        account=ACCOUNT,
        currency=CURRENCY,
        slots=(sum(subs), *subs),
        credit_limit=0.0,
        updated_at=float(n),
    )


# ---- the reader process ---------------------------------------------------------------------------


def raw_reader(segment: str) -> Callable[[], tuple[float, ...]]:
    """A minimal seqlock read of row 0: sequence, slot count / credit / updated_at, slots, sequence again."""
    import struct

    fd = _posixshmem.shm_open("/" + segment, os.O_RDONLY, mode=0o600)
    memory = mmap.mmap(fd, os.fstat(fd).st_size, access=mmap.ACCESS_READ)
    os.close(fd)
    seq = struct.Struct("<Q").unpack_from
    meta = struct.Struct("<I4xdd").unpack_from
    slots = struct.Struct(f"<{SLOTS}d").unpack_from
    row = HEADER_SIZE

    def read() -> tuple[float, ...]:
        while True:
            before = seq(memory, row)[0]
            if before & 1:
                continue
            meta(memory, row + 184)
            values = slots(memory, row + 208)
            if seq(memory, row)[0] == before:
                return values

    return read


def timed(read: Callable[[], Any], n: int) -> list[int]:
    """``n`` reads, each timed alone. Results are dropped at once and the garbage collector is off: keeping
    them would fault in fresh memory, and collecting would pause, only for the reads that allocate."""
    samples = [0] * n
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for i in range(n):
            start = clock()
            read()
            samples[i] = clock() - start
    finally:
        gc.enable()
    return samples


def checked(board: SharedMemoryBoard, n: int) -> tuple[int, int]:
    """Untimed: of ``n`` reads, how many found a new row, and how many were torn (slot 0 != the sum of the rest)."""
    changed = torn = 0
    previous = None
    for _ in range(n):
        view = board.read(EXCHANGE, ACCOUNT, CURRENCY)
        assert view is not None
        changed += view is not previous
        torn += view.slots[0] != sum(view.slots[1:])
        previous = view
    return changed, torn


def percentiles(samples: list[int]) -> dict[str, float]:
    samples = sorted(samples)
    return {"p50": samples[len(samples) // 2], "p99": samples[int(len(samples) * 0.99)]}


def run_reader(segment: str, reads: int, rounds: int) -> dict[str, Any]:
    raw = raw_reader(segment)
    manager = StrategyBalanceManager(EXCHANGE, strategy_count=SLOTS)  # found through $TREASURY_RUNTIME
    board = manager.board
    assert isinstance(board, SharedMemoryBoard) and board.name == segment, board
    methods: dict[str, Callable[[], Any]] = {
        "raw_seqlock": raw,
        "board_read": lambda: board.read(EXCHANGE, ACCOUNT, CURRENCY),
        "manager_get_balance": lambda: manager.get_balance(CURRENCY, 2),
    }
    samples: dict[str, list[int]] = {name: [] for name in methods}
    changed = torn = 0
    timer = timed(lambda: None, reads)
    for _ in range(rounds):
        for name, read in methods.items():
            samples[name] += timed(read, reads)
        changed, torn = (a + b for a, b in zip((changed, torn), checked(board, reads), strict=True))
    figures = {name: percentiles(taken) for name, taken in samples.items()}
    raw_p50, raw_p99 = figures["raw_seqlock"]["p50"], figures["raw_seqlock"]["p99"]
    return {
        "timer_ns": percentiles(timer)["p50"],
        "read_ns": figures,
        "ratio_board_read": {
            "p50": round(figures["board_read"]["p50"] / raw_p50, 2),
            "p99": round(figures["board_read"]["p99"] / raw_p99, 2),
        },
        "ratio_manager_get_balance": {
            "p50": round(figures["manager_get_balance"]["p50"] / raw_p50, 2),
            "p99": round(figures["manager_get_balance"]["p99"] / raw_p99, 2),
        },
        "board_reads_that_found_a_new_row_fraction": round(changed / (rounds * reads), 4),  # untimed pass
        "board_read_retries": board.read_retries,
        "torn_reads": torn,
    }


# ---- the writer (this process) ------------------------------------------------------------------


def run_scenario(board: SharedMemoryBoard, runtime: str, rate: float, reads: int, rounds: int) -> dict[str, Any]:
    """Publish (at ``rate`` per second, 0: as fast as possible) until the reader process has its figures."""
    reader = subprocess.Popen(
        [sys.executable, __file__, "--reader", board.name, "--reads", str(reads), "--rounds", str(rounds)],
        stdout=subprocess.PIPE,
        env={**os.environ, "TREASURY_RUNTIME": runtime},
    )
    views = [view(n) for n in range(1000)]
    published = 0
    interval = 1 / rate if rate else 0.0
    start = next_at = time.perf_counter()
    while reader.poll() is None:
        for _ in range(100):
            board.publish(views[published % 1000])
            published += 1
            if interval:
                next_at += interval
                while time.perf_counter() < next_at:
                    pass
    elapsed = time.perf_counter() - start
    out, _ = reader.communicate()
    if reader.returncode:
        raise SystemExit(f"the reader process failed with exit code {reader.returncode}")
    return {"writer_publishes_per_s": round(published / elapsed), **json.loads(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=20_000, help="reads per method per round")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--rates", type=float, nargs="*", default=[100_000.0, 1000.0], help="publishes/s of the paced scenarios"
    )
    parser.add_argument("--reader", metavar="SEGMENT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logger.remove()
    if args.reader:
        print(json.dumps(run_reader(args.reader, args.reads, args.rounds)))
        return
    with tempfile.TemporaryDirectory() as runtime:
        os.environ["XDG_RUNTIME_DIR"] = runtime  # the well-known record of a real system stays untouched
        with SharedMemoryBoard.create(runtime_folder=runtime) as board:
            board.set_default_account(EXCHANGE, ACCOUNT)
            board.publish(view(0))
            scenarios = {
                "writer_full_speed" if not rate else f"writer_{rate:g}_per_s": run_scenario(
                    board, runtime, rate, args.reads, args.rounds
                )
                for rate in [0.0, *args.rates]
            }
    print(
        json.dumps(
            {
                "benchmark": "board_read_from_another_process",
                "python": platform.python_version(),
                "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
                "slots_per_row": SLOTS,
                "reads_per_method": args.reads * args.rounds,
                "goal": "board read p50 <= 3x raw seqlock read",
                "scenarios": scenarios,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
