"""`bin/run simulate`: run the whole-desk simulation for one seed (a replay) or many (a soak) and print a summary.

bin/run simulate --seed 7                  one seed; on a violation, what the seed did before it
bin/run simulate --seeds 1000 [--first 0]  a soak: every violation with its replay command, then a summary
bin/run simulate --world pkg.mod:Name ...  the same against another world of exchanges (real adapters and fakes)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence

import msgspec

from desk.simulation.harness import SimResult, Simulation
from desk.simulation.venues import load_world
from desk.simulation.world import FaultClass, SimOptions
from supervisor.logs import configure_logging

__all__ = ["main"]


def _fault_classes(text: str) -> frozenset[FaultClass]:
    if text == "none":
        return frozenset()
    try:
        return frozenset(FaultClass(name.strip()) for name in text.split(",") if name.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown fault class in {text!r}; choose from {', '.join(f.value for f in FaultClass)} (or none)"
        ) from None


def _parser() -> argparse.ArgumentParser:
    default = SimOptions()
    parser = argparse.ArgumentParser(prog="bin/run simulate", description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--seed", type=int, help="run this one seed (replays a reported violation exactly)")
    which.add_argument("--seeds", type=int, default=20, help="how many seeds to run (default 20)")
    parser.add_argument("--first", type=int, default=0, help="the first seed of --seeds (default 0)")
    parser.add_argument(
        "--steps", type=int, default=default.steps, help=f"steps of load per seed (default {default.steps})"
    )
    parser.add_argument(
        "--disable",
        type=_fault_classes,
        default=default.disabled,
        help="comma-separated fault classes to switch off, or 'none' for every class "
        f"(default: {','.join(sorted(default.disabled)) or 'none'}, the known bugs being fixed)",
    )
    alerts = parser.add_mutually_exclusive_group()
    alerts.add_argument(
        "--hedge-alerts",
        dest="hedge_alerts",
        action="store_true",
        default=default.hedge_alerts,
        help="a paused A must have alerted the residual",
    )
    alerts.add_argument("--no-hedge-alerts", dest="hedge_alerts", action="store_false", help="a pause is enough")
    parser.add_argument(
        "--exposure-alert-after",
        type=float,
        default=default.exposure_alert_after,
        help=f"seconds of unhedged exposure allowed without an alert (default {default.exposure_alert_after})",
    )
    parser.add_argument(
        "--world",
        default="",
        help="import path of the exchanges to run against (default: the simulated venue), "
        "e.g. tests.fakes.world:FakeExchanges for the real adapters against local fakes",
    )
    parser.add_argument("--story", type=int, default=40, help="with --seed: lines of the seed's story shown on failure")
    parser.add_argument("--log-level", default="CRITICAL", help="actor logs on stderr (default CRITICAL)")
    return parser


def _failure(result: SimResult) -> str:
    return (
        f"seed {result.seed}: VIOLATION at {result.step} (t={result.sim_seconds}s): {result.violation}\n"
        f"  replay: {result.replay}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    configure_logging(args.log_level)
    try:
        options = SimOptions(
            steps=args.steps,
            disabled=args.disable,
            hedge_alerts=args.hedge_alerts,
            exposure_alert_after=args.exposure_alert_after,
        )
        world = load_world(args.world)  # a bad path fails here, before any seed runs
        world.close()
    except (msgspec.ValidationError, TypeError, ValueError) as error:  # ConfigError is a ValueError
        parser.error(str(error))
    if args.seed is not None:
        simulation = Simulation(args.seed, options, verbose=True, world=load_world(args.world))
        result = simulation.run()
        if not result.ok:
            print("\n".join(simulation.story[-args.story :]))
            print(_failure(result))
            return 1
        print(
            f"seed {result.seed}: ok ({result.turns} messages, {result.sim_seconds}s simulated, "
            f"{result.seconds}s) digest {result.digest}; faults {result.faults}; crashes {result.crashes}"
        )
        return 0
    started = time.monotonic()
    failures: list[SimResult] = []
    faults: Counter[str] = Counter()
    crashes = turns = 0
    for seed in range(args.first, args.first + args.seeds):
        result = Simulation(seed, options, world=load_world(args.world)).run()
        faults.update(result.faults)
        crashes += sum(result.crashes.values())
        turns += result.turns
        if not result.ok:
            failures.append(result)
            print(_failure(result), flush=True)
    elapsed = time.monotonic() - started
    print(
        f"simulated {args.seeds} seeds ({args.first}..{args.first + args.seeds - 1}) in {elapsed:.1f}s "
        f"({elapsed / max(1, args.seeds):.2f}s a seed): {len(failures)} with a violation; {turns} messages, "
        f"{crashes} crashes, faults fired {dict(sorted(faults.items()))}; switched off: "
        f"{','.join(sorted(options.disabled | world.unsupported)) or 'none'}"
        f"{'' if options.hedge_alerts else ', hedge alerts'}" + (f"; world {args.world}" if args.world else "")
    )
    return 1 if failures else 0
