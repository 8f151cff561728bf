"""One deployment assembled from its configuration: the venue, board, journal and supervision tree.

`System(deployment)` builds everything a `Deployment` describes and runs it in this process;
`System.child_spec(name)` is how any single actor is built (process mode builds one per node).
`status` and `summary` gather what the operator sees, asking the actors from outside.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from actors.chains import ChainExecutor
from actors.gateway import Gateway, GatewayAccount
from actors.health import HealthMonitor
from actors.hedge import HedgeAccountA, HedgeAccountB
from actors.prices import PriceBook
from actors.report import Reporter
from actors.scheduler import ScheduledJob, Scheduler
from actors.stores.board import BalanceBoard, InMemoryBoard, install_board
from actors.stores.journal import Journal
from actors.tasks import TaskManagerActor
from actors.transfers import TransferExecutor
from actors.venues.counting import CountingVenue
from actors.venues.sent import StateStore
from actors.venues.simulated import MarketSpec, Route, SimulatedVenue
from desk.alerts import AlertsActor, check_sinks
from desk.check_venue import preflight
from desk.config import Deployment, HistoryConfig, JobConfig, actor_names, default_jobs, resolve_import
from desk.history import HistoryStore
from desk.live_venues import build_live_venues
from desk.status import collect_status
from messages.base import Message
from messages.codec import decode_json
from supervisor.clock import Clock, SystemClock
from supervisor.runtime import Runtime
from supervisor.spec import ChildSpec, Supervisor

__all__ = ["ActorFactory", "Services", "System", "build_venue"]


def build_venue(deployment: Deployment, clock: Clock, state: StateStore | None = None) -> Any:
    """The simulated venue a deployment describes, with its opening balances and faults; with
    ``[venues.*]`` the real adapters in front of it (`desk.live_venues`), checked before use
    (`desk.check_venue.preflight`: unreadable balances or missing hedge markets refuse the start).
    ``state`` keeps what the real adapters sent (the journal's state store)."""

    config = deployment.venue
    venue = SimulatedVenue(
        clock,
        seed=config.seed,
        balances={(a.exchange, a.account): dict(a.balances) for a in deployment.accounts},
        routes={(r.from_exchange, r.to_exchange): Route(r.delay, r.fee, r.jitter) for r in config.routes},
        default_route=Route(config.default_route.delay, config.default_route.fee, config.default_route.jitter),
        markets={name: MarketSpec(**msgspec.structs.asdict(m)) for name, m in config.markets.items()},
    )
    faults = config.faults
    if faults.reject_transfers:
        venue.faults.reject_next(faults.reject_transfers, "transfer")
    if faults.timeout_after_move:
        venue.faults.timeout_after_move_next(faults.timeout_after_move)
    if faults.reject_orders:
        venue.faults.reject_next(faults.reject_orders, "create_order")
    if faults.latency:
        venue.faults.latency(faults.latency)
    if deployment.venues:
        live = build_live_venues(deployment, clock, venue, state)
        preflight(live, deployment)
        return CountingVenue(live)
    return CountingVenue(venue)


def job_message(job: JobConfig) -> Message:
    return decode_json(msgspec.json.encode({**job.params, "type": job.message}))


@dataclass
class Services:
    """What actors are built with: the venue, the balance board, the journal and the clock."""

    venue: Any
    board: BalanceBoard
    journal: Journal
    clock: Clock
    _history: HistoryStore | None = field(default=None, init=False, repr=False)

    def history(self, config: HistoryConfig) -> HistoryStore:
        """The history kept beside the journal (what the dashboard's sampler writes), opened once, closed with the rest."""
        if self._history is None:
            self._history = HistoryStore(self.journal.path, config)
        return self._history

    def close(self) -> None:
        for service in (self.venue, self.board, self._history):
            close = getattr(service, "close", None)
            if close is not None:
                close()
        self.journal.close()


class ActorFactory:
    """Builds any actor of a deployment (built-in or extra) from `Services`: a `ChildSpec` per name."""

    def __init__(self, deployment: Deployment, services: Services) -> None:
        self.deployment = deployment
        self.services = services
        self.names = actor_names(deployment)

    def child_spec(self, name: str) -> ChildSpec:
        """How to build and supervise the actor called ``name``."""
        for actor in self.deployment.actors:
            if actor.name == name:
                return ChildSpec(
                    name,
                    _extra_actor_factory(resolve_import(actor.class_path, f"actors.{name}.class"), dict(actor.params)),
                    actor.restart,
                    actor.shutdown_timeout,
                )
        return ChildSpec(name, self._builtin(name))

    def _builtin(self, name: str) -> Callable[[], Any]:
        d = self.deployment
        venue, board, journal = self.services.venue, self.services.board, self.services.journal
        if name == "gateway":
            accounts = [
                GatewayAccount(
                    a.exchange,
                    a.account,
                    a.strategy_count,
                    dict(a.credit_limits),
                    tuple(dict.fromkeys([*a.currencies, *a.balances])),
                )
                for a in d.accounts
            ]
            return lambda: Gateway(
                venue, board, accounts, dict(d.gateway.strategies), retry_delay=d.gateway.retry_delay
            )
        if name == "alerts":
            check_sinks(d.alerts.sinks)  # a sink URL apprise does not understand fails here, before anything runs
            return lambda: AlertsActor(d.alerts.sinks, keep=d.alerts.keep)
        if name == "tasks":
            return lambda: TaskManagerActor(d.tasks.default_expire_seconds, journal=journal)
        if name == "transfers":
            follow_ups = {k: resolve_import(v, f"transfers.follow_ups.{k}") for k, v in d.transfers.follow_ups.items()}
            overdue_after = d.transfers.overdue_after
            return lambda: TransferExecutor(venue, board, journal, follow_ups=follow_ups, overdue_after=overdue_after)
        if name == "chains":
            return lambda: ChainExecutor(venue, journal)
        if name == "prices":
            return lambda: PriceBook(venue, list(d.venue.markets))
        if name == "health":
            watched = d.scheduler.health_watch or [n for n in self.names if n != "health"]
            return lambda: HealthMonitor(watched)
        if name == "report":
            hedge = "hedge_a" if d.hedge is not None and d.hedge.enabled else None
            history = self.services.history(d.history)
            return lambda: Reporter(board, hedge=hedge, history=history.summary)
        if name == "scheduler":
            configured = d.scheduler.jobs if d.scheduler.jobs is not None else default_jobs()
            if d.hedge is not None and d.hedge.enabled and d.scheduler.jobs is None:
                configured = [
                    *configured,
                    JobConfig(name="hedge_round", target="hedge_a", message="HedgeTick", every=5.0),
                ]
            jobs = [
                ScheduledJob(j.name, j.target, job_message(j), every=j.every, cron=j.cron)
                for j in [*configured, *d.scheduler.extra_jobs]
            ]
            return lambda: Scheduler(jobs, d.scheduler.timezone)
        if name in ("hedge_a", "hedge_b"):
            return self._hedge(name)
        raise ValueError(f"no actor named {name!r} in this deployment")

    def _hedge(self, name: str) -> Callable[[], Any]:

        h, venue, journal = self.deployment.hedge, self.services.venue, self.services.journal
        assert h is not None
        if name == "hedge_a":
            return lambda: HedgeAccountA(
                venue,
                h.a.exchange,
                h.a.account,
                market=h.market,
                quantity=h.quantity,
                offset_bps=h.offset_bps,
                hedger="hedge_b",
                hedger_account=h.b.account,
                timeout=h.timeout,
                remind_every=h.remind_every,
                continue_after_hedge=h.continue_after_hedge,
                journal=journal,
                exposure_limit=h.exposure_limit,
                cancel_on_stop=h.cancel_on_stop,
            )
        return lambda: HedgeAccountB(
            venue, h.b.exchange, h.b.account, market=h.market, retries=h.retries, journal=journal
        )


def _extra_actor_factory(cls: Callable[..., Any], params: dict[str, Any]) -> Callable[[], Any]:
    return lambda: cls(**params)


class System:
    """A whole deployment running in this process. Use as a context manager, or `start` / `stop`."""

    def __init__(self, deployment: Deployment, clock: Clock | None = None, venue: Any = None) -> None:
        self.deployment = deployment
        self.clock: Clock = clock or SystemClock()
        deployment.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(deployment.folder, 0o700)
        journal = Journal(deployment.journal_path)
        try:
            venue = venue if venue is not None else build_venue(deployment, self.clock, journal.state)
        except BaseException:
            journal.close()
            raise
        self.services = Services(
            venue=venue,
            board=InMemoryBoard(),
            journal=journal,
            clock=self.clock,
        )
        self.venue, self.board, self.journal = self.services.venue, self.services.board, self.services.journal
        self.factory = ActorFactory(deployment, self.services)
        self.names = self.factory.names
        s = deployment.supervisor
        self.runtime = Runtime(
            Supervisor(
                [self.factory.child_spec(name) for name in self.names],
                strategy=s.strategy,
                intensity=s.intensity,
                period=s.period,
                backoff=s.backoff,
            ),
            clock=self.clock,
            heartbeat_interval=deployment.runtime.heartbeat_interval,
            hang_timeout=deployment.runtime.hang_timeout,
        )

    # ---- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> System:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        install_board(self.board)
        self.runtime.start()

    def stop(self) -> None:
        self.runtime.stop()
        self.services.close()
        install_board(None)

    # ---- what the operator sees -----------------------------------------------------------------

    def ask(self, name: str, message: Message, timeout: float = 2.0) -> Any:
        return self.runtime.ask(name, message, timeout=timeout)

    def status(self) -> dict[str, Any]:
        """Actors, balances per slot, pending tasks, chains, hedge state - as plain data."""
        return collect_status(self.ask, self.runtime.status(), self.runtime.dead_letter_count, self.names)
