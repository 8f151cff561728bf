"""Scheduler and health messages: jobs firing, the schedule as data, liveness of every actor."""

from __future__ import annotations

from typing import ClassVar

from messages.base import Message

__all__ = ["ActorHealth", "CheckHealth", "GetHealth", "GetSchedule", "HealthReport", "JobDue", "JobView", "Schedule"]


class JobDue(Message, frozen=True):
    """The scheduler's own timer tick: job ``job`` is due at ``due`` (seconds since the epoch)."""

    actor_only: ClassVar[bool] = True

    job: str
    due: float


class GetSchedule(Message, frozen=True):
    """Answer: `Schedule`."""


class JobView(Message, frozen=True):
    name: str
    target: str
    message_type: str
    trigger: str  # "every 60s" or "cron 0 8 * * *"
    next_due: float
    fired: int
    last_error: str | None = None


class Schedule(Message, frozen=True):
    jobs: list[JobView]


class CheckHealth(Message, frozen=True):
    """Ping every watched actor now, and judge the previous round's answers."""


class GetHealth(Message, frozen=True):
    """Answer: `HealthReport`."""


class ActorHealth(Message, frozen=True):
    name: str
    alive: bool
    last_pong: float | None  # when it last answered, seconds since the epoch
    missed: int  # health checks in a row it did not answer


class HealthReport(Message, frozen=True):
    actor_only: ClassVar[bool] = True
    checked_at: float | None
    actors: list[ActorHealth]
