"""Hub fuzz at scale: 100,000 hostile frames against a running process-mode desk; prints the counts as JSON.

The same engine as tests/test_hub_fuzz.py (tests/hostile.py): random and mutated frames, deep
nesting, odd names, impersonated hellos, forged replies, spoofed senders, oversize frames.
Goal: ``failures`` empty - 0 crashes, 0 restarts, 0 state changes, 0 impersonations or forged
replies that got through, every frame that the hub promises to answer answered or counted dropped.

    .venv/bin/python bench/hub_fuzz.py [--frames 100000] [--seed 1] [--tcp]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from desk.config import actor_names
from desk.processes import ProcessSystem
from supervisor.logs import configure_logging
from supervisor.transport.keys import generate_keys
from tests.hostile import fuzz_hub
from tests.test_processes import free_tcp_endpoint, small_desk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--tcp", action="store_true", help="a tcp hub with CurveZMQ keys; the fuzzers hold a client key"
    )
    args = parser.parse_args()
    configure_logging("CRITICAL")  # a hostile run logs every refusal; the counts are the output
    with tempfile.TemporaryDirectory() as scratch:
        xdg = Path(scratch) / "xdg"
        xdg.mkdir(mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(xdg)  # keep the board record away from a real desk
        desk = small_desk(Path(scratch) / "run")
        endpoint, keys = None, None
        if args.tcp:
            keys = generate_keys(Path(scratch) / "keys", nodes=actor_names(desk))
            endpoint = free_tcp_endpoint()
        with ProcessSystem(desk, endpoint=endpoint, keys=keys) as system:
            report = fuzz_hub(system, frames=args.frames, seed=args.seed)
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if not report.failures else 1


if __name__ == "__main__":
    sys.exit(main())
