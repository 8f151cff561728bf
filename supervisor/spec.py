"""Supervision as data: `ChildSpec` says how to start and restart one child, `Supervisor` the policy.

Both are plain objects with no threads: `Supervisor` decides (which children restart, whether
the restart intensity is exceeded, how long to back off) and the `Runtime` carries it out.
The semantics are Erlang/OTP's: one_for_one / one_for_all / rest_for_one, permanent /
transient / temporary, at most ``intensity`` restarts within ``period`` seconds.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union

from messages.supervision import ExitReason

if TYPE_CHECKING:
    from supervisor.hosted import HostedActor

__all__ = ["ChildSpec", "Decision", "Restart", "Strategy", "Supervisor"]

Restart = Literal["permanent", "transient", "temporary"]
Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]

_RESTARTS = ("permanent", "transient", "temporary")
_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")

Factory = Union[Callable[[], "HostedActor"], "Supervisor"]


@dataclass(frozen=True)
class ChildSpec:
    """One child: its unique name, how to build it, when to restart it, how long it may take to stop.

    ``factory`` builds a new actor instance each time it is called (for example
    ``lambda: Gateway(venue)``), or is a `Supervisor` for a nested subtree.
    ``restart``: "permanent" (always restarted), "transient" (restarted only after a
    crash or hang, not after a normal stop), "temporary" (never restarted, not even with its
    group under one_for_all / rest_for_one).
    ``shutdown_timeout``: seconds a graceful stop may take before the thread is abandoned;
    0 is OTP's ``brutal_kill``: no stop request and no ``on_stop`` (see `Runtime`).
    """

    name: str
    factory: Factory
    restart: Restart = "permanent"
    shutdown_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a child needs a non-empty name, got {self.name!r}")
        if self.restart not in _RESTARTS:
            raise ValueError(f"child {self.name!r}: restart must be one of {_RESTARTS}, got {self.restart!r}")
        if not (self.shutdown_timeout >= 0):
            raise ValueError(f"child {self.name!r}: shutdown_timeout must be >= 0, got {self.shutdown_timeout!r}")
        if not isinstance(self.factory, Supervisor) and not callable(self.factory):
            raise TypeError(f"child {self.name!r}: factory must be callable or a Supervisor")
        check = getattr(self.factory, "dispatch_table", None) if isinstance(self.factory, type) else None
        if check is not None:
            check()  # an actor class given as the factory: its handler contract is checked now

    @property
    def is_supervisor(self) -> bool:
        return isinstance(self.factory, Supervisor)


@dataclass(frozen=True)
class Decision:
    """What to do about a child that went down: "terminate" it for good, "restart" the ``group``
    (child indexes, in start order) after ``delay`` seconds, or "escalate" (give up).

    ``drop``: siblings in the strategy's group that are stopped for good instead of restarted
    (temporary children, as OTP does).
    """

    action: Literal["terminate", "restart", "escalate"]
    group: tuple[int, ...] = ()
    delay: float = 0.0
    reason: str = ""
    drop: tuple[int, ...] = ()


class Supervisor:
    """A restart policy over an ordered list of children (which may include nested supervisors).

    Children start in order and stop in reverse. More than ``intensity`` restarts within
    ``period`` seconds and the supervisor gives up: it stops its children and fails to its
    parent (at the top, the runtime stops). Each restart waits an exponential backoff
    between ``backoff[0]`` and ``backoff[1]`` seconds, with jitter from ``rng``.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec],
        strategy: Strategy = "one_for_one",
        intensity: int = 3,
        period: float = 5.0,
        backoff: tuple[float, float] = (0.1, 5.0),
        rng: random.Random | None = None,
    ) -> None:
        if strategy not in _STRATEGIES:
            raise ValueError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}")
        if not isinstance(intensity, int) or intensity < 0:
            raise ValueError(f"intensity must be an integer >= 0, got {intensity!r}")
        if not (period > 0):
            raise ValueError(f"period must be > 0 seconds, got {period!r}")
        low, high = backoff
        if not (0 <= low <= high):
            raise ValueError(f"backoff must be (min, max) with 0 <= min <= max, got {backoff!r}")
        names = [c.name for c in children]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"child names must be unique, repeated: {duplicates}")
        self.children: tuple[ChildSpec, ...] = tuple(children)
        self.strategy: Strategy = strategy
        self.intensity = intensity
        self.period = float(period)
        self.backoff = (float(low), float(high))
        self._rng = rng or random.Random()
        self._restarts: deque[float] = deque()

    def __repr__(self) -> str:
        return f"Supervisor({[c.name for c in self.children]}, strategy={self.strategy!r})"

    def reset(self) -> None:
        """Forget past restarts (a restarted supervisor starts with a clean history)."""
        self._restarts.clear()

    def allow_restart(self, now: float) -> bool:
        """Record a restart at ``now``; False if that would exceed the intensity (give up instead)."""
        while self._restarts and self._restarts[0] <= now - self.period:
            self._restarts.popleft()
        if len(self._restarts) >= self.intensity:
            return False
        self._restarts.append(now)
        return True

    def backoff_delay(self) -> float:
        """How long to wait before the restart just allowed: min * 2**(n-1), capped, with jitter."""
        low, high = self.backoff
        if high <= 0:
            return 0.0
        attempt = max(1, len(self._restarts))
        base = min(high, low * 2.0 ** (attempt - 1))
        jitter: float = self._rng.random()
        return max(low, base * (0.5 + 0.5 * jitter))

    def on_child_down(
        self,
        index: int,
        reason: ExitReason,
        now: float,
        *,
        gone: Collection[int] = (),
        children: Sequence[ChildSpec] | None = None,
    ) -> Decision:
        """Decide about child ``index`` that ended with ``reason`` at ``now``.

        ``gone``: indexes of children stopped for good (never part of a group restart).
        ``children``: the supervisor's current children when they changed since it was built
        (`Runtime.start_child` / `delete_child`); default: the children it was built with.
        """
        specs = self.children if children is None else tuple(children)
        spec = specs[index]
        if spec.restart == "temporary" or (spec.restart == "transient" and not reason.abnormal):
            return Decision("terminate", reason=f"{spec.name} is {spec.restart}: not restarted")
        if not self.allow_restart(now):
            return Decision("escalate", reason=f"more than {self.intensity} restarts within {self.period}s")
        group = [i for i in self.restart_group(index, len(specs)) if i == index or i not in gone]
        restart = tuple(i for i in group if i == index or specs[i].restart != "temporary")
        drop = tuple(i for i in group if i not in restart)
        return Decision("restart", restart, self.backoff_delay(), drop=drop)

    def restart_group(self, failed: int, count: int | None = None) -> list[int]:
        """Indexes of the children to restart, in start order, when child ``failed`` of ``count`` went down."""
        count = len(self.children) if count is None else count
        if self.strategy == "one_for_one":
            return [failed]
        if self.strategy == "one_for_all":
            return list(range(count))
        return list(range(failed, count))
