"""Carrying out a restart decision: the one place both runtimes (threads and processes) apply `Decision`s.

`child_down` asks the supervisor's policy what to do about a child that ended and does it
through a `Group` (the runtime's own way to stop and start its children); `restart_members`
restarts a group in start order. Restarts are always scheduled, never run in the caller's
stack, so a restart that fails at once is a new event on the control thread, not a recursion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from loguru import logger

from messages.supervision import ChildState, ExitReason
from supervisor.spec import ChildSpec, Supervisor

__all__ = ["FINAL_STATES", "Group", "Member", "child_down", "restart_members"]

log = logger.bind(actor="supervisor")

FINAL_STATES = frozenset({ChildState.STOPPED, ChildState.TERMINATED})
"""States a child stays in until someone restarts it by hand: never part of a group restart."""


class Member(Protocol):
    """A supervised child as `child_down` sees it."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> ChildSpec | None: ...

    @property
    def state(self) -> str: ...


M = TypeVar("M", bound=Member)


class Group(Protocol[M]):
    """What a runtime lends `child_down` to act on its children (all called on its control thread)."""

    def stop_child(self, member: M) -> None:
        """Stop a sibling so that it can be restarted with the group (it is not stopped for good)."""

    def stop_for_good(self, member: M, why: str) -> None:
        """Stop ``member`` (if it runs) and close it: it stays stopped, its mail is dead-lettered."""

    def escalate(self, why: str) -> None:
        """The supervisor gives up: stop its children and fail to its parent (or stop the runtime)."""

    def schedule_restart(self, members: list[M], delay: float) -> None:
        """Call `restart_members` for ``members`` after ``delay`` seconds, as a new control event."""

    def start(self, member: M) -> str | None:
        """Start one member; the failure reason, or None."""

    def mark_restarting(self, member: M) -> None:
        """``member`` waits for the scheduled restart (state "restarting")."""


def child_down(
    policy: Supervisor, children: Sequence[M], failed: M, reason: ExitReason, text: str, now: float, group: Group[M]
) -> None:
    """Apply ``policy`` to ``failed`` (one of ``children``, in start order) that ended with ``reason``."""
    gone = {i for i, member in enumerate(children) if member.state in FINAL_STATES}
    specs = [spec for spec in (member.spec for member in children) if spec is not None]
    decision = policy.on_child_down(children.index(failed), reason, now, gone=gone, children=specs)
    if decision.action == "terminate":
        why = f"{failed.name} ended ({text}); {decision.reason}"
        log.info(why)
        group.stop_for_good(failed, why)
        return
    if decision.action == "escalate":
        group.escalate(f"{decision.reason}; last: {text}")
        return
    members = [children[i] for i in decision.group]
    dropped = set(decision.drop)
    for i in sorted({*decision.group, *dropped}, reverse=True):
        other = children[i]
        if i in dropped:
            group.stop_for_good(other, f"{other.name} is temporary: not restarted with its group ({text})")
        elif other is not failed:
            group.stop_child(other)
    for member in members:
        group.mark_restarting(member)
    if decision.delay > 0:
        log.info("restarting {} in {:.3f}s", [m.name for m in members], decision.delay)
    group.schedule_restart(members, decision.delay)


def restart_members(members: Sequence[M], group: Group[M], on_failure: Callable[[M, ExitReason, str], None]) -> None:
    """Start ``members`` in order; a member that fails to start is reported as a crash and ends the round.

    Members no longer waiting for this restart (terminated or deleted meanwhile) are skipped.
    """
    for member in members:
        if member.state != ChildState.RESTARTING:
            continue
        error = group.start(member)
        if error is not None:
            on_failure(member, ExitReason.CRASH, error)
            return
