"""Supervision as data on the wire: exit reasons, child listings and the operator's child commands."""

from __future__ import annotations

import enum

from messages.base import Message

__all__ = [
    "ChildCount",
    "ChildInfo",
    "ChildState",
    "ChildType",
    "Children",
    "CountChildren",
    "ExitReason",
    "RestartChild",
    "TerminateChild",
    "WhichChildren",
]


class ExitReason(enum.StrEnum):
    """Why a child's last incarnation ended (OTP's normal / shutdown / crash, plus a hang)."""

    NORMAL = "normal"  # it stopped itself
    SHUTDOWN = "shutdown"  # its supervisor (or an operator) stopped it
    CRASH = "crash"  # a handler or on_start raised, or the process exited non-zero
    HANG = "hang"  # it missed its heartbeats and was abandoned (a thread) or killed (a process)

    @property
    def abnormal(self) -> bool:
        """True for the reasons that restart a transient child (crash, hang)."""
        return self in (ExitReason.CRASH, ExitReason.HANG)


class ChildState(enum.StrEnum):
    """Where a child is in its life; ``stopped`` is final (its mail becomes dead letters)."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    DOWN = "down"
    RESTARTING = "restarting"
    TERMINATED = "terminated"  # stopped by terminate_child: kept, restartable, mail dead-lettered
    STOPPED = "stopped"


class ChildType(enum.StrEnum):
    """OTP's child type: an actor (worker) or a nested supervisor."""

    WORKER = "worker"
    SUPERVISOR = "supervisor"


class ChildInfo(Message, frozen=True):
    """One child of a supervisor as `which_children` lists it."""

    name: str
    kind: ChildType
    state: ChildState
    restart: str
    restarts: int = 0
    exit_reason: ExitReason | None = None
    pid: int | None = None


class ChildCount(Message, frozen=True):
    """OTP's count_children: specs, running children, and how many are supervisors or workers."""

    specs: int
    active: int
    supervisors: int
    workers: int


class WhichChildren(Message, frozen=True):
    """Sent to ``"runtime"``: answer `Children` for ``supervisor`` ("root" is the top)."""

    supervisor: str = "root"


class Children(Message, frozen=True):
    """The answer to `WhichChildren`: the supervisor's children in start order."""

    supervisor: str
    children: list[ChildInfo]


class CountChildren(Message, frozen=True):
    """Sent to ``"runtime"``: answer `ChildCount` for ``supervisor``."""

    supervisor: str = "root"


class RestartChild(Message, frozen=True):
    """Sent to ``"runtime"``: restart child ``name`` now (stopping it first if it runs); answer `ChildInfo`."""

    name: str


class TerminateChild(Message, frozen=True):
    """Sent to ``"runtime"``: stop child ``name`` and keep it stopped until restarted; answer `ChildInfo`."""

    name: str
