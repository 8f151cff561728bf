"""The `bin/run` command line: run the built-in topology (or a deployment) and print live status."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from actors.base import Actor
from messages.base import Message
from messages.system import Ping, Pong
from supervisor.logs import configure_logging
from supervisor.runtime import Runtime
from supervisor.spec import ChildSpec, Supervisor

__all__ = ["main"]


class Beat(Message, frozen=True):
    """Tick for the built-in topology's heartbeat actor."""


class Heart(Actor):
    """Pings its peer on every beat and counts the answers (the built-in topology)."""

    def __init__(self, peer: str) -> None:
        super().__init__()
        self.peer = peer
        self.beats = 0

    def on_beat(self, message: Beat) -> None:
        self.beats += 1
        self.tell(self.peer, Ping(nonce=self.beats))

    def on_pong(self, message: Pong) -> None:
        self.log.debug("pong {} from {}", message.nonce, message.actor)


def builtin_topology() -> Supervisor:
    return Supervisor([ChildSpec("heart", lambda: Heart("echo")), ChildSpec("echo", lambda: Heart("heart"))])


def print_status(runtime: Runtime) -> None:
    rows = [f"{s.name}={s.state}(restarts={s.restarts}, mailbox={s.mailbox})" for s in runtime.status()]
    print("status: " + "  ".join(rows), flush=True)


def run(runtime: Runtime, seconds: float | None, every: float) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    elapsed = 0.0
    while not stop.is_set() and not runtime.stopped:
        step = every if seconds is None else min(every, max(0.0, seconds - elapsed))
        if stop.wait(step):
            break
        elapsed += step
        runtime.tell("heart", Beat())
        print_status(runtime)
        if seconds is not None and elapsed >= seconds:
            break
    failed = runtime.stopped and runtime.stop_reason != "stopped by request"
    runtime.stop()
    restarts = sum(s.restarts for s in runtime.status())
    print(f"summary: ran {elapsed:.1f}s, restarts={restarts}, dead letters={runtime.dead_letter_count}, "
          f"stopped: {runtime.stop_reason}", flush=True)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/run", description="Run treasury-actors.")
    parser.add_argument("--for", dest="seconds", type=float, default=None, help="stop after SECONDS (default: Ctrl-C)")
    parser.add_argument("--every", type=float, default=2.0, help="print status every SECONDS (default 2)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    return run(Runtime(builtin_topology()), args.seconds, args.every)


if __name__ == "__main__":
    sys.exit(main())
