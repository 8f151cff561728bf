"""The scheduler with the manual clock: firing order, cron triggers, unreachable targets; the health monitor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from actors.health import HealthMonitor
from actors.scheduler import JobPlan, ScheduledJob, Scheduler
from messages.scheduling import CheckHealth, GetHealth, GetSchedule, HealthReport, Schedule
from supervisor import ChildSpec, ManualClock, Runtime, Supervisor
from tests.probe import Block, Note, Probe, recorder

MIDNIGHT = datetime(2026, 3, 2, 0, 0, tzinfo=UTC).timestamp()


def test_interval_jobs_fire_every_period_in_time_order(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    probe = Probe()
    jobs = [
        ScheduledJob("fast", "rec", Note("fast"), every=5.0),
        ScheduledJob("slow", "rec", Note("slow"), every=10.0),
        ScheduledJob("minute", "rec", Note("minute"), every=60.0),
    ]
    rt = make_runtime(Supervisor([ChildSpec("rec", recorder(probe)), ChildSpec("scheduler", lambda: Scheduler(jobs))]))
    clock.advance(60.0)
    assert probe.wait_for(lambda: len(probe.notes("rec")) == 12 + 6 + 1)
    notes = probe.notes("rec")
    assert notes.count("fast") == 12 and notes.count("slow") == 6 and notes.count("minute") == 1
    # t=5 fast; t=10 slow then fast (same instant: timers fire in the order they were set,
    # and slow's t=10 timer was set at start, fast's only when it fired at t=5)
    assert notes[:3] == ["fast", "slow", "fast"]
    schedule = rt.ask("scheduler", GetSchedule())
    assert isinstance(schedule, Schedule)
    assert {j.name: j.fired for j in schedule.jobs} == {"fast": 12, "slow": 6, "minute": 1}


def test_a_cron_job_fires_at_its_wall_clock_time(make_runtime: Callable[..., Runtime]) -> None:
    clock = ManualClock(start=MIDNIGHT)
    probe = Probe()
    jobs = [ScheduledJob("report", "rec", Note("daily report"), cron="0 8 * * *")]
    make_runtime(Supervisor([ChildSpec("rec", recorder(probe)), ChildSpec("s", lambda: Scheduler(jobs))]), clock=clock)
    clock.advance(8 * 3600 - 1)
    clock.advance(0.5)
    assert probe.notes("rec") == []
    clock.advance(0.5)  # 08:00:00 UTC
    assert probe.wait_for(lambda: probe.notes("rec") == ["daily report"])
    clock.advance(24 * 3600)
    assert probe.wait_for(lambda: probe.notes("rec") == ["daily report"] * 2)


def test_cron_follows_the_configured_timezone() -> None:
    plan = JobPlan([ScheduledJob("r", "x", Note("r"), cron="0 8 * * *")], timezone="Asia/Shanghai")
    fires = plan.next_after(plan.jobs[0], MIDNIGHT)
    assert datetime.fromtimestamp(fires, UTC).hour == 0  # 08:00 in Shanghai is 00:00 UTC (the next one)
    assert fires - MIDNIGHT == 24 * 3600


def test_a_job_whose_target_is_unknown_is_logged_not_fatal(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    probe = Probe()
    jobs = [ScheduledJob("lost", "nobody", Note("x"), every=1.0), ScheduledJob("ok", "rec", Note("ok"), every=1.0)]
    rt = make_runtime(Supervisor([ChildSpec("rec", recorder(probe)), ChildSpec("s", lambda: Scheduler(jobs))]))
    clock.advance(3.0)
    assert probe.wait_for(lambda: probe.notes("rec") == ["ok"] * 3)
    schedule = rt.ask("s", GetSchedule())
    lost = next(j for j in schedule.jobs if j.name == "lost")
    assert lost.fired == 3 and lost.last_error is not None and "no actor named 'nobody'" in lost.last_error
    assert rt.status_of("s").restarts == 0


def test_a_job_whose_target_is_down_is_dead_lettered_and_scheduling_goes_on(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    probe = Probe()
    jobs = [ScheduledJob("t", "tmp", Note("tick"), every=1.0)]
    rt = make_runtime(
        Supervisor(
            [ChildSpec("tmp", recorder(probe), restart="temporary"), ChildSpec("s", lambda: Scheduler(jobs))],
            backoff=(0, 0),
        )
    )
    from tests.probe import Crash

    rt.tell("tmp", Crash())
    assert rt.wait_until(lambda: rt.status_of("tmp").state == "stopped")
    clock.advance(2.0)
    assert rt.wait_until(lambda: sum(d.recipient == "tmp" and d.message_type == "Note" for d in rt.dead_letters) == 2)
    assert rt.status_of("s").state == "running"


def test_bad_jobs_are_refused_with_the_job_named() -> None:
    with pytest.raises(ValueError, match="job 'x': give exactly one of every= or cron="):
        ScheduledJob("x", "t", Note("n"))
    with pytest.raises(ValueError, match="invalid cron expression"):
        ScheduledJob("x", "t", Note("n"), cron="every tuesday")
    with pytest.raises(ValueError, match="every must be a positive"):
        ScheduledJob("x", "t", Note("n"), every=0)
    with pytest.raises(ValueError, match="repeated"):
        JobPlan([ScheduledJob("a", "t", Note("n"), every=1), ScheduledJob("a", "t", Note("n"), every=2)])


def test_a_restarted_scheduler_does_not_double_its_timers(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    probe = Probe()
    jobs = [ScheduledJob("t", "rec", Note("tick"), every=10.0)]
    rt = make_runtime(
        Supervisor([ChildSpec("rec", recorder(probe)), ChildSpec("s", lambda: Scheduler(jobs))], backoff=(0, 0))
    )
    rt._post(rt._hung, rt._cells["s"])  # noqa: SLF001 - abandon the incarnation as the watchdog would
    assert rt.wait_until(lambda: rt.status_of("s").restarts == 1 and rt.status_of("s").state == "running")
    clock.advance(30.0)
    assert probe.wait_for(lambda: len(probe.notes("rec")) >= 3)
    rt.ask("rec", Note("sync"))
    assert probe.notes("rec").count("tick") == 3


def test_health_monitor_reports_who_answered(make_runtime: Callable[..., Runtime], clock: ManualClock) -> None:
    probe = Probe()
    rt = make_runtime(
        Supervisor(
            [
                ChildSpec("a", recorder(probe)),
                ChildSpec("b", recorder(probe)),
                ChildSpec("health", lambda: HealthMonitor(["a", "b"])),
            ]
        ),
        hang_timeout=3600.0,
    )
    rt.tell("b", Block("stuck"))
    assert probe.wait_for(lambda: bool(probe.of("blocked", "b")))
    rt.ask("health", CheckHealth())
    rt.ask("a", Note("sync"))  # a answered its Ping before this note
    report = rt.ask("health", CheckHealth())  # judges round 1
    assert isinstance(report, HealthReport)
    by_name = {h.name: h for h in report.actors}
    assert by_name["a"].alive and by_name["a"].missed == 0
    assert not by_name["b"].alive and by_name["b"].missed == 1
    probe.gate("stuck").set()
    rt.ask("a", Note("sync"))  # both have answered their pings (the Pongs are queued at health)
    rt.ask("b", Note("sync"))
    rt.ask("health", CheckHealth())  # judges round 2: b answered once unblocked
    final = rt.ask("health", GetHealth())
    assert {h.name: h.alive for h in final.actors} == {"a": True, "b": True}
