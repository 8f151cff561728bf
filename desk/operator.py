"""Operator commands on a running system's supervision tree: `bin/run children` and `bin/run restart NAME`.

Both ask the reserved name ``"runtime"`` through the hub (`supervisor.transport.client.Client`); the
supervisor process answers (`WhichChildren`, `RestartChild`).
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

from messages.supervision import ChildInfo, Children, RestartChild, WhichChildren
from messages.system import Rejected
from supervisor.transport.client import ClientError

__all__ = ["children_lines", "command_children", "command_restart"]


class Asker(Protocol):
    def ask(self, actor: str, message: Any) -> Any: ...


def children_lines(children: list[ChildInfo]) -> list[str]:
    """One line per child: name, worker/supervisor, state, restart type, restarts, last exit reason."""
    lines = []
    for child in children:
        reason = child.exit_reason.value if child.exit_reason is not None else "-"
        pid = child.pid if child.pid is not None else "-"
        lines.append(
            f"  {child.name:<12} {child.kind.value:<10} {child.state.value:<11} {child.restart:<9} "
            f"restarts {child.restarts:<3} last exit {reason:<8} pid {pid}"
        )
    return lines


def command_children(client: Asker, supervisor: str = "root") -> int:
    """Print the children of ``supervisor``; 1 if the runtime refused, 0 otherwise."""
    answer = client.ask("runtime", WhichChildren(supervisor=supervisor))
    if not isinstance(answer, Children):
        print(f"bin/run children: {getattr(answer, 'reason', answer)}", file=sys.stderr)
        return 1
    print(f"children of {answer.supervisor}:")
    for line in children_lines(answer.children):
        print(line)
    return 0


def command_restart(client: Asker, name: str) -> int:
    """Ask the runtime to restart child ``name``; 1 if it refused, 0 once the restart is under way."""
    try:
        answer = client.ask("runtime", RestartChild(name=name))
    except ClientError as error:
        print(f"bin/run restart: {error}", file=sys.stderr)
        return 1
    if isinstance(answer, Rejected) or not isinstance(answer, ChildInfo):
        print(f"bin/run restart: {getattr(answer, 'reason', answer)}", file=sys.stderr)
        return 1
    print(f"restart of {name} requested; now: " + children_lines([answer])[0].strip())
    return 0
