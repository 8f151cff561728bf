"""A node process of a deployment: one actor, its services, and its link to the hub.

    python -m desk.node --name gateway --connect ipc:///.../hub.sock [--config FILE] [--runtime DIR] [--keys DIR]

The supervisor process (`desk.processes.ProcessSystem`) starts one per actor; `bin/run node`
starts one by hand (an external actor, possibly on another host).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
from loguru import logger

from desk.config import Deployment, load_config, load_demo_config, load_saved_deployment
from desk.processes import ask_system_info, node_services
from desk.system import ActorFactory
from supervisor.logs import configure_logging, log_to_file
from supervisor.runtime import Runtime
from supervisor.spec import Supervisor
from supervisor.transport.handling import HANDLING_FOLDER, handling_path
from supervisor.transport.keys import client_curve
from supervisor.transport.link import NodeLink, node_secret

__all__ = ["main"]

log = logger.bind(actor="node")


def _load_curve(keys: str | None, name: str) -> tuple[bytes, bytes, bytes] | None:
    if keys is None:
        return None
    return client_curve(keys, name)  # the node's own key: over tcp it is what says which actor this is


def main(argv: Sequence[str] | None = None) -> int:
    """Run one actor of a deployment as a node; exit code 0 on a requested stop."""
    parser = argparse.ArgumentParser(prog="python -m desk.node", description="Run one actor as a node.")
    parser.add_argument("--name", required=True, help="the actor to run (its name in the deployment)")
    parser.add_argument("--connect", required=True, help="the hub's endpoint (ipc://... or tcp://...)")
    parser.add_argument("--config", help="the deployment file (default: the one saved in the runtime folder)")
    parser.add_argument("--runtime", help="the runtime folder (default: the deployment's)")
    parser.add_argument("--keys", help="CurveZMQ keys folder (required for tcp://)")
    parser.add_argument(
        "--direct", action="store_true", help="take direct links from the other nodes (ipc; the supervisor passes it)"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.runtime:  # started by the supervisor: a rotated log of its own; stderr (NAME.out) only for errors
        configure_logging("ERROR")
        log_to_file(Path(args.runtime) / "logs" / f"{args.name}.log", level=args.log_level)
    else:  # started by hand: log to the terminal
        configure_logging(args.log_level)
    saved = load_saved_deployment(Path(args.runtime)) if args.runtime else None
    info = None
    if args.config:
        deployment = load_config(args.config)
    elif saved is not None:
        deployment = saved
    elif args.connect.startswith("tcp://") and not args.runtime:  # joining from another host: the hub says what to run
        info = ask_system_info(args.connect, args.keys)
        deployment = msgspec.json.decode(info.deployment_json, type=Deployment)
    else:
        deployment = load_demo_config()
    services = node_services(deployment, args.name, args.runtime, args.connect, args.keys, info)
    factory = ActorFactory(deployment, services)
    link = NodeLink(
        args.name,
        args.connect,
        [*factory.names, "runtime"],
        curve=_load_curve(args.keys, args.name),
        secret=node_secret(args.name, args.runtime),
        orphan_timeout=max(deployment.runtime.hang_timeout, 5 * deployment.runtime.heartbeat_interval),
        handling=handling_path(Path(args.runtime) / HANDLING_FOLDER, args.name, os.getpid()) if args.runtime else None,
        direct=args.direct,
    )
    s = deployment.supervisor
    runtime = Runtime(
        Supervisor(
            [factory.child_spec(args.name)],
            strategy="one_for_one",
            intensity=s.intensity,
            period=s.period,
            backoff=s.backoff,
        ),
        clock=services.clock,
        heartbeat_interval=deployment.runtime.heartbeat_interval,
        hang_timeout=deployment.runtime.hang_timeout,
        remote=link,
    )
    link.runtime = runtime
    signal.signal(signal.SIGTERM, lambda *_: link.request_stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: link.request_stop("SIGINT"))
    try:
        runtime.start()
        link.run()
    finally:
        runtime.stop()  # "stopped by request" unless the runtime already stopped by itself
        link.close()
        services.close()
    failed = runtime.stop_reason != "stopped by request" or link.stop_reason == "the hub went silent"
    if failed:
        log.error("node {} stops: {}", args.name, runtime.stop_reason)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
