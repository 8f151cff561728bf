"""Per-actor process mode: each actor a node process, supervised with the same OTP policy as threads.

`ProcessRuntime` starts one node process per actor in order, waits for each to say hello to
the hub, and restarts a node that exits, is killed, or stops answering heartbeats, following
the deployment's `Supervisor` policy (strategy, intensity, backoff). `ProcessSystem` is the
supervisor process: the runtime folder (mode 0700), the simulated venue served to the nodes,
the shared-memory balance board, the hub, and the nodes. Stopping it stops every node in
reverse order and leaves no process, socket file or shared-memory segment behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from messages.codec import DecodeError, decode, encode
from messages.reports import GetRuntimeStatus, GetSystemInfo, RuntimeStatus, SystemInfo
from messages.system import ActorStatus, Ping, Pong, Rejected
from supervisor.clock import SystemClock
from desk.config import DEPLOYMENT_RECORD, Deployment, actor_names, external_names, save_deployment
from supervisor.control import ControlThread
from supervisor.errors import StartError
from supervisor.hub import Hub
from actors.stores.journal import Journal
from supervisor.spec import ChildSpec, Supervisor
from desk.system import Services, build_venue
from supervisor.wire import Header, encode_header

__all__ = ["ProcessRuntime", "ProcessSystem", "node_services", "read_system_record"]

log = logger.bind(actor="supervisor")

RUNNING, STARTING, STOPPING, DOWN, RESTARTING, STOPPED = "running", "starting", "stopping", "down", "restarting", "stopped"
SYSTEM_RECORD = "system.json"


@dataclass
class _Node:
    """One node process slot (the process changes across restarts; the name does not)."""

    index: int
    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    state: str = DOWN
    restarts: int = 0
    last_error: str | None = None
    killed_for: str = ""  # why the supervisor killed it, if it did

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


class ProcessRuntime:
    """Supervises node processes. ``command(name)`` is the argv that runs node ``name``."""

    def __init__(
        self,
        policy: Supervisor,
        command: Callable[[str], list[str]],
        hub: Hub,
        *,
        start_timeout: float = 30.0,
        log_folder: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.policy = policy
        self.command = command
        self.hub = hub
        self.start_timeout = start_timeout
        self.log_folder = log_folder
        self.env = env
        self.nodes = [_Node(i, spec) for i, spec in enumerate(policy.children)]
        self._by_name = {n.name: n for n in self.nodes}
        self._control = ControlThread("process-supervisor", self._control_failed)
        self._stopped = threading.Event()
        self.stop_reason: str | None = None
        self._epoch = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._control.start()
        done = threading.Event()
        result: list[str | None] = []

        def start_all() -> None:
            result.append(self._start_all())
            done.set()

        self._post(start_all)
        done.wait()
        if result[0] is not None:
            self.stop(f"start failed: {result[0]}")
            raise StartError(result[0])

    def stop(self, reason: str = "stopped by request", timeout: float = 120.0) -> None:
        if not self._control.started:
            return
        if not self._stopped.is_set():
            self._post(self._shutdown, reason)
        self._control.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def stop_nodes(self, names: set[str]) -> None:
        """Stop these nodes (in reverse start order) and leave the rest running; they are not restarted."""
        done = threading.Event()

        def stop() -> None:
            self._epoch += 1  # cancel pending restarts
            for node in reversed(self.nodes):
                if node.name in names:
                    self._stop_node(node)
                    node.state = STOPPED
            done.set()

        self._post(stop)
        done.wait()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def on_silent(self, name: str) -> None:
        """The hub saw node ``name`` miss heartbeats (called from the hub thread)."""
        self._post(self._silent, name)

    def status(self) -> list[ActorStatus]:
        hub = {s.name: s for s in self.hub.status()}
        return [
            ActorStatus(
                name=n.name,
                state=n.state,
                restarts=n.restarts,
                mailbox=(hub[n.name].queued + hub[n.name].inflight) if n.name in hub else 0,
                last_error=n.last_error,
                supervisor="root",
                pid=n.pid,
            )
            for n in self.nodes
        ]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        return self._control.wait_until(predicate, timeout)

    # ---- the control thread --------------------------------------------------------------------

    def _post(self, handler: Callable[..., Any], *args: Any) -> None:
        self._control.post(handler, *args)

    def _control_failed(self, error: BaseException) -> None:
        log.opt(exception=error).critical("process supervision failed")
        if not self._stopped.is_set():
            self._shutdown(f"process supervision failed: {error}")

    def _start_all(self) -> str | None:
        for node in self.nodes:
            error = self._spawn(node)
            if error is not None:
                return error
        return None

    def _spawn(self, node: _Node) -> str | None:
        """Start ``node``'s process and wait for its hello; the failure reason, or None."""
        stdout: Any = subprocess.DEVNULL
        if self.log_folder is not None:
            self.log_folder.mkdir(parents=True, exist_ok=True)
            stdout = open(self.log_folder / f"{node.name}.log", "ab")  # noqa: SIM115 - the child owns it
        try:
            proc = subprocess.Popen(self.command(node.name), stdout=stdout, stderr=subprocess.STDOUT, env=self.env,
                                    start_new_session=True)
        finally:
            if stdout is not subprocess.DEVNULL:
                stdout.close()
        node.proc, node.state = proc, STARTING
        threading.Thread(target=self._watch, args=(node, proc), name=f"watch-{node.name}", daemon=True).start()
        if not self.hub.wait_connected(node.name, proc.pid, self.start_timeout):
            reason = f"{node.name} (pid {proc.pid}) did not connect within {self.start_timeout}s"
            if proc.poll() is not None:
                reason = f"{node.name} exited during start ({self._describe_exit(proc.returncode)})"
            self._kill(proc)
            node.state, node.last_error = DOWN, reason
            log.error(reason)
            return reason
        node.state = RUNNING
        log.info("node {} running (pid {})", node.name, proc.pid)
        return None

    def _watch(self, node: _Node, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        self._post(self._exited, node, proc)

    @staticmethod
    def _describe_exit(code: int) -> str:
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def _exited(self, node: _Node, proc: subprocess.Popen[bytes]) -> None:
        if node.proc is not proc or node.state != RUNNING or self._stopped.is_set():
            return  # expected (we stopped it) or stale
        reason = f"{node.name} (pid {proc.pid}) {self._describe_exit(proc.returncode)}"
        if node.killed_for:
            reason, node.killed_for = f"{reason} ({node.killed_for})", ""
        log.error("node {}", reason)
        node.state, node.last_error = DOWN, reason
        self.hub.node_down(node.name, reason, proc.pid)
        self._child_down(node, proc.returncode != 0, reason)

    def _silent(self, name: str) -> None:
        node = self._by_name.get(name)
        if node is None or node.state != RUNNING or node.proc is None:
            return
        log.error("node {} (pid {}) missed its heartbeats: killing it", name, node.proc.pid)
        node.killed_for = "it missed heartbeats"
        self._kill(node.proc)  # its exit is then handled like any other

    def _child_down(self, node: _Node, abnormal: bool, reason: str) -> None:
        decision = self.policy.on_child_down(node.index, abnormal, time.time())
        if decision.action == "terminate":
            node.state = STOPPED
            log.info("{}; {}", reason, decision.reason)
            return
        if decision.action == "escalate":
            self._shutdown(f"supervisor 'root' gave up: {decision.reason}; last: {reason}")
            return
        group = [self.nodes[i] for i in decision.group]
        for other in reversed(group):
            if other is not node:
                self._stop_node(other)
        for member in group:
            member.state = RESTARTING
        epoch = self._epoch
        if decision.delay > 0:
            log.info("restarting {} in {:.2f}s", [m.name for m in group], decision.delay)
            timer = threading.Timer(decision.delay, lambda: self._post(self._restart, group, epoch))
            timer.daemon = True
            timer.start()
        else:
            self._restart(group, epoch)

    def _restart(self, group: list[_Node], epoch: int) -> None:
        if epoch != self._epoch or self._stopped.is_set():
            return
        for member in group:
            member.restarts += 1
            error = self._spawn(member)
            if error is not None:
                self._child_down(member, True, error)
                return
            log.info("node {} restarted (restart #{})", member.name, member.restarts)

    def _stop_node(self, node: _Node) -> None:
        proc = node.proc
        if proc is None or proc.poll() is not None:
            node.state = DOWN
            return
        node.state = STOPPING
        self.hub.say_bye(node.name)
        try:
            proc.terminate()
            proc.wait(node.spec.shutdown_timeout)
        except subprocess.TimeoutExpired:
            log.warning("node {} did not stop within {}s; killing it", node.name, node.spec.shutdown_timeout)
            self._kill(proc)
        self.hub.node_down(node.name, f"{node.name} stopped", proc.pid)
        node.state = DOWN

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        try:
            proc.kill()
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass

    def _shutdown(self, reason: str) -> None:
        if self._stopped.is_set():
            return
        self._epoch += 1
        if reason != "stopped by request":
            log.critical("process runtime stopping: {}", reason)
        for node in reversed(self.nodes):
            self._stop_node(node)
            node.state = STOPPED
        self.stop_reason = reason
        self._stopped.set()
        self._control.finish()


# ---- the two sides of process mode ------------------------------------------------------------------


def read_system_record(folder: Path) -> dict[str, Any] | None:
    """What a running supervisor process wrote about itself in its runtime folder (None if not running)."""
    path = folder / SYSTEM_RECORD
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(int(record["pid"]), 0)
    except (ProcessLookupError, KeyError, ValueError, PermissionError):
        return None
    return record  # type: ignore[no-any-return]


class FoundBoard:
    """A reader of the running gateway's shared-memory board, found when first needed (and again
    after the gateway restarts); reads nothing (None) while there is no gateway."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._board: Any = None

    def _current(self) -> Any:
        from actors.stores.shm_board import find_board

        if self._board is None:
            self._board = find_board(self.folder)
        return self._board if self._board is not None else None

    def read(self, exchange: Any, account: str, currency: Any) -> Any:
        from actors.stores.shm_board import BoardClosedError

        board = self._current()
        if board is None:
            return None
        try:
            return board.read(exchange, account, currency)
        except (BoardClosedError, TimeoutError):
            self._board = None  # the gateway is restarting: look again next time
            return None

    def views(self) -> list[Any]:
        board = self._current()
        return board.views() if board is not None else []

    def default_account(self, exchange: Any) -> str | None:
        board = self._current()
        return board.default_account(exchange) if board is not None else None

    def publish(self, view: Any) -> None:
        raise RuntimeError("only the gateway's process writes the balance board")

    def set_default_account(self, exchange: Any, account: str) -> None:
        raise RuntimeError("only the gateway's process writes the balance board")

    def close(self) -> None:
        if self._board is not None:
            self._board.close()
            self._board = None


def ask_system_info(connect: str, keys: str | None) -> SystemInfo:
    """Ask a tcp hub's supervisor what a node joining from another host needs."""
    from supervisor.client import Client

    with Client(connect, keys=keys, timeout=10.0) as client:
        info = client.ask("runtime", GetSystemInfo())
    if not isinstance(info, SystemInfo):
        raise RuntimeError(f"the system at {connect} did not say what it is ({info!r})")
    return info


def node_services(deployment: Deployment, name: str, runtime_folder: str | None = None,
                  connect: str | None = None, keys: str | None = None, info: SystemInfo | None = None) -> Services:
    """The services of one node process: the supervisor's venue, the balance board (the gateway
    node writes it; every other node reads it), the journal file and the real clock.

    A node the supervisor starts (it is given ``runtime_folder``) finds them in the runtime
    folder. A node joining a tcp hub by hand from another host asks the hub for the venue's
    ports and keeps a board and a journal of its own in ``run/node-NAME`` on its host.
    """
    from actors.venues.remote import RemoteVenue
    from actors.stores.shm_board import SharedMemoryBoard

    joining = not runtime_folder and connect is not None and connect.startswith("tcp://")
    if not joining:  # started by the supervisor (it passes --runtime), or by hand on its host
        folder = Path(runtime_folder) if runtime_folder else deployment.folder
        record = read_system_record(folder)
        if record is None:
            raise RuntimeError(f"no running system in {folder} (no live {SYSTEM_RECORD})")
        venue = RemoteVenue(record["venue_rpc"], record["venue_fills"])
    else:  # joining a tcp hub from another host: ask it; keep this host's own folder
        assert connect is not None
        info = info or ask_system_info(connect, keys)
        if info.venue_rpc_port is None or info.venue_fills_port is None:
            raise RuntimeError(f"the system at {connect} serves no venue over tcp")
        host = connect[len("tcp://"):].rsplit(":", 1)[0]
        venue = RemoteVenue(f"tcp://{host}:{info.venue_rpc_port}", f"tcp://{host}:{info.venue_fills_port}", keys=keys)
        folder = Path.cwd() / "run" / f"node-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    board: Any = SharedMemoryBoard.create(runtime_folder=folder) if name == "gateway" else FoundBoard(folder)
    journal = Journal(folder / deployment.runtime.journal)
    return Services(venue=venue, board=board, journal=journal, clock=SystemClock())


class ProcessSystem:
    """The supervisor process of a deployment run as one OS process per actor."""

    def __init__(self, deployment: Deployment, *, endpoint: str | None = None, keys: Path | None = None) -> None:
        self.deployment = deployment
        self.folder = deployment.folder
        self.endpoint = endpoint or f"ipc://{self.folder / 'hub.sock'}"
        self.keys = keys
        self.names = actor_names(deployment)
        self.external = external_names(deployment)
        self.venue: Any = None
        self._venue_ports: tuple[int, int] | None = None
        self.venue_server: Any = None
        self.remote_venue_server: Any = None
        self.board: Any = None
        self.hub: Hub | None = None
        self.runtime: ProcessRuntime | None = None

    def __enter__(self) -> ProcessSystem:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ipc(self, name: str) -> str:
        return f"ipc://{self.folder / name}"

    def start(self) -> None:
        from actors.venues.remote import VenueServer

        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        if read_system_record(self.folder) is not None:
            raise RuntimeError(f"a system is already running in {self.folder}")
        for stale in self.folder.glob("*.sock"):
            stale.unlink()
        self._venue_journal = Journal(self.deployment.journal_path)  # what real adapters sent, kept across restarts
        self.venue = build_venue(self.deployment, SystemClock(), self._venue_journal.state)
        self.venue_server = VenueServer(self.venue, self._ipc("venue.sock"), self._ipc("fills.sock"))
        self.venue_server.start()
        if self.endpoint.startswith("tcp://"):  # nodes on other hosts reach the venue over tcp, with the keys
            host, port = self.endpoint[len("tcp://"):].rsplit(":", 1)
            self._venue_ports = (int(port) + 1, int(port) + 2)
            self.remote_venue_server = VenueServer(self.venue, f"tcp://{host}:{self._venue_ports[0]}",
                                                   f"tcp://{host}:{self._venue_ports[1]}", keys=self.keys)
            self.remote_venue_server.start()
        self.board = FoundBoard(self.folder)  # the gateway node creates it; this process reads it
        record = {
            "pid": os.getpid(),
            "hub": self.endpoint,
            "venue_rpc": self._ipc("venue.sock"),
            "venue_fills": self._ipc("fills.sock"),
            "names": self.names,
        }
        save_deployment(self.deployment, self.folder)  # what every node runs
        (self.folder / SYSTEM_RECORD).write_text(json.dumps(record))
        self.hub = Hub(self.endpoint, self.names, served={"runtime"}, system_handler=self._answer,
                       heartbeat_interval=self.deployment.runtime.heartbeat_interval,
                       heartbeat_timeout=self.deployment.runtime.hang_timeout,
                       on_silent=lambda name: self.runtime.on_silent(name) if self.runtime else None,
                       keys=self.keys if self.endpoint.startswith("tcp://") else None)
        self.hub.start()
        s = self.deployment.supervisor
        started = [n for n in self.names if n not in self.external]  # external nodes join by themselves
        policy = Supervisor([ChildSpec(n, _unused_factory) for n in started], strategy=s.strategy,
                            intensity=s.intensity, period=s.period, backoff=s.backoff)
        self.runtime = ProcessRuntime(policy, self._command, self.hub, log_folder=self.folder / "logs")
        try:
            self.runtime.start()
        except StartError:
            self.stop()
            raise

    def _command(self, name: str) -> list[str]:
        # No --config: the node reads the deployment this process saved in the runtime folder.
        argv = [sys.executable, "-m", "supervisor.node", "--name", name, "--connect", self.endpoint,
                "--runtime", str(self.folder)]
        if self.keys is not None and self.endpoint.startswith("tcp://"):
            argv += ["--keys", str(self.keys)]
        return argv

    def _answer(self, header: Header, body: bytes) -> list[bytes] | None:
        """What the supervisor process answers as "runtime"."""
        try:
            message = decode(body)
        except DecodeError as error:
            answer: Any = Rejected(reason=str(error))
        else:
            if isinstance(message, GetRuntimeStatus) and self.runtime is not None:
                hub_dead = len(self.hub.dead_letters) if self.hub else 0
                answer = RuntimeStatus(actors=self.actor_statuses(), dead_letters=hub_dead)
            elif isinstance(message, GetSystemInfo):
                rpc, fills = self._venue_ports or (None, None)
                answer = SystemInfo(names=self.names, deployment_json=msgspec.json.encode(self.deployment).decode(),
                                    venue_rpc_port=rpc, venue_fills_port=fills)
            elif isinstance(message, Ping):
                answer = Pong(actor="runtime", nonce=message.nonce)
            else:
                answer = Rejected(reason=f"the runtime does not handle {type(message).__name__}",
                                  message_type=type(message).__name__)
        return [encode_header(Header(kind="reply", to=header.sender, id=header.id)), encode(answer)]

    def actor_statuses(self) -> list[ActorStatus]:
        """Every node: those this process supervises, and the external ones as the hub sees them."""
        supervised = self.runtime.status() if self.runtime is not None else []
        hub = {s.name: s for s in self.hub.status()} if self.hub is not None else {}
        external = [
            ActorStatus(name=name, state="external, " + ("connected" if hub[name].connected else "not connected"),
                        restarts=0, mailbox=hub[name].queued + hub[name].inflight, supervisor="",
                        pid=hub[name].incarnation or None)
            for name in self.external if name in hub
        ]
        order = {name: i for i, name in enumerate(self.names)}
        return sorted([*supervised, *external], key=lambda a: order[a.name])

    def stop(self) -> None:
        if self.hub is not None:
            for name in self.external:
                self.hub.say_bye(name)  # nodes from other hosts are asked to leave; they are not ours to kill
        if self.runtime is not None:
            self.runtime.stop()
        if self.hub is not None:
            self.hub.stop()
        for server in (self.venue_server, self.remote_venue_server):
            if server is not None:
                server.stop()
        if self.venue is not None:
            self.venue.close()
            self._venue_journal.close()
        if self.board is not None:
            self.board.close()
            self.board = None
        (self.folder / SYSTEM_RECORD).unlink(missing_ok=True)
        (self.folder / DEPLOYMENT_RECORD).unlink(missing_ok=True)
        for sock in self.folder.glob("*.sock"):
            sock.unlink(missing_ok=True)


def _unused_factory() -> Any:
    raise RuntimeError("node processes are started by ProcessRuntime, not by a factory")

