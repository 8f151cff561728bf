"""One seed, one run of the whole desk: load, faults and crashes from the seed, invariants after every settled step.

The desk is the real `System` (every actor on its own thread, the journal in real SQLite) on a
`ManualClock`. A `Gate` lets one actor handle one message at a time, the next picked by the
seed, so the run is a pure function of the seed. A step applies the seed's load, faults and
crashes, settles (every mailbox empty), checks, advances the clock, settles and checks again.
The first violation stops the run; `SimResult.replay` is the command that repeats it exactly.
The exchanges are a `VenueWorld` (`desk.simulation.venues`): the simulated venue by default.
(About 440 lines, over the usual 400: one run's steps, settling and checks share its state; the
load and faults are in `chaos`, the checks themselves in `invariants`.)
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from actors.gateway import UNINITIALISED_ALERT, Gateway
from desk.simulation.chaos import Chaos
from desk.simulation.gate import Gate, SettleTimeout
from desk.simulation.invariants import (
    AlertLog,
    check_chains,
    check_conservation,
    check_hedge,
    check_ledgers,
    check_tasks,
    hedge_figures,
)
from desk.simulation.venues import SimulatedWorld, VenueWorld
from desk.simulation.world import (
    HEDGE_QUANTITY,
    FaultClass,
    SimOptions,
    desk_deployment,
)
from desk.status import unsettled_accounts
from desk.system import System
from messages.alerts import Alert
from messages.balances import Reconcile
from messages.common import Currencies, exchange_name
from messages.hedge import HedgeTick, ResumeTrading
from messages.transfers import AdvanceChains, RunTransfers
from supervisor.clock import ManualClock

__all__ = ["SimResult", "Simulation", "Violation", "run_seed"]

MAX_TURNS = 20_000  # handled messages per settle before the desk counts as not settling
STEP_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
INTENT_STATES = ("sending", "in_doubt", "in_flight", "done", "failed")


class Violation(Exception):
    """An invariant that did not hold."""


class SimResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one seed's run did and whether every invariant held."""

    seed: int
    ok: bool
    violation: str | None
    step: str
    sim_seconds: float
    turns: int
    crashes: dict[str, int]
    faults: dict[str, int]
    digest: str
    seconds: float
    replay: str


def _scratch() -> Path | None:
    """Where runs keep their journal: a private folder in memory (/dev/shm) when there is one, kept
    between runs (so nothing appears there per run), else the usual temporary folder."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return None
    folder = shm / f"treasury-sim-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def replay_command(seed: int, options: SimOptions, world: str = "") -> str:
    """The one-line command that runs ``seed`` again exactly (options that differ from the defaults spelled out)."""
    default = SimOptions()
    parts = ["bin/run", "simulate", "--seed", str(seed)]
    if world:
        parts += ["--world", world]
    if options.disabled != default.disabled:
        parts += ["--disable", ",".join(sorted(options.disabled)) or "none"]
    if options.steps != default.steps:
        parts += ["--steps", str(options.steps)]
    if options.hedge_alerts != default.hedge_alerts:
        parts.append("--hedge-alerts" if options.hedge_alerts else "--no-hedge-alerts")
    if options.exposure_alert_after != default.exposure_alert_after:
        parts += ["--exposure-alert-after", repr(options.exposure_alert_after)]
    return " ".join(parts)


class Simulation(Chaos):
    """The whole desk under one seed. `run` returns a `SimResult`; nothing is left running."""

    def __init__(
        self,
        seed: int,
        options: SimOptions | None = None,
        folder: Path | None = None,
        verbose: bool = False,
        world: VenueWorld | None = None,
    ) -> None:
        self.seed = seed
        self.verbose = verbose
        self.asked = options or SimOptions()  # as given (the replay command spells these)
        self.world: VenueWorld = world or SimulatedWorld()
        # what runs: the classes the world cannot make are off too
        self.options = msgspec.structs.replace(self.asked, disabled=self.asked.disabled | self.world.unsupported)
        self.rng = random.Random(seed)  # load, faults and crashes
        self.turn_rng = random.Random(self.rng.getrandbits(64))  # who handles the next message
        self.write_rng = random.Random(f"{seed}-journal-writes")  # its own stream: the others are unchanged by it
        self.clock = ManualClock()
        base = folder or Path(tempfile.mkdtemp(prefix=f"seed-{seed}-", dir=_scratch()))
        self.folder, self._own_folder = base, folder is None
        world_rng = random.Random(f"{seed}-world")  # the world's own stream: the others are unchanged by it
        self.deployment = desk_deployment(
            base / "run",
            self.rng,
            self.options,
            lambda data: self.world.configure(data, base, world_rng, self.clock),
        )
        try:
            self.system = System(self.deployment, clock=self.clock, venue=self.world.venue())
            self.world.attach(self.system)
        except BaseException:
            self.world.close()
            raise
        self.venue: VenueWorld = self.world  # the ground truth the invariants read, and the venue's faults
        self.journal = self.system.journal
        self.gate = Gate()
        self.gate.install(self.system.runtime)
        self.armed_write: str | None = None  # the journal store whose next write crashes its writer
        self._watch_journal_writes()
        self.names = sorted(self.system.names)
        self.alerts = AlertLog()
        self.trace = hashlib.sha1(str(seed).encode())
        self.step = "start"
        self.turns = 0
        self.crashes: Counter[str] = Counter()
        self.faults_fired: Counter[str] = Counter()  # the harness's own faults (the venue counts its own)
        self.instances: set[tuple[Any, int]] = set()
        self.tainted: set[tuple[Any, str]] = set()  # accounts whose events were lost until a clean reconcile
        self.lost_seen = 0
        self.exposed_since: float | None = None
        self.outage_until = 0.0
        self.chains = 0
        self.story: list[str] = []  # what the seed did, for a failure report

    # ---- the run -----------------------------------------------------------------------------

    def run(self) -> SimResult:
        started = time.monotonic()
        violation: str | None = None
        sink = logger.add(self._on_log, level="INFO", filter=lambda r: "alert" in r["extra"], catch=True)
        try:
            self.system.start()
            self.settle()
            self.check()
            for i in range(self.options.steps):
                self.step = f"step {i}"
                self.one_step()
            self.quiet()
        except Violation as error:
            violation = str(error)
        except SettleTimeout as error:
            violation = f"the desk did not settle: {error}"
        finally:
            self.gate.open()
            self.system.stop()
            self.world.close()
            logger.remove(sink)
            if self._own_folder:
                shutil.rmtree(self.folder, ignore_errors=True)
        return SimResult(
            seed=self.seed,
            ok=violation is None,
            violation=violation,
            step=self.step,
            sim_seconds=round(self.clock.now() - ManualClock().now(), 3),
            turns=self.turns,
            crashes=dict(sorted(self.crashes.items())),
            faults=dict(sorted((Counter(self.venue.faults.fired) + self.faults_fired).items())),
            digest=self.trace.hexdigest()[:16],
            seconds=round(time.monotonic() - started, 3),
            replay=replay_command(self.seed, self.asked, self.world.path),
        )

    def one_step(self) -> None:
        rng, options = self.rng, self.options
        self.venue.faults.latency(0.0)
        if not options.enabled(FaultClass.SNAPSHOT_RACES):
            # Without snapshot races the gateway fetches balances only at a fresh instant, nothing moving.
            if rng.random() < 0.15:
                self._fresh_instant()
                self._do("reconcile", lambda: self._tell("gateway", Reconcile()))
                self.settle()
            if (
                options.enabled(FaultClass.CRASHES)
                and rng.random() < options.crash_rate / 3
                and self.clock.now() >= self.outage_until
            ):
                self._fresh_instant()
                self._do("crash gateway", lambda: self._crash_idle("gateway"))
                self.settle()
        for _ in range(rng.randint(1, 3)):
            self._load()
        if rng.random() < options.fault_rate:
            self._fault()
        if options.enabled(FaultClass.CRASHES) and rng.random() < options.crash_rate:
            victims = [n for n in self.names if n != "gateway" or options.enabled(FaultClass.SNAPSHOT_RACES)]
            victim = rng.choice(victims)
            self._note(f"crash {victim} between messages")
            self._crash_idle(victim)
        if options.enabled(FaultClass.CRASHES_AFTER_WRITE) and self.write_rng.random() < options.crash_after_write_rate:
            self.armed_write = self.write_rng.choice(["tasks", "intents", "chains", "state"])
            self._note(f"fault: the next {self.armed_write} journal write crashes its writer")
        if options.enabled(FaultClass.OPERATOR_RESUMES) and self._paused() and rng.random() < 0.3:
            retry = rng.random() < 0.7
            self._note(f"operator resumes A (retry_failed={retry})")
            self._tell("hedge_a", ResumeTrading(operator="simulation", retry_failed=retry))
        self.settle()
        self.check()
        seconds = rng.choice(STEP_SECONDS)
        self._note(f"advance {seconds}s")
        self.clock.advance(seconds)
        self.settle()
        self.check()

    def _moving(self) -> bool:
        """Whether a transfer is still open or a chain has a hop on its way (more quiet rounds may finish them)."""
        if self.journal.intents.open_intents():
            return True
        return any(c["status"] == "in_flight" for c in self.journal.chains.load_all().values())

    def _fresh_instant(self) -> None:
        """Move the clock a hair, to an instant after every venue event so far, with nothing due at it."""
        while True:
            turns = self.turns
            self.clock.advance(self.world.instant)
            self.settle()
            if self.turns == turns:
                return

    def quiet(self) -> None:
        """No more faults, crashes or load: the desk must finish everything it started."""
        self.step = "quiet"
        self.venue.faults.clear()
        self.armed_write = None
        for round_ in range(self.options.quiet_rounds * 3):
            if round_ >= self.options.quiet_rounds and not self._moving():
                break
            self._tell("transfers", RunTransfers(reason="quiet"))
            self._tell("chains", AdvanceChains())
            self._tell("hedge_a", HedgeTick(reason="quiet"))
            self.settle()
            self.check()
            self.clock.advance(30.0)
            self.settle()
            self.check()
        self.step = "end"
        if self.tainted:
            self._fresh_instant()
            self._tell("gateway", Reconcile())
            self.settle()
            self.tainted.clear()
        self.check(final=True)

    # ---- settling ------------------------------------------------------------------------------

    def settle(self) -> None:
        """Hand out turns, one message at a time, until every mailbox is empty."""
        holding = self.options.enabled(FaultClass.CRASHES_HOLDING) and self.step.startswith("step")
        races = self.options.enabled(FaultClass.SNAPSHOT_RACES)
        for _ in range(MAX_TURNS):
            self.gate.wait_idle()
            ready = self.gate.ready()
            if not ready and not self.world.flush():
                return
            if not ready:
                continue
            box = self.turn_rng.choice(ready)
            head = box.head()
            self.trace.update(f"{box.name}:{type(head).__name__};".encode())
            if self.verbose:
                self.story.append(f"{'':9} turn {box.name} <- {head!r:.300}")
            eligible = holding and (box.name != "gateway" or races)
            if eligible and self.turn_rng.random() < self.options.crash_holding_rate:
                self._crash_holding(box)
            reconcile = box.name == "gateway" and isinstance(head, Reconcile)
            fired = sum(self.venue.faults.fired.values())
            restarts = self._restarts("gateway")
            self.gate.turn(box)
            self.turns += 1
            if reconcile and fired == sum(self.venue.faults.fired.values()) and restarts == self._restarts("gateway"):
                self.tainted.clear()  # a clean reconcile: the ledgers are the venue's again
        raise Violation(f"the desk did not settle: more than {MAX_TURNS} messages without the mailboxes emptying")

    def _holding(self) -> set[tuple[Any, str]]:
        """Accounts whose gateway holds changes it cannot place against its last snapshot yet (the
        venue would not answer the re-fetch): in motion until it can, like an open transfer."""
        gateway = self.system.runtime.incarnation("gateway")  # read between turns, as the gate does
        return gateway.holding() if isinstance(gateway, Gateway) else set()

    def _uninitialised(self) -> set[tuple[Any, str]]:
        """Accounts the gateway says (alerted) it could not initialise: their board rows are the last known."""
        found = set()
        for key in self.alerts.open:
            if key.startswith(UNINITIALISED_ALERT):
                exchange, _, account = key.removeprefix(UNINITIALISED_ALERT).partition(".")
                found.add((exchange_name(exchange), account))
        return found

    def _restarts(self, name: str) -> int:
        return next(s.restarts for s in self.system.runtime.status() if s.name == name)

    # ---- invariants ----------------------------------------------------------------------------

    def check(self, final: bool = False) -> None:
        if self.system.runtime.stopped:
            raise Violation(f"the runtime stopped by itself: {self.system.runtime.stop_reason}")
        venue, journal = self.venue, self.journal
        audit = venue.audit()
        intents = [i for status in INTENT_STATES for i in journal.intents.with_status(status)]
        pending = {key: value.timestamp for key, value, _ in journal.tasks.load_tasks()}
        self.instances |= set(pending.items()) | {(i.key, i.task_timestamp) for i in intents}
        lost = venue.lost_pushes()
        for fill in lost[self.lost_seen :]:
            self.tainted.add((fill.exchange, fill.account))
        self.lost_seen = len(lost)
        open_intents = [i for i in intents if i.status in ("sending", "in_doubt", "in_flight")]
        wrong = check_conservation(venue.conservation_error())
        wrong += check_ledgers(
            self.system.board.views(),
            venue.all_balances(),
            unsettled_accounts(open_intents)
            | self.tainted
            | self._uninitialised()
            | self._holding()
            | self.world.in_motion(),
        )
        wrong += check_tasks(intents, audit, pending, self.instances, final)
        wrong += check_chains(journal.chains.load_all(), intents, audit, pending, final)
        figures = hedge_figures(audit, *self.world.hedge, Currencies.BTC)
        now = self.clock.now()
        if abs(figures.net) > 1e-8:
            self.exposed_since = self.exposed_since if self.exposed_since is not None else now
        else:
            self.exposed_since = None
        exposed_for = now - self.exposed_since if self.exposed_since is not None else 0.0
        alerts = self.alerts if self.options.hedge_alerts else None
        wrong += check_hedge(
            figures, HEDGE_QUANTITY, self._paused(), alerts, exposed_for, self.options.exposure_alert_after, final
        )
        wrong += self.world.extra_checks(intents, final)
        if final:
            unknown = self._alerted_unknown(open_intents)
            wrong += [
                f"transfer {i.client_id} still {i.status} after the quiet rounds"
                for i in open_intents
                if i.client_id not in unknown
            ]
            wrong += self._stuck_tasks(pending, {i.key for i in open_intents if i.client_id in unknown})
        if wrong:
            raise Violation("; ".join(wrong))

    def _alerted_unknown(self, open_intents: list[Any]) -> set[str]:
        """Transfers the desk shows as unknown with an open alert: an allowed end where the venue
        cannot dedupe a resend (a withdrawal lost before the exchange got it: never sent again)."""
        if self.world.settles_every_transfer:
            return set()
        return {
            i.client_id
            for i in open_intents
            if i.status == "in_doubt" and f"transfers.unknown.{i.client_id}" in self.alerts.open
        }

    def _stuck_tasks(self, pending: dict[Any, int], unknown: set[Any]) -> list[str]:
        """Liveness: after the quiet rounds no task whose source has the money free is still waiting
        (except one held back by a transfer of it whose outcome is unknown)."""
        stuck = []
        amounts = {key: value.amount for key, value, _ in self.journal.tasks.load_tasks()}
        for key in pending:
            if key in unknown:
                continue
            view = self.system.board.read(key.from_exchange, key.from_account, key.currency)
            if view is not None and view.pool >= amounts[key] + 0.01:
                stuck.append(
                    f"task {key.from_exchange}.{key.from_account} -> {key.to_exchange}."
                    f"{key.to_account} {amounts[key]} still pending with {view.pool} free at its source"
                )
        return stuck

    def _paused(self) -> bool:
        state = self.journal.state.get("hedge_a", "state")
        return bool(state and state.get("paused"))

    # ---- helpers -------------------------------------------------------------------------------

    def _tell(self, name: str, message: Any) -> None:
        self.system.runtime.tell(name, message)

    def _do(self, what: str, action: Any) -> None:
        self._note(what)
        action()

    def _note(self, what: str) -> None:
        self.trace.update(f"[{self.clock.now():.3f} {what}]".encode())
        self.story.append(f"{self.clock.now() - ManualClock().now():9.3f} {self.step}: {what}")
        logger.bind(actor="simulation").debug("seed {} {}: {}", self.seed, self.step, what)

    def _on_log(self, message: Any) -> None:
        record = message.record
        text = record["message"]
        resolved = text.startswith("RESOLVED ")
        body = text.split(": ", 1)[1] if ": " in text else text
        source = str(record["extra"].get("actor", ""))
        self.alerts.add(
            Alert(key=str(record["extra"]["alert"]), text=body, source=source, resolved=resolved, at=self.clock.now())
        )


def run_seed(seed: int, options: SimOptions | None = None) -> SimResult:
    """Run the whole desk under ``seed``; see `Simulation`."""
    return Simulation(seed, options).run()
