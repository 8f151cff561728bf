"""The scheduler: sends configured messages on interval and cron triggers, driven by the injected clock.

`ScheduledJob` is a job as data (who, what, when). `JobPlan` is the pure part: when each job
fires next (cron expressions via croniter). `Scheduler` is the actor: one timer chain per job,
each tick told to itself as `JobDue`, then the job's message told to its target. A job whose
target is down or unknown is logged, never fatal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from actors.base import Actor
from messages.base import Message
from messages.scheduling import GetSchedule, JobDue, JobView, Schedule
from supervisor.clock import Clock, Timer
from supervisor.errors import ActorError

__all__ = ["JobPlan", "ScheduledJob", "Scheduler"]


@dataclass(frozen=True)
class ScheduledJob:
    """Send ``message`` to actor ``target`` every ``every`` seconds, or at each time of the ``cron`` expression."""

    name: str
    target: str
    message: Message
    every: float | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ValueError(f"job {self.name!r}: give exactly one of every= or cron=")
        if self.every is not None and not (math.isfinite(self.every) and self.every > 0):
            raise ValueError(f"job {self.name!r}: every must be a positive number of seconds, got {self.every!r}")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"job {self.name!r}: invalid cron expression {self.cron!r}")
        if not isinstance(self.message, Message):
            raise TypeError(f"job {self.name!r}: message must be a Message, not {type(self.message).__name__}")

    @property
    def trigger(self) -> str:
        return f"every {self.every:g}s" if self.every is not None else f"cron {self.cron}"


@dataclass
class JobPlan:
    """When each job fires next. Pure: give it times, it gives times back."""

    jobs: Sequence[ScheduledJob]
    timezone: str = "UTC"
    _zone: ZoneInfo = field(init=False)

    def __post_init__(self) -> None:
        names = [j.name for j in self.jobs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"job names must be unique, repeated: {repeated}")
        self._zone = ZoneInfo(self.timezone)

    def next_after(self, job: ScheduledJob, moment: float) -> float:
        """The first time strictly after ``moment`` at which ``job`` fires."""
        if job.every is not None:
            return moment + job.every
        start = datetime.fromtimestamp(moment, self._zone)
        return float(croniter(job.cron, start).get_next(float))


class _JobTimer:
    """One job's chain of clock timers; each tick reschedules the next from inside the timer."""

    def __init__(self, clock: Clock, job: ScheduledJob, plan: JobPlan, on_due: Callable[[str, float], None]) -> None:
        self.clock, self.job, self.plan, self.on_due = clock, job, plan, on_due
        self.next_due = plan.next_after(job, clock.now())
        self.cancelled = False
        self._timer: Timer = clock.call_later(self.next_due - clock.now(), self._fire)

    def _fire(self) -> None:
        if self.cancelled:
            return
        due = self.next_due
        self.next_due = self.plan.next_after(self.job, due)
        self._timer = self.clock.call_later(self.next_due - self.clock.now(), self._fire)
        self.on_due(self.job.name, due)

    def cancel(self) -> None:
        self.cancelled = True
        self._timer.cancel()


class Scheduler(Actor):
    """Tells each job's target its message on the job's trigger. Conventional name: "scheduler"."""

    def __init__(self, jobs: Sequence[ScheduledJob], timezone: str = "UTC") -> None:
        super().__init__()
        self.plan = JobPlan(list(jobs), timezone)
        self.jobs = {j.name: j for j in self.plan.jobs}
        self.fired = dict.fromkeys(self.jobs, 0)
        self.errors: dict[str, str | None] = dict.fromkeys(self.jobs)
        self.timers: dict[str, _JobTimer] = {}

    def on_start(self) -> None:
        for job in self.plan.jobs:
            self.timers[job.name] = _JobTimer(self.clock, job, self.plan, self._due)
        self.log.info(
            "{} jobs scheduled: {}", len(self.jobs), ", ".join(f"{j.name} ({j.trigger})" for j in self.jobs.values())
        )

    def _due(self, job: str, due: float) -> None:
        if self.actor_stopped.is_set():  # an abandoned incarnation's timers fall silent
            self.timers[job].cancel()
            return
        self.tell(self.name, JobDue(job, due))

    def on_stop(self) -> None:
        self._cancel_timers()

    def on_failure(self, *exc_info: object) -> None:
        self._cancel_timers()

    def _cancel_timers(self) -> None:
        for timer in self.timers.values():
            timer.cancel()

    def on_job_due(self, message: JobDue) -> None:
        job = self.jobs.get(message.job)
        if job is None:
            return
        self.fired[job.name] += 1
        try:
            self.tell(job.target, job.message)
        except ActorError as error:  # an unknown target: log it, keep scheduling
            self.errors[job.name] = str(error)
            self.log.error("job {}: cannot reach {}: {}", job.name, job.target, error)
        else:
            self.errors[job.name] = None
            self.log.debug("job {} -> {} {}", job.name, job.target, type(job.message).__name__)

    def on_get_schedule(self, message: GetSchedule) -> Schedule:
        return Schedule(
            [
                JobView(
                    name=job.name,
                    target=job.target,
                    message_type=type(job.message).__name__,
                    trigger=job.trigger,
                    next_due=self.timers[job.name].next_due if job.name in self.timers else 0.0,
                    fired=self.fired[job.name],
                    last_error=self.errors[job.name],
                )
                for job in self.jobs.values()
            ]
        )
