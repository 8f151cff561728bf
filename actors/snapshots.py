"""What a balance snapshot counts: its fetch window, and the venue changes inside it held until a re-fetch says.

Pure bookkeeping (no threads, no I/O), used by the gateway. A snapshot is fetched between
``started`` and ``ended``: a change the venue made before ``started`` is in it, one after
``ended`` is not, and one in between may be either. Such a change is held, never guessed:
`explain` compares a fresh snapshot with the ledger to find which held changes it lacks.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from messages.common import Currency

__all__ = ["HeldChange", "Placement", "Window", "explain"]

# More held changes than this on one account are not searched (2**n subsets): they wait for
# the next snapshot, whose window then lies after all of them.
MAX_HELD = 12


class Placement(enum.StrEnum):
    """Where a venue change falls relative to a snapshot."""

    COUNTED = "counted"  # it happened before the fetch began: the snapshot includes it
    NEW = "new"  # after the fetch ended (or no time is known): the snapshot does not include it
    AMBIGUOUS = "ambiguous"  # during the fetch: the snapshot may or may not include it


@dataclass(frozen=True)
class Window:
    """When one snapshot was fetched: the clock just before the venue call and just after its answer."""

    started: float
    ended: float

    def place(self, occurred_at: float | None) -> Placement:
        """Whether a change that happened at the venue at ``occurred_at`` is inside the snapshot."""
        if occurred_at is None:
            return Placement.NEW
        if occurred_at < self.started:
            return Placement.COUNTED
        if occurred_at > self.ended:
            return Placement.NEW
        return Placement.AMBIGUOUS


@dataclass(frozen=True)
class HeldChange:
    """A venue change inside a snapshot's window, not applied until a re-fetch explains it.

    ``deltas``: what it moves per currency (totals); ``message``: what to apply if it turns out
    not to be counted; ``ref``: its identity (trade id, adjust ref) for logs and repeats.
    """

    ref: Hashable
    occurred_at: float
    deltas: Mapping[Currency, float]
    message: Any = field(compare=False)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def explain(
    held: Sequence[HeldChange], ledger: Mapping[Currency, float], venue: Mapping[Currency, float]
) -> list[HeldChange] | None:
    """The held changes a fresh snapshot has and the ledger lacks, or None when none explains it.

    ``ledger``: the ledger's totals (the old snapshot plus every change applied since, none of
    the held ones); ``venue``: a snapshot fetched after every held change happened, so it counts
    them all. The subset to apply is the one whose deltas make up ``venue - ledger`` on every
    currency a held change touches. None means something else also moved (another change on its
    way, an external movement): try again later. Subsets with equal deltas are interchangeable.
    """
    if not held or len(held) > MAX_HELD:
        return None if held else []
    currencies = sorted({currency for change in held for currency in change.deltas})
    gap = {c: venue.get(c, 0.0) - ledger.get(c, 0.0) for c in currencies}
    for size in range(len(held) + 1):
        for subset in itertools.combinations(held, size):
            if all(_close(gap[c], math.fsum(change.deltas.get(c, 0.0) for change in subset)) for c in currencies):
                return list(subset)
    return None
