"""Runtime overhead benchmark: raw pykka vs the supervisor's named addressing, same run, same message.

Prints one JSON document: tell throughput (messages/s) and ask latency p50/p99 (microseconds)
for a raw ``pykka.ThreadingActor`` and for an `actors.base.Actor` reached by name through
`supervisor.Runtime`, with the ratios. Goals: tell >= 0.8x raw, ask p50 <= 1.25x raw.

    .venv/bin/python bench/runtime_bench.py [--tells 200000] [--asks 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import pykka  # noqa: E402
from loguru import logger  # noqa: E402

from actors.base import Actor  # noqa: E402
from messages.base import Message  # noqa: E402
from supervisor import ChildSpec, Runtime, Supervisor  # noqa: E402


class Tick(Message, frozen=True):
    n: int


class Done(Message, frozen=True):
    """Ask-only: answered when every earlier tell has been handled."""


class RawCounter(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_receive(self, message: object) -> object:
        if type(message) is Tick:
            self.count += 1
            return None
        return self.count


class NamedCounter(Actor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_tick(self, message: Tick) -> None:
        self.count += 1

    def on_done(self, message: Done) -> int:
        return self.count


def measure_tells(tell: object, ask_done: object, n: int) -> float:
    message = Tick(1)
    start = time.perf_counter()
    for _ in range(n):
        tell(message)  # type: ignore[operator]
    ask_done()  # type: ignore[operator]
    return n / (time.perf_counter() - start)


def measure_asks(ask: object, n: int) -> tuple[float, float]:
    message = Tick(0)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        ask(message)  # type: ignore[operator]
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tells", type=int, default=200_000)
    parser.add_argument("--asks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is kept")
    args = parser.parse_args()
    logger.remove()

    raw_ref = RawCounter.start()
    runtime = Runtime(Supervisor([ChildSpec("counter", NamedCounter)]), hang_timeout=300.0)
    runtime.start()
    raw_tell, rt_tell = [], []
    raw_p50, raw_p99, rt_p50, rt_p99 = [], [], [], []
    try:
        for _ in range(args.rounds):  # alternate so both see the same machine conditions
            raw_tell.append(measure_tells(raw_ref.tell, lambda: raw_ref.ask(Done()), args.tells))
            rt_tell.append(
                measure_tells(lambda m: runtime.tell("counter", m), lambda: runtime.ask("counter", Done()), args.tells)
            )
            p50, p99 = measure_asks(lambda m: raw_ref.ask(m), args.asks)
            raw_p50.append(p50)
            raw_p99.append(p99)
            p50, p99 = measure_asks(lambda m: runtime.ask("counter", m), args.asks)
            rt_p50.append(p50)
            rt_p99.append(p99)
    finally:
        raw_ref.stop()
        runtime.stop()

    raw_tps, rt_tps = max(raw_tell), max(rt_tell)
    figures = {
        "benchmark": "runtime_bench",
        "python": platform.python_version(),
        "pykka": importlib.metadata.version("pykka"),
        "tells_per_round": args.tells,
        "asks_per_round": args.asks,
        "rounds": args.rounds,
        "raw_pykka": {
            "tell_per_s": round(raw_tps),
            "ask_p50_us": round(min(raw_p50), 1),
            "ask_p99_us": round(min(raw_p99), 1),
        },
        "runtime_named": {
            "tell_per_s": round(rt_tps),
            "ask_p50_us": round(min(rt_p50), 1),
            "ask_p99_us": round(min(rt_p99), 1),
        },
        "ratios": {
            "tell_throughput_vs_raw": round(rt_tps / raw_tps, 3),
            "ask_p50_vs_raw": round(min(rt_p50) / min(raw_p50), 3),
            "ask_p99_vs_raw": round(min(rt_p99) / min(raw_p99), 3),
        },
        "goals": {"tell_throughput_vs_raw": ">= 0.8", "ask_p50_vs_raw": "<= 1.25"},
        "all_rounds": {
            "raw_tell_per_s": [round(x) for x in raw_tell],
            "runtime_tell_per_s": [round(x) for x in rt_tell],
            "raw_ask_p50_us": [round(x, 1) for x in raw_p50],
            "runtime_ask_p50_us": [round(x, 1) for x in rt_p50],
        },
    }
    figures["goals_met"] = (
        figures["ratios"]["tell_throughput_vs_raw"] >= 0.8 and figures["ratios"]["ask_p50_vs_raw"] <= 1.25
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
