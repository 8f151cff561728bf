"""Hedge books journaled before the pair saved small rows (one JSON document per actor in `journal.state`).

Converted once, at start, into today's record and rows; the old document is then deleted.
"""

from __future__ import annotations

from typing import Any

import msgspec

from actors.hedge.job_book import HedgeJob, JobBook
from actors.hedge.opener_book import OpenerBook
from actors.hedge.opener_records import FillState, PendingHedge
from messages.hedge import BHedged, BHedgeFailed

__all__ = ["LEGACY_KEY", "legacy_hedger", "legacy_opener"]

LEGACY_KEY = "state"
"""The `journal.state` key (owner: the actor's name) of the old whole-book document."""


def legacy_opener(data: dict[str, Any]) -> tuple[OpenerBook, list[PendingHedge]]:
    """A's book and its open hedges from the old document (its ``counts`` and lists become fields and rows)."""
    fields = {**data, "orders": {order["order_id"]: order for order in data.get("orders", [])}}
    fields["hedges_done"], fields["hedges_failed"], fields["timeouts"] = data.get("counts", [0, 0, 0])
    book = msgspec.convert(fields, OpenerBook)
    hedges = [
        msgspec.convert({**hedge, "state": state}, PendingHedge)
        for key, state in (
            ("pending", FillState.PENDING),
            ("failed", FillState.FAILED),
            ("residual", FillState.RESIDUAL),
        )
        for hedge in data.get(key, [])
    ]
    return book, hedges


def legacy_hedger(data: dict[str, Any]) -> tuple[JobBook, list[HedgeJob], list[BHedged | BHedgeFailed]]:
    """B's book, jobs and answers from the old document.

    An old open job's attempts used client ids with the request in them: it resumes in doubt,
    so B resolves it at the venue (its fills since the job opened) before placing anything.
    """
    done, failed = data.get("counts", [0, 0])
    book = msgspec.convert({"leg": data.get("leg", {}), "hedges_done": done, "hedges_failed": failed}, JobBook)
    jobs = [
        msgspec.convert({**job, "in_doubt": True, "sent_at": job.get("opened_at", 0.0)}, HedgeJob)
        for job in data.get("jobs", [])
    ]
    answers = msgspec.convert(data.get("answers", []), list[BHedged | BHedgeFailed])
    return book, jobs, answers
