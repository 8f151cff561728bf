"""Process-mode deployment: the supervisor process of a desk run as one OS process per actor.

`ProcessSystem` is that process: the runtime folder (mode 0700), the simulated venue served to
the nodes, the shared-memory balance board, the hub, and the nodes (a `ProcessRuntime`
running ``python -m desk.node`` per actor). Stopping it stops every node in reverse order and
leaves no process, socket file or shared-memory segment behind. `node_services` is what one
node process gets: the venue, the board, the journal and the clock.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from actors.stores.journal import Journal
from actors.stores.shm_board import BoardClosedError, SharedMemoryBoard, find_board
from actors.venues.remote import RemoteVenue, VenueServer
from desk.config import (
    DEPLOYMENT_RECORD,
    Deployment,
    actor_names,
    external_names,
    save_deployment,
)
from desk.system import Services, build_venue
from messages.codec import DecodeError, decode, encode
from messages.reports import GetRuntimeStatus, GetSystemInfo, RuntimeStatus, SystemInfo
from messages.system import ActorStatus, Ping, Pong, Rejected
from supervisor.child_commands import CHILD_COMMANDS, answer_child_command
from supervisor.clock import SystemClock
from supervisor.spec import ChildSpec, Supervisor
from supervisor.transport.client import Client
from supervisor.transport.handling import HANDLING_FOLDER
from supervisor.transport.hub import Hub
from supervisor.transport.keys import missing_node_keys
from supervisor.transport.link import secret_path
from supervisor.transport.processes import ProcessRuntime
from supervisor.transport.records import (
    SYSTEM_RECORD,
    read_system_record,
    write_system_record,
)
from supervisor.transport.wire import Header, encode_header

__all__ = ["FoundBoard", "ProcessSystem", "ask_system_info", "node_services"]

log = logger.bind(actor="supervisor")


class FoundBoard:
    """A reader of the running gateway's shared-memory board, found when first needed (and again
    after the gateway restarts); reads nothing (None) while there is no gateway."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._board: Any = None

    def _current(self) -> Any:
        if self._board is None:
            self._board = find_board(self.folder)
        return self._board if self._board is not None else None

    def read(self, exchange: Any, account: str, currency: Any) -> Any:
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
    with Client(connect, keys=keys, timeout=10.0) as client:
        info = client.ask("runtime", GetSystemInfo())
    if not isinstance(info, SystemInfo):
        raise RuntimeError(f"the system at {connect} did not say what it is ({info!r})")
    return info


def node_services(
    deployment: Deployment,
    name: str,
    runtime_folder: str | None = None,
    connect: str | None = None,
    keys: str | None = None,
    info: SystemInfo | None = None,
) -> Services:
    """The services of one node process: the supervisor's venue, the balance board (the gateway
    node writes it; every other node reads it), the journal file and the real clock.

    A node the supervisor starts (it is given ``runtime_folder``) finds them in the runtime
    folder. A node joining a tcp hub by hand from another host asks the hub for the venue's
    ports and keeps a board and a journal of its own in ``run/node-NAME`` on its host.
    """
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
        host = connect[len("tcp://") :].rsplit(":", 1)[0]
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
        self._venue_journal: Journal | None = None
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

    def check(self) -> None:
        """Refuse a setup that cannot work, before anything is created: `ValueError` saying why."""
        if self.endpoint.startswith("tcp://"):
            if self.keys is None:
                raise ValueError(
                    "a tcp:// endpoint needs CurveZMQ keys: make them with `bin/run keys DIR` "
                    "and pass --keys DIR (or use the default ipc:// endpoint on one host)"
                )
            if not (Path(self.keys) / "server.key_secret").exists():
                raise ValueError(f"{self.keys} is not a keys folder (no server.key_secret; see `bin/run keys`)")
            started = [n for n in self.names if n not in self.external]
            missing = missing_node_keys(self.keys, started)
            if missing:
                raise ValueError(
                    f"{self.keys} has no node key for {', '.join(missing)}: each node proves "
                    f"which actor it is with its own key (`bin/run keys {self.keys}` makes them)"
                )
        elif not self.endpoint.startswith("ipc://"):
            raise ValueError(f"not a hub endpoint: {self.endpoint!r} (expected ipc://PATH or tcp://HOST:PORT)")

    def start(self) -> None:
        self.check()
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        if read_system_record(self.folder) is not None:
            raise RuntimeError(f"a system is already running in {self.folder}")
        # From here on this system owns the folder's records and sockets: a failure cleans them up.
        try:
            for stale in self.folder.glob("*.sock"):
                stale.unlink()
            self._venue_journal = Journal(self.deployment.journal_path)  # what real adapters sent, across restarts
            self.venue = build_venue(self.deployment, SystemClock(), self._venue_journal.state)
            self.venue_server = VenueServer(self.venue, self._ipc("venue.sock"), self._ipc("fills.sock"))
            self.venue_server.start()
            if self.endpoint.startswith("tcp://"):  # nodes on other hosts reach the venue over tcp, with the keys
                host, port = self.endpoint[len("tcp://") :].rsplit(":", 1)
                self._venue_ports = (int(port) + 1, int(port) + 2)
                self.remote_venue_server = VenueServer(
                    self.venue,
                    f"tcp://{host}:{self._venue_ports[0]}",
                    f"tcp://{host}:{self._venue_ports[1]}",
                    keys=self.keys,
                )
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
            write_system_record(self.folder, record)
            self.hub = Hub(
                self.endpoint,
                self.names,
                served={"runtime"},
                system_handler=self._answer,
                heartbeat_interval=self.deployment.runtime.heartbeat_interval,
                heartbeat_timeout=self.deployment.runtime.hang_timeout,
                on_silent=lambda name: self.runtime.on_silent(name) if self.runtime else None,
                keys=self.keys if self.endpoint.startswith("tcp://") else None,
                handling_folder=self.folder / HANDLING_FOLDER,
            )
            self.hub.start()
            self._admit_external()
            s = self.deployment.supervisor
            started = [n for n in self.names if n not in self.external]  # external nodes join by themselves
            policy = Supervisor(
                [ChildSpec(n, _unused_factory) for n in started],
                strategy=s.strategy,
                intensity=s.intensity,
                period=s.period,
                backoff=s.backoff,
            )
            self.runtime = ProcessRuntime(policy, self._command, self.hub, log_folder=self.folder / "logs")
            self.runtime.start()
        except BaseException:
            self.stop()
            raise

    def _admit_external(self) -> None:
        """ipc mode: a secret per external node, in the runtime folder (0700) for `bin/run node --runtime`."""
        if self.hub is None or not self.external or self.endpoint.startswith("tcp://"):
            return  # over tcp an external node's key is its proof
        for name in self.external:
            secret = secrets.token_hex(16)
            path = secret_path(self.folder, name)
            path.parent.mkdir(mode=0o700, exist_ok=True)
            path.unlink(missing_ok=True)
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
                file.write(secret)
            self.hub.admit(name, secret)

    def _command(self, name: str) -> list[str]:
        # No --config: the node reads the deployment this process saved in the runtime folder.
        argv = [
            sys.executable,
            "-m",
            "desk.node",
            "--name",
            name,
            "--connect",
            self.endpoint,
            "--runtime",
            str(self.folder),
        ]
        if self.keys is not None and self.endpoint.startswith("tcp://"):
            argv += ["--keys", str(self.keys)]
        else:
            argv.append("--direct")  # ipc: the nodes it starts (and watches) link to each other directly
        return argv

    def _answer(self, header: Header, body: bytes) -> list[bytes] | None:
        """What the supervisor process answers as "runtime"."""
        try:
            message = decode(body)
        except DecodeError as error:
            answer: Any = Rejected(reason=str(error))
        else:
            if isinstance(message, GetRuntimeStatus) and self.runtime is not None:
                hub_dead = self.hub.dead_letter_count() if self.hub else 0
                answer = RuntimeStatus(actors=self.actor_statuses(), dead_letters=hub_dead)
            elif isinstance(message, GetSystemInfo):
                rpc, fills = self._venue_ports or (None, None)
                answer = SystemInfo(
                    names=self.names,
                    deployment_json=msgspec.json.encode(self.deployment).decode(),
                    venue_rpc_port=rpc,
                    venue_fills_port=fills,
                )
            elif isinstance(message, Ping):
                answer = Pong(actor="runtime", nonce=message.nonce)
            elif isinstance(message, CHILD_COMMANDS) and self.runtime is not None:
                answer = answer_child_command(self.runtime, message)
            else:
                answer = Rejected(
                    reason=f"the runtime does not handle {type(message).__name__}", message_type=type(message).__name__
                )
        return [encode_header(Header(kind="reply", to=header.sender, id=header.id)), encode(answer)]

    def actor_statuses(self) -> list[ActorStatus]:
        """Every node: those this process supervises, and the external ones as the hub sees them."""
        supervised = self.runtime.status() if self.runtime is not None else []
        hub = {s.name: s for s in self.hub.status()} if self.hub is not None else {}
        external = [
            ActorStatus(
                name=name,
                state="external, " + ("connected" if hub[name].connected else "not connected"),
                restarts=0,
                mailbox=hub[name].queued + hub[name].inflight,
                supervisor="",
                pid=hub[name].incarnation or None,
            )
            for name in self.external
            if name in hub
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
        if self._venue_journal is not None:
            self._venue_journal.close()
            self._venue_journal = None
        if self.board is not None:
            self.board.close()
            self.board = None
        (self.folder / SYSTEM_RECORD).unlink(missing_ok=True)
        (self.folder / DEPLOYMENT_RECORD).unlink(missing_ok=True)
        for secret in self.folder.glob("secrets/*"):
            secret.unlink(missing_ok=True)
        for sock in self.folder.glob("*.sock"):
            sock.unlink(missing_ok=True)
        for left in self.folder.glob(f"{HANDLING_FOLDER}/*"):
            left.unlink(missing_ok=True)


def _unused_factory() -> Any:
    raise RuntimeError("node processes are started by ProcessRuntime, not by a factory")
