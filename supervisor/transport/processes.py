"""Per-actor process mode: each actor a node process, supervised with the same OTP policy as threads.

`ProcessRuntime` starts one node process per actor in order (each incarnation with a fresh
secret it must show the hub), waits for each to say hello, and restarts a node that exits, is
killed, or stops answering heartbeats, following a `Supervisor` policy (strategy, intensity,
backoff). What a node runs is the caller's ``command``; the deployment's supervisor process
(`desk.processes.ProcessSystem`) builds the rest around it.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from messages.supervision import ChildCount, ChildInfo, ChildState, ChildType, ExitReason
from messages.system import ActorStatus
from supervisor.control import ControlThread
from supervisor.errors import StartError, SupervisionError
from supervisor.restarts import child_down, restart_members
from supervisor.spec import ChildSpec, Supervisor
from supervisor.transport.hub import Hub
from supervisor.transport.wire import SECRET_ENV

__all__ = ["ProcessRuntime"]

log = logger.bind(actor="supervisor")

RUNNING, STARTING, STOPPING, DOWN, RESTARTING, STOPPED, TERMINATED = (
    "running",
    "starting",
    "stopping",
    "down",
    "restarting",
    "stopped",
    "terminated",
)


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
    exit_reason: ExitReason | None = None

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
        self._wait_for(done)
        if not result:
            raise StartError(self.stop_reason or "process supervision stopped during start")
        if result[0] is not None:
            self.stop(f"start failed: {result[0]}")
            raise StartError(result[0])

    def stop(self, reason: str = "stopped by request", timeout: float = 120.0) -> bool:
        """Stop every node in reverse order; False if that was still going on after ``timeout`` seconds."""
        if not self._control.started:
            return True
        if not self._stopped.is_set():
            self._post(self._shutdown, reason)
        self._control.join(timeout)
        return self._stopped.is_set()

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

        if self._stopped.is_set():
            return  # the runtime has stopped every node already
        self._post(stop)
        self._wait_for(done)

    def _wait_for(self, done: threading.Event) -> None:
        """Wait for a posted event to finish, or for the control thread to end without running it
        (the supervisor gave up meanwhile): never forever."""
        while not done.wait(0.2):
            if self._stopped.is_set() and not self._control.alive:
                return

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
                exit_reason=n.exit_reason,
            )
            for n in self.nodes
        ]

    # ---- child management (what of OTP's API fits a flat tree of processes) ---------------------

    def which_children(self, supervisor: str = "root") -> list[ChildInfo]:
        self._only_root(supervisor)
        return [
            ChildInfo(
                name=n.name,
                kind=ChildType.WORKER,
                state=ChildState(n.state),
                restart=n.spec.restart,
                restarts=n.restarts,
                exit_reason=n.exit_reason,
                pid=n.pid,
            )
            for n in self.nodes
        ]

    def count_children(self, supervisor: str = "root") -> ChildCount:
        self._only_root(supervisor)
        active = sum(n.state == RUNNING for n in self.nodes)
        return ChildCount(specs=len(self.nodes), active=active, supervisors=0, workers=len(self.nodes))

    def terminate_child(self, name: str) -> ChildInfo:
        """Queue a stop of node ``name`` (kept stopped until `restart_child`); answers the node as it is now.

        The commands are queued, not waited for: the hub's thread, which asks, must keep serving
        while a node says goodbye or hello. A failure is logged and shows in the node's status.
        """
        return self._queue(name, start=False)

    def restart_child(self, name: str) -> ChildInfo:
        """Queue a restart of node ``name`` (stopped first if it runs); answers the node as it is now."""
        return self._queue(name, start=True)

    def _only_root(self, supervisor: str) -> None:
        if supervisor != "root":
            raise SupervisionError(f"no supervisor named {supervisor!r} (process mode has only 'root')")

    def _queue(self, name: str, start: bool) -> ChildInfo:
        node = self._by_name.get(name)
        if node is None:
            raise SupervisionError(f"no child named {name!r}")
        self._post(self._manage, node, start)
        return next(c for c in self.which_children() if c.name == name)

    def _manage(self, node: _Node, start: bool) -> None:
        if node.state not in (STOPPED, TERMINATED):
            node.exit_reason = ExitReason.SHUTDOWN
            self._stop_node(node)
        node.state = TERMINATED
        if start:
            node.restarts += 1
            error = self._spawn(node)
            if error is not None:
                node.state, node.last_error = TERMINATED, error

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
        secret = secrets.token_hex(16)  # this incarnation's proof for the hub; the next one gets another
        self.hub.admit(node.name, secret)
        env = {**(self.env if self.env is not None else os.environ), SECRET_ENV: secret}
        if self.log_folder is not None:
            self.log_folder.mkdir(parents=True, exist_ok=True)
            stdout = open(self.log_folder / f"{node.name}.out", "ab")  # what escapes the node's own log
        try:
            proc = subprocess.Popen(
                self.command(node.name), stdout=stdout, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        finally:
            if stdout is not subprocess.DEVNULL:
                stdout.close()
        node.proc, node.state = proc, STARTING
        threading.Thread(target=self._watch, args=(node, proc), name=f"watch-{node.name}", daemon=True).start()
        if not self._connected(node.name, proc):
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

    def _connected(self, name: str, proc: subprocess.Popen[bytes]) -> bool:
        """Wait for the node's hello for up to ``start_timeout``; False at once if the process exits first."""
        deadline = time.monotonic() + self.start_timeout
        while not self.hub.wait_connected(name, proc.pid, min(0.2, max(0.0, deadline - time.monotonic()))):
            if proc.poll() is not None or time.monotonic() >= deadline:
                return False
        return True

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
        exit_reason = ExitReason.NORMAL if proc.returncode == 0 else ExitReason.CRASH
        if node.killed_for:  # only _silent kills a running node: it missed its heartbeats
            reason, node.killed_for, exit_reason = f"{reason} ({node.killed_for})", "", ExitReason.HANG
        log.error("node {}", reason)
        node.state, node.last_error = DOWN, reason
        self.hub.node_down(node.name, reason, proc.pid)
        self._child_down(node, exit_reason, reason)

    def _silent(self, name: str) -> None:
        node = self._by_name.get(name)
        if node is None or node.state != RUNNING or node.proc is None:
            return
        log.error("node {} (pid {}) missed its heartbeats: killing it", name, node.proc.pid)
        node.killed_for = "it missed heartbeats"
        self._kill(node.proc)  # its exit is then handled like any other

    def _child_down(self, node: _Node, reason: ExitReason, text: str) -> None:
        node.exit_reason = reason
        child_down(self.policy, self.nodes, node, reason, text, time.time(), _ProcessGroup(self))

    def _restart(self, group: list[_Node], epoch: int) -> None:
        if epoch != self._epoch or self._stopped.is_set():
            return
        restart_members(group, _ProcessGroup(self), self._child_down)

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


class _ProcessGroup:
    """How `supervisor.restarts` acts on the nodes of a `ProcessRuntime`."""

    def __init__(self, runtime: ProcessRuntime) -> None:
        self.runtime = runtime

    def stop_child(self, member: _Node) -> None:
        self.runtime._stop_node(member)

    def stop_for_good(self, member: _Node, why: str) -> None:
        self.runtime._stop_node(member)
        member.state = STOPPED

    def escalate(self, why: str) -> None:
        self.runtime._shutdown(f"supervisor 'root' gave up: {why}")

    def schedule_restart(self, members: list[_Node], delay: float) -> None:
        runtime, epoch = self.runtime, self.runtime._epoch
        timer = threading.Timer(delay, lambda: runtime._post(runtime._restart, members, epoch))
        timer.daemon = True
        timer.start()

    def mark_restarting(self, member: _Node) -> None:
        member.state = RESTARTING

    def start(self, member: _Node) -> str | None:
        member.restarts += 1
        error = self.runtime._spawn(member)
        if error is None:
            log.info("node {} restarted (restart #{})", member.name, member.restarts)
        return error
