"""The `bin/run` command line: run the system, look at it, send it commands.

bin/run [--config FILE] [--for SECONDS]          the built-in demo (or FILE), in-process
bin/run --processes [--config FILE]              the same, one OS process per actor
bin/run status [--json]                          the running system (either mode)
bin/run send ACTOR 'JSON'                        send a command, print the answer
bin/run node --connect ENDPOINT --name NAME      join a running system as one node
bin/run keys DIR [--config FILE]                 make CurveZMQ keys for tcp:// endpoints (secrets 0600)
bin/run simulate [--seeds N | --seed S]          the whole-desk deterministic simulation
bin/run children [--supervisor NAME]             the supervision tree's children (process mode)
bin/run restart NAME                             restart one child (process mode)
bin/run check-venue --config FILE                read-only check of the real venues (desk.check_venue)

(About 480 lines, over the usual 400: argparse for every command, each command a short function;
the operator's tree commands live in `desk.operator`.)
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import msgspec

from actors.stores.journal import Journal
from desk.check_venue import main as check_venue_main
from desk.config import ConfigError, Deployment, actor_names, load_config, load_demo_config
from desk.node import main as node_main
from desk.operator import command_children, command_restart
from desk.processes import ProcessSystem
from desk.simulation.cli import main as simulate
from desk.status import collect_status, ledger_mismatches, status_lines, summary_line, unsettled_accounts
from desk.system import System
from desk.terminal import StatusView
from desk.web import Dashboard, InProcessSource, ProcessSource
from desk.web.client import WebClient, WebClientError, find_dashboard
from messages.balances import GetBalances
from messages.base import Message
from messages.codec import DecodeError
from messages.commands import parse_command
from messages.system import Rejected
from supervisor.errors import StartError
from supervisor.logs import configure_logging, log_to_file
from supervisor.transport.client import Client, ClientError, ClientUsageError, find_hub
from supervisor.transport.keys import KeysError, generate_keys

__all__ = ["main"]

COMMANDS = ("status", "send", "node", "keys", "children", "restart")


def _stop_event() -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def _loop(
    stop: threading.Event,
    seconds: float | None,
    every: float,
    stopped: Callable[[], bool],
    status: Callable[[], dict[str, Any]],
) -> float:
    """Show status every ``every`` seconds until Ctrl-C, ``seconds``, or the system stops; returns elapsed."""

    view = StatusView()
    try:
        return _show_until(stop, seconds, every, stopped, status, view.show)
    finally:
        view.close()


def _show_until(
    stop: threading.Event,
    seconds: float | None,
    every: float,
    stopped: Callable[[], bool],
    status: Callable[[], dict[str, Any]],
    show: Callable[[dict[str, Any], float], None],
) -> float:
    started = time.monotonic()
    deadline = None if seconds is None else started + seconds
    while not stop.is_set() and not stopped():
        wait = every if deadline is None else min(every, deadline - time.monotonic())
        if wait > 0 and stop.wait(wait):
            break
        show(status(), time.monotonic() - started)
        if deadline is not None and time.monotonic() >= deadline:
            break
    return time.monotonic() - started


def _wipe_journal(deployment: Deployment) -> None:
    for suffix in ("", "-wal", "-shm"):
        deployment.journal_path.with_name(deployment.journal_path.name + suffix).unlink(missing_ok=True)


def audit_after_stop(
    status: dict[str, Any],
    stop_market: Callable[[], None],
    stop_actors: Callable[[], object],
    views: Callable[[], list[Any]],
    venue: Any,
    journal_path: Path,
    elapsed: float,
) -> tuple[str, bool]:
    """Stop the world, then audit: the market stops (no more fills), the actors drain their mail and
    stop (the gateway, first started, stops last), then every ledger is compared with the venue."""

    stop_market()
    stop_actors()
    if not hasattr(venue, "conservation_error"):  # real venues: there is no simulated world to audit
        return f"stopped after {elapsed:.1f} s (real venues: no simulated audit)", True
    with Journal(journal_path) as journal:
        moving = unsettled_accounts(journal.intents.open_intents())
    mismatches = ledger_mismatches(views(), venue.all_balances(), moving)
    return summary_line(status, venue.conservation_error(), mismatches, elapsed)


def run_in_process(deployment: Deployment, seconds: float | None, every: float) -> int:
    """Run ``deployment`` in this process, printing status; 0 if all went well."""

    stop = _stop_event()
    log_to_file(deployment.folder / "logs" / "desk.log")
    try:
        system = System(deployment)
    except ConfigError as error:  # a live venue refused the start (desk.check_venue.StartRefused)
        print(f"bin/run: {error}", file=sys.stderr)
        return 2
    system.start()
    dashboard = _start_dashboard(deployment, lambda: InProcessSource(system))
    try:
        elapsed = _loop(stop, seconds, every, lambda: system.runtime.stopped, system.status)
        _stop_dashboard(dashboard)
        status = system.status()
        failed = system.runtime.stopped and system.runtime.stop_reason != "stopped by request"
        reason = system.runtime.stop_reason
        line, ok = audit_after_stop(
            status,
            system.venue.close,
            system.runtime.stop,
            system.board.views,
            system.venue,
            deployment.journal_path,
            elapsed,
        )
    finally:
        _stop_dashboard(dashboard)
        system.stop()
    print(line, flush=True)
    if failed:
        print(f"the runtime stopped by itself: {reason}", flush=True)
    return 0 if ok and not failed else 1


def _start_dashboard(deployment: Deployment, source: Callable[[], Any]) -> Any:
    """The web dashboard of the running system (None when ``web.enabled`` is false); prints its URL."""

    if not deployment.web.enabled:
        return None
    dashboard = Dashboard(deployment, source())
    print(f"dashboard: {dashboard.start()}", flush=True)
    return dashboard


def _stop_dashboard(dashboard: Any) -> None:
    if dashboard is not None:
        dashboard.stop()


def run_processes(
    deployment: Deployment, seconds: float | None, every: float, endpoint: str | None, keys: Path | None
) -> int:
    """Run ``deployment`` with one OS process per actor; this process supervises them.

    0 if all went well; 2 for a setup refused before anything started (tcp without keys); 1 if
    the system failed to start or its supervisor gave up (the reason printed, everything cleaned up).
    """

    stop = _stop_event()
    system = ProcessSystem(deployment, endpoint=endpoint, keys=keys)
    try:
        system.check()
    except ValueError as error:
        print(f"bin/run: {error}", file=sys.stderr)
        return 2
    try:
        system.start()  # cleans up after itself when it fails; never touches another running system
    except (StartError, RuntimeError, OSError) as error:
        print(f"bin/run: the system did not start: {error}", file=sys.stderr)
        return 1
    log_to_file(deployment.folder / "logs" / "desk.log")  # only once the system owns its folder
    runtime = system.runtime
    assert runtime is not None
    client = Client(system.endpoint, keys=keys, timeout=2.0)
    names = actor_names(deployment)

    def status() -> dict[str, Any]:
        return collect_status(
            client.ask, system.actor_statuses(), system.hub.dead_letter_count() if system.hub else 0, names
        )

    line, ok = "", False
    dashboard = None
    try:
        print(f"process mode: {len(names)} nodes, hub at {system.endpoint}, runtime folder {system.folder}", flush=True)
        dashboard = _start_dashboard(deployment, lambda: ProcessSource(system, Client(system.endpoint, keys=keys)))
        elapsed = _loop(stop, seconds, every, lambda: runtime.stopped, status)
        _stop_dashboard(dashboard)
        failed = runtime.stopped and runtime.stop_reason != "stopped by request"
        reason = runtime.stop_reason
        if not failed:
            final = status()
            # Everyone but the gateway stops (their last fills drain into it); then the gateway's ledgers.
            line, ok = audit_after_stop(
                final,
                system.venue.close,
                lambda: runtime.stop_nodes(set(names) - {"gateway"}),
                lambda: client.ask("gateway", GetBalances()).views,
                system.venue,
                deployment.journal_path,
                elapsed,
            )
    finally:
        _stop_dashboard(dashboard)
        if dashboard is not None:
            dashboard.snapshots.source.client.close()
        client.close()
        system.stop()  # every node, the hub, the venue, the records and the sockets
    if failed:
        print(f"summary: not audited: the supervisor gave up after {elapsed:.1f}s", flush=True)
        print(f"bin/run: the runtime stopped by itself: {reason}", file=sys.stderr, flush=True)
        return 1
    print(line, flush=True)
    return 0 if ok else 1


def _connect(args: argparse.Namespace) -> Any:

    return Client(args.endpoint, runtime_folder=args.runtime, keys=args.keys, key=args.key, timeout=args.timeout)


def _dashboard_of(args: argparse.Namespace) -> Any:
    """The API client of an in-process system's dashboard, when there is no hub but a dashboard runs."""

    if args.endpoint:
        return None
    try:
        find_hub(args.runtime)
        return None
    except ClientError:
        url = find_dashboard(args.runtime)
        return WebClient(url, timeout=args.timeout) if url else None


def command_status(args: argparse.Namespace) -> int:

    web = _dashboard_of(args)  # an in-process system: its dashboard's API is the control endpoint
    try:
        if web is not None:
            status = web.status()
        else:
            with _connect(args) as client:
                runtime = client.status()
                names = [a.name for a in runtime.actors]
                status = collect_status(client.ask, runtime.actors, runtime.dead_letters, names)
    except (ClientError, WebClientError) as error:
        print(f"bin/run status: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    print("actors:")
    for actor in status["actors"]:
        last = f"  last error: {actor['last_error']}" if actor["last_error"] else ""
        print(
            f"  {actor['name']:<12} pid {actor.get('pid') or '-':<8} {actor['state']:<10} restarts "
            f"{actor['restarts']:<3} mailbox {actor['mailbox']:<5}{last}"
        )
    for line in status_lines(status)[1:]:
        print(line)
    return 0


def command_send(args: argparse.Namespace) -> int:
    """Send one command; 0 on an answer, 1 on a rejection or an undeliverable message, 2 on a bad call."""

    def refuse(text: str) -> int:
        print(f"bin/run send: {text}"[:300].encode("utf-8", "backslashreplace").decode(), file=sys.stderr)
        return 2

    web = _dashboard_of(args)  # an in-process system: its dashboard's API is the control endpoint
    try:
        command = parse_command(args.json_command)
    except DecodeError as error:
        return refuse(f"not a command: {error}")
    try:
        if web is not None:
            reply = web.send(args.actor, args.json_command)
            print(json.dumps(reply["answer"], default=str))
            return 1 if reply["rejected"] else 0
        with _connect(args) as client:
            answer = client.ask(args.actor, command)
    except ClientUsageError as error:
        return refuse(str(error))
    except (ClientError, WebClientError) as error:
        print(f"bin/run send: {error}", file=sys.stderr)
        return 1
    shown = msgspec.to_builtins(answer) if isinstance(answer, Message) else answer
    print(json.dumps(shown, default=str))
    return 1 if isinstance(answer, Rejected) else 0


def command_tree(args: argparse.Namespace) -> int:

    try:
        with _connect(args) as client:
            if args.command == "children":
                return command_children(client, args.supervisor)
            return command_restart(client, args.name)
    except ClientError as error:
        print(f"bin/run {args.command}: {error}", file=sys.stderr)
        return 2


def command_keys(args: argparse.Namespace) -> int:
    """Write a keys folder: the hub's pair, one pair per node (the deployment's actors) and per client."""

    nodes = args.node
    if not nodes:
        try:
            nodes = actor_names(load_config(args.config) if args.config else load_demo_config())
        except ConfigError as error:
            print(f"bin/run keys: {error}", file=sys.stderr)
            return 2
    try:
        folder = generate_keys(args.folder, nodes=nodes, clients=args.client or ["client"])
    except (KeysError, OSError) as error:
        print(f"bin/run keys: {error}", file=sys.stderr)
        return 2
    print(
        f"CurveZMQ keys in {folder} (secrets 0600): server.key(_secret); nodes/NAME.key(_secret) for "
        f"{', '.join(nodes)}; clients/NAME.key(_secret) for {', '.join(args.client or ['client'])}"
    )
    return 0


def _seconds(text: str) -> float:
    """An argparse type: a finite, positive number of seconds (``nan``, ``inf``, ``-1`` refused)."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(text)
    return value


_seconds.__name__ = "positive number of seconds"


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", help="the system's runtime folder (default: $TREASURY_RUNTIME or run/demo)")
    parser.add_argument("--endpoint", help="the hub endpoint (default: read from the runtime folder)")
    parser.add_argument("--keys", help="CurveZMQ keys folder (for a tcp:// hub)")
    parser.add_argument("--key", help="which client key of the keys folder (default: the first)")
    parser.add_argument("--timeout", type=_seconds, default=5.0, help="seconds to wait for an answer (default 5)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        return simulate(argv[1:])
    if argv and argv[0] in COMMANDS:
        return _subcommand(argv)
    if argv and argv[0] == "check-venue":
        return check_venue_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="bin/run",
        description="Run treasury-actors (the built-in demo by default). "
        f"Other commands: {', '.join(COMMANDS)}, simulate (bin/run COMMAND --help).",
    )
    parser.add_argument("--config", help="a deployment TOML file (default: the built-in demo)")
    parser.add_argument("--processes", action="store_true", help="run one OS process per actor")
    parser.add_argument("--for", dest="seconds", type=float, default=None, help="stop after SECONDS (default: Ctrl-C)")
    parser.add_argument("--every", type=float, default=3.0, help="print status every SECONDS (default 3)")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start with an empty journal (always so for the built-in demo, whose world is new each run)",
    )
    parser.add_argument("--endpoint", help="process mode: the hub endpoint (default ipc:// in the runtime folder)")
    parser.add_argument("--keys", type=Path, help="process mode: CurveZMQ keys folder (required for tcp://)")
    parser.add_argument("--log-level", default="WARNING", help="log level on stderr (default WARNING)")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        deployment = load_config(args.config) if args.config else load_demo_config()
    except ConfigError as error:
        print(f"bin/run: {error}", file=sys.stderr)
        return 2
    if args.fresh or not args.config:
        _wipe_journal(deployment)
    if args.processes:
        return run_processes(deployment, args.seconds, args.every, args.endpoint, args.keys)
    return run_in_process(deployment, args.seconds, args.every)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (and exit 2), not the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _subcommand(argv: list[str]) -> int:
    parser = _Parser(prog="bin/run")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="the running system: actors, balances, tasks, chains, hedge")
    status.add_argument("--json", action="store_true", help="one JSON document, for scripts and monitoring")
    _client_options(status)
    send = commands.add_parser("send", help="send a JSON command to an actor and print its answer")
    send.add_argument("actor")
    send.add_argument(
        "json_command",
        metavar="JSON",
        help="""e.g. '{"strategy":"a","cmd":"allocate",...}' or '{"type":"Reconcile"}'""",
    )
    _client_options(send)
    node = commands.add_parser("node", help="run one actor as a node of a running system (another host: tcp + keys)")
    node.add_argument("--connect", required=True)
    node.add_argument("--name", required=True)
    node.add_argument("--config")
    node.add_argument("--runtime")
    node.add_argument("--keys")
    node.add_argument("--log-level", default="INFO")
    children = commands.add_parser("children", help="the supervisor's children: type, state, restarts, exit reason")
    children.add_argument("--supervisor", default="root")
    _client_options(children)
    restart = commands.add_parser("restart", help="restart one child of the running system")
    restart.add_argument("name")
    _client_options(restart)
    keys = commands.add_parser(
        "keys", help="make a CurveZMQ keys folder: the hub's pair, a pair per node and per client"
    )
    keys.add_argument("folder")
    keys.add_argument("--config", help="the deployment whose actors get node keys (default: the built-in demo)")
    keys.add_argument(
        "--node",
        action="append",
        default=[],
        help="a node key for this actor (repeatable; default: every actor of the deployment)",
    )
    keys.add_argument(
        "--client",
        action="append",
        default=[],
        help="a client key of this name (repeatable; default: one named 'client')",
    )
    args = parser.parse_args(argv)
    configure_logging("WARNING" if args.command != "node" else args.log_level)
    if args.command == "status":
        return command_status(args)
    if args.command == "send":
        return command_send(args)
    if args.command == "keys":
        return command_keys(args)
    if args.command in ("children", "restart"):
        return command_tree(args)

    node_argv = ["--connect", args.connect, "--name", args.name, "--log-level", args.log_level]
    for option in ("config", "runtime", "keys"):
        if getattr(args, option):
            node_argv += [f"--{option}", getattr(args, option)]
    return node_main(node_argv)


if __name__ == "__main__":
    sys.exit(main())
