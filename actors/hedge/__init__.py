"""The hedge pair: A (`HedgeAccountA`) trades rounds on its account; B (`HedgeAccountB`) hedges each fill.

Modules, one job each: `legs` (a position and its PnL), `opener_records` (what A saves beside
its book), `opener_book` (A's bookkeeping, `OpenerBook`), `job_book` (B's, `JobBook`),
`legacy` (an older journal's books), `account` (what both actors share), `opener` (actor A)
and `hedger` (actor B). Import from the package.
"""

from actors.hedge.hedger import HedgeAccountB
from actors.hedge.job_book import HedgeJob, JobBook, JobState
from actors.hedge.legs import EPSILON, Leg
from actors.hedge.opener import HedgeAccountA
from actors.hedge.opener_book import OpenerBook
from actors.hedge.opener_records import (
    Direction,
    FillState,
    ManualHedge,
    PendingHedge,
    PlacementInDoubt,
    TrackedOrder,
)

__all__ = [
    "EPSILON",
    "Direction",
    "FillState",
    "HedgeAccountA",
    "HedgeAccountB",
    "HedgeJob",
    "JobBook",
    "JobState",
    "Leg",
    "ManualHedge",
    "OpenerBook",
    "PendingHedge",
    "PlacementInDoubt",
    "TrackedOrder",
]
