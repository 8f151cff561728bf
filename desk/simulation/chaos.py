"""What a seed throws at the desk: the load, the venue's faults and the crashes (`Chaos`, a part of `Simulation`).

Every choice comes from the run's random streams (``rng`` for load and faults, ``write_rng`` for
crashes after journal writes), so one seed makes the same trouble every time.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from actors.stores.journal import Journal
from actors.venues.simulated import SimulatedCrash
from desk.simulation.gate import Gate, GatedMailbox
from desk.simulation.venues import VenueWorld
from desk.simulation.world import FaultClass, SimOptions
from desk.system import System
from messages.balances import Adjust, Reconcile
from messages.common import Currencies, Exchange
from messages.demo import DemoTick
from messages.hedge import HedgeTick
from messages.tasks import AddTransferTask
from messages.trading import Fill
from messages.transfers import AdvanceChains, RunTransfers, StartChain
from supervisor.clock import ManualClock
from supervisor.hosted import current_actor

__all__ = ["READS", "Chaos"]

READS = ("fetch_order", "fetch_transfer", "fetch_deposits", "fetch_ticker")


class Chaos:
    """The load, faults and crashes of a `Simulation` (which provides the attributes declared here)."""

    rng: random.Random
    turn_rng: random.Random
    write_rng: random.Random
    options: SimOptions
    clock: ManualClock
    system: System
    venue: VenueWorld
    world: VenueWorld
    journal: Journal
    gate: Gate
    crashes: Counter[str]
    faults_fired: Counter[str]
    tainted: set[tuple[Exchange, str]]
    story: list[str]
    armed_write: str | None
    outage_until: float
    chains: int
    _tell: Callable[[str, Any], None]
    _do: Callable[[str, Callable[[], Any]], None]
    _note: Callable[[str], None]

    def _load(self) -> None:
        rng = self.rng
        kind = rng.choices(
            ["task", "chain", "transfers", "chains", "hedge", "strategy", "reconcile"], weights=[5, 1, 2, 1, 2, 2, 1]
        )[0]
        if kind == "task":
            source, destination = self.world.money_pair(rng)
            amount = float(rng.choice([50, 200, 750, 2_000, 4_000]))
            self._do(
                f"task {amount} {source} -> {destination}",
                lambda: self._tell(
                    "tasks",
                    AddTransferTask(
                        from_exchange=source.exchange,
                        from_account=source.account,
                        to_exchange=destination.exchange,
                        to_account=destination.account,
                        currency=Currencies.USDC,
                        amount=amount,
                    ),
                ),
            )
        elif kind == "chain":
            hops = self.world.chain_hops(rng)
            self.chains += 1
            chain = StartChain(
                hops=hops,
                currency=Currencies.USDC,
                amount=float(rng.choice([100, 500, 1_500])),
                chain_id=f"chain-{self.chains}",
            )
            self._do(
                f"chain {chain.chain_id} {chain.amount} {' -> '.join(map(str, hops))}",
                lambda: self._tell("chains", chain),
            )
        elif kind == "transfers":
            self._do("run transfers", lambda: self._tell("transfers", RunTransfers(reason="window")))
        elif kind == "chains":
            self._do("advance chains", lambda: self._tell("chains", AdvanceChains()))
        elif kind == "hedge":
            self._do("hedge round", lambda: self._tell("hedge_a", HedgeTick(reason="simulation")))
        elif kind == "strategy":
            name = rng.choice(["strategy_a", "strategy_b"])
            self._do(f"{name} tick", lambda: self._tell(name, DemoTick()))
        elif self.options.enabled(FaultClass.SNAPSHOT_RACES):
            self._do("reconcile amid activity", lambda: self._tell("gateway", Reconcile()))

    def _fault(self) -> None:
        rng, faults, options = self.rng, self.venue.faults, self.options
        classes = [
            f
            for f in FaultClass
            if options.enabled(f) and f not in (FaultClass.CRASHES_HOLDING, FaultClass.OPERATOR_RESUMES)
        ]
        if not classes:
            return
        fault = rng.choice(classes)
        races = options.enabled(FaultClass.SNAPSHOT_RACES)
        reads = [*READS, "transfer", "cancel_order", *(["fetch_balance"] if races else [])]
        if fault is FaultClass.REJECTIONS:
            method = rng.choice(reads)
            self._do(f"fault: reject {method}", lambda: faults.reject_next(rng.randint(1, 2), method))
        elif fault is FaultClass.ORDER_REJECTIONS:
            n = rng.randint(1, 4)
            self._do(f"fault: reject {n} create_order", lambda: faults.reject_next(n, "create_order"))
        elif fault is FaultClass.TIMEOUTS:
            method = rng.choice([*reads, "create_order"])
            self._do(f"fault: lose a {method} request", lambda: faults.timeout_next(1, method))
        elif fault in (FaultClass.TRANSFER_TIMEOUTS, FaultClass.ORDER_TIMEOUTS, FaultClass.CANCEL_TIMEOUTS):
            method = {
                FaultClass.TRANSFER_TIMEOUTS: "transfer",
                FaultClass.ORDER_TIMEOUTS: "create_order",
                FaultClass.CANCEL_TIMEOUTS: "cancel_order",
            }[fault]
            n = rng.randint(1, 3)  # several in a row: every retry of one hedge may time out too
            self._do(f"fault: {n} {method} time out after moving", lambda: faults.timeout_after_move_next(n, method))
        elif fault is FaultClass.OUTAGES:
            seconds = rng.choice([3.0, 10.0, 30.0])
            self.outage_until = max(self.outage_until, self.clock.now() + seconds)
            self._do(f"fault: outage {seconds}s", lambda: faults.outage(seconds))
        elif fault is FaultClass.LATENCY:
            self._do("fault: latency", lambda: faults.latency(0.0005))
        elif fault is FaultClass.DUPLICATED_PUSHES:
            self._do("fault: duplicate a fill push", lambda: faults.duplicate_next_fill(rng.randint(1, 2)))
        elif fault is FaultClass.DROPPED_PUSHES:
            self._do("fault: drop a fill push", lambda: faults.drop_next_fill_push(1))
        elif fault is FaultClass.CANCEL_RACES:
            self._do("fault: a fill races the next cancel", lambda: faults.fill_next_cancel(1))
        elif fault is FaultClass.SNAPSHOT_RACES:
            self._do("fault: events race the next balance fetch", lambda: faults.race_next_snapshot(1))
        elif fault is FaultClass.CRASHES:
            method = rng.choice(
                ["transfer", "create_order", "cancel_order", *READS, *(["fetch_balance"] if races else [])]
            )
            after = rng.random() < 0.6
            self._do(
                f"fault: the caller of {method} crashes {'after' if after else 'before'} it",
                lambda: faults.crash_next(1, method, after=after),
            )

    def _watch_journal_writes(self) -> None:
        """Wrap the journal's writes so that an armed one crashes the actor that made it, just after it is durable."""
        writes = {
            "tasks": ("save_task", "renew_task", "delete_task", "delete_tasks", "save_success"),
            "intents": ("record",),
            "chains": ("save",),
            "state": ("put",),
        }
        for store_name, methods in writes.items():
            store = getattr(self.journal, store_name)
            for method in methods:
                setattr(store, method, self._crashing_after(store_name, method, getattr(store, method)))

    def _crashing_after(self, store: str, method: str, write: Any) -> Any:
        def written(*args: Any, **kwargs: Any) -> Any:
            result = write(*args, **kwargs)
            actor = current_actor()
            if self.armed_write == store and actor is not None:
                self.armed_write = None
                self.crashes[actor.name] += 1
                self.story.append(f"{'':9} crash {actor.name} just after journal {store}.{method}")
                self.faults_fired["crash_after_write"] += 1
                envelope = actor.current_envelope
                if envelope is not None:
                    self._lost_with_crash(envelope.message)
                raise SimulatedCrash(f"simulated crash of {actor.name} just after journal {store}.{method}")
            return result

        return written

    def _crash_idle(self, name: str) -> None:
        self.crashes[name] += 1
        self.gate.mailboxes[name].crash_when_idle()

    def _crash_holding(self, box: GatedMailbox) -> None:
        runtime = self.system.runtime
        message = box.crash_on_head(
            lambda envelope, reason: runtime.dead_letter(box.name, envelope.message, reason, envelope.sender)
        )
        self.crashes[box.name] += 1
        self._note(f"crash {box.name} holding {type(message).__name__}")
        self._lost_with_crash(message)

    def _lost_with_crash(self, message: Any) -> None:
        """A crash dead-letters the message being handled: a fill or an adjust in it may never reach the
        gateway, whose ledger is then the venue's again only after a reconcile."""
        exchange, account = (message.exchange, message.account) if isinstance(message, Fill | Adjust) else (None, None)
        if exchange is not None and account is not None:
            self.tainted.add((exchange, account))
