"""The child commands as messages to ``"runtime"``: one answer function for both runtimes (threads, processes)."""

from __future__ import annotations

from typing import Protocol

from messages.base import Message
from messages.supervision import (
    ChildCount,
    ChildInfo,
    Children,
    CountChildren,
    RestartChild,
    TerminateChild,
    WhichChildren,
)
from messages.system import Rejected
from supervisor.errors import BlockingAskError, StartError, SupervisionError

__all__ = ["CHILD_COMMANDS", "ChildManager", "answer_child_command"]

CHILD_COMMANDS = (WhichChildren, CountChildren, RestartChild, TerminateChild)


class ChildManager(Protocol):
    """A runtime's child-management API (`Runtime`, `ProcessRuntime`)."""

    def which_children(self, supervisor: str = "root") -> list[ChildInfo]: ...

    def count_children(self, supervisor: str = "root") -> ChildCount: ...

    def restart_child(self, name: str) -> ChildInfo: ...

    def terminate_child(self, name: str) -> ChildInfo: ...


def answer_child_command(manager: ChildManager, message: Message) -> Message:
    """The answer to one of `CHILD_COMMANDS`: the listing or the child, or `Rejected` saying why not."""
    try:
        if isinstance(message, WhichChildren):
            return Children(supervisor=message.supervisor, children=manager.which_children(message.supervisor))
        if isinstance(message, CountChildren):
            return manager.count_children(message.supervisor)
        if isinstance(message, RestartChild):
            return manager.restart_child(message.name)
        if isinstance(message, TerminateChild):
            return manager.terminate_child(message.name)
    except (SupervisionError, StartError, BlockingAskError) as error:
        return Rejected(reason=str(error), message_type=type(message).__name__)
    return Rejected(reason=f"{type(message).__name__} is not a child command", message_type=type(message).__name__)
