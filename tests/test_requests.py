"""Every request-reply between actors has a deadline, and a reply counts only from the actor asked (issue 8 item 7,
issue 9 item 4): `PendingRequests` itself, then each actor that waits on a reply, on a manual clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from loguru import logger

from actors.base import Actor
from actors.demo import DemoStrategy
from actors.gateway import Gateway
from actors.health import HealthMonitor
from actors.report import Reporter
from actors.requests import DeadlineTimer, PendingRequests
from actors.stores.board import InMemoryBoard
from actors.tasks import TaskManagerActor
from messages.balances import Allocate, BalanceView, Booking, MovementBooked, VenueMovement
from messages.base import Message
from messages.common import AccountRef
from messages.demo import DemoTick
from messages.reports import DailyReport, GetReport, GetTransferStats, TransferStats
from messages.scheduling import CheckHealth, GetHealth
from messages.system import Ping, Rejected
from messages.tasks import AddTransferTask, GetTasks, PendingTasks, TransferTaskKey, TransferTaskValue
from messages.transfers import GetChains, RunTransfers, StartChain, TransfersRun
from supervisor import ChildSpec, ManualClock, Runtime, Supervisor
from tests.money import USDC, K, MoneySystem, ask_as
from tests.probe import Block, Note, Probe, recorder

TRADE_TO_MAIN = TransferTaskKey(K, "trade", K, "main", USDC)
BALANCES = {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}}


# ---- the bookkeeping --------------------------------------------------------------------------------------------


def test_correlation_ids_are_unpredictable_and_never_repeat() -> None:
    requests: PendingRequests[None] = PendingRequests()
    ids = {requests.open("tasks", "tasks", 10.0) for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_a_reply_is_accepted_only_from_the_actor_asked_and_only_once() -> None:
    requests: PendingRequests[str] = PendingRequests()
    cid = requests.open("tasks", "snapshot", 10.0, context="run 1")
    assert requests.accept(cid, "client/evil") is None and requests.accept(cid, None) is None
    assert requests.accept(cid, "gateway") is None  # the wrong actor, even with the right id
    assert len(requests) == 1  # a refused reply closes nothing
    accepted = requests.accept(cid, "tasks")
    assert accepted is not None and accepted.context == "run 1"
    assert requests.accept(cid, "tasks") is None  # a repeat answers nothing


def test_expired_hands_back_each_request_past_its_deadline_once() -> None:
    requests: PendingRequests[None] = PendingRequests()
    early, late = requests.open("a", "x", 5.0), requests.open("b", "x", 9.0)
    assert requests.expired(4.9) == []
    assert [r.correlation_id for r in requests.expired(5.0)] == [early]
    assert requests.expired(5.0) == [] and [r.correlation_id for r in requests.waiting()] == [late]


def test_accept_from_matches_a_reply_without_an_id_by_sender_kind_and_context() -> None:
    requests: PendingRequests[int] = PendingRequests()
    requests.open("a", "ping", 5.0, context=7)
    assert requests.accept_from("b", "ping") is None
    assert requests.accept_from("a", "ping", lambda r: r.context == 8) is None
    found = requests.accept_from("a", "ping", lambda r: r.context == 7)
    assert found is not None and len(requests) == 0


class _Timer:
    def __init__(self, delay: float, log: list[str]) -> None:
        self.delay, self.log = delay, log
        log.append(f"set {delay}")

    def cancel(self) -> None:
        self.log.append(f"cancel {self.delay}")


def test_the_deadline_timer_keeps_one_timer_for_the_earliest_deadline_and_cancels_it_on_stop() -> None:
    log: list[str] = []
    timer = DeadlineTimer(lambda delay: _Timer(delay, log))
    timer.arm(10.0, now=0.0)
    timer.arm(15.0, now=1.0)  # a later deadline: the pending timer fires first
    timer.arm(5.0, now=2.0)  # an earlier one: the timer is moved
    timer.arm(None, now=2.0)  # nothing to wait for: nothing changes
    timer.cancel()
    assert log == ["set 10.0", "cancel 10.0", "set 3.0", "cancel 3.0"]


# ---- the transfer executor and the task manager ----------------------------------------------------------------


class SilentTasks(TaskManagerActor):
    """The task manager, except that it swallows the first ``drop`` GetTasks (killed while holding them)."""

    drop: ClassVar[int] = 1
    swallowed: ClassVar[list[GetTasks]] = []
    changed: ClassVar[threading.Condition] = threading.Condition()

    def on_get_tasks(self, message: GetTasks) -> PendingTasks:
        with SilentTasks.changed:
            if len(SilentTasks.swallowed) < SilentTasks.drop:
                SilentTasks.swallowed.append(message)
                SilentTasks.changed.notify_all()
                return PendingTasks(tasks=[])  # answers the ask, tells nobody: the reply is lost
        return super().on_get_tasks(message)


@pytest.fixture
def silent_tasks(tmp_path: Path, clock: ManualClock) -> Iterator[Callable[[int], MoneySystem]]:
    systems: list[MoneySystem] = []

    def start(drop: int) -> MoneySystem:
        SilentTasks.drop, SilentTasks.swallowed = drop, []
        systems.append(MoneySystem(tmp_path, clock, BALANCES, tasks=SilentTasks))
        return systems[-1]

    yield start
    for system in systems:
        system.stop()


def add_task(money: MoneySystem, amount: float = 700.0) -> None:
    money.runtime.ask("tasks", AddTransferTask(K, "trade", K, "main", USDC, amount))


def swallowed(count: int) -> GetTasks:
    """The ``count``-th GetTasks the silent task manager swallowed, waited for (real time, generously)."""
    with SilentTasks.changed:
        arrived = SilentTasks.changed.wait_for(lambda: len(SilentTasks.swallowed) >= count, timeout=30.0)
    assert arrived, f"expected {count} swallowed GetTasks, got {len(SilentTasks.swallowed)}"
    return SilentTasks.swallowed[count - 1]


@pytest.fixture
def alerts() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


def test_a_lost_task_snapshot_is_asked_again_after_the_deadline_and_the_run_completes(
    silent_tasks: Callable[[int], MoneySystem],
) -> None:
    money = silent_tasks(1)
    add_task(money)
    money.runtime.tell("transfers", RunTransfers(reason="test", reply_to="collector"))
    swallowed(1)
    money.clock.advance(10.0)  # the executor's deadline: it asks again
    [run] = money.inbox.wait_for(TransfersRun, 1)
    assert run.sent == 1 and money.venue.fetch_balance(K, "main")[USDC] == 700.0


def test_a_task_manager_silent_for_every_ask_is_a_loud_failure_and_the_next_run_asks_afresh(
    silent_tasks: Callable[[int], MoneySystem], alerts: list[str]
) -> None:
    money = silent_tasks(3)
    add_task(money)
    money.runtime.tell("transfers", RunTransfers(reason="test", reply_to="collector"))
    for ask in (1, 2, 3):
        swallowed(ask)
        money.clock.advance(10.0)
    [refused] = money.inbox.wait_for(Rejected, 1)
    assert "did not answer 3 task-snapshot requests" in refused.reason
    assert any("ALERT transfers.tasks.unanswered" in line for line in alerts)
    assert money.run_transfers().sent == 1  # the task manager is back: a new run is not stuck behind the old one


class DropsFirstMovement(Gateway):
    """The gateway, except that the first `VenueMovement` is lost (dead-lettered with a killed gateway)."""

    dropped = 0

    def on_venue_movement(self, message: VenueMovement) -> MovementBooked:
        if DropsFirstMovement.dropped == 0:
            DropsFirstMovement.dropped += 1
            return MovementBooked(
                ref=message.ref, correlation_id="", outcome=Booking.REFUSED
            )  # never seen: the correlation id is wrong
        return super().on_venue_movement(message)


def test_a_ledger_movement_the_gateway_never_acknowledged_is_sent_again_and_counted_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    DropsFirstMovement.dropped = 0
    money = MoneySystem(tmp_path, clock, BALANCES, gateway=DropsFirstMovement)
    try:
        add_task(money)
        assert money.run_transfers().sent == 1
        assert money.view(K, "trade").total == 5_000.0  # the source leg was lost on the way
        clock.advance(10.0)
        money.runtime.ask("transfers", GetTransferStats())  # the executor has asked again
        money.runtime.ask("gateway", GetTasks())  # and the gateway has handled it (a Rejected, queued behind)
        assert money.view(K, "trade").total == 4_300.0 and money.view(K, "main").total == 700.0
        clock.advance(10.0)  # the destination leg's booking was acknowledged: nothing is sent a third time
        money.runtime.ask("transfers", GetTransferStats())
        money.ledgers_match_venue()
    finally:
        money.stop()


# ---- forged replies (issue 9 item 4) --------------------------------------------------------------------------


def test_a_forged_task_snapshot_from_a_client_or_a_wrong_actor_pays_nothing(
    silent_tasks: Callable[[int], MoneySystem],
) -> None:
    money = silent_tasks(1)
    money.runtime.tell("transfers", RunTransfers(reason="test", reply_to="collector"))
    asked = swallowed(1)  # the forger even knows the real correlation id
    forged = PendingTasks(
        tasks=[(TRADE_TO_MAIN, TransferTaskValue(1_234.5, 1, None))], correlation_id=asked.correlation_id
    )
    refused = ask_as(money.runtime, "client/evil", "transfers", forged)
    assert isinstance(refused, Rejected) and "sent only by the desk's actors" in refused.reason
    money.runtime.tell("transfers", forged, None)  # from outside any actor: refused the same way
    money.runtime.tell("transfers", forged, "collector")  # an actor, but not the one asked
    money.runtime.ask("transfers", GetTransferStats())  # every forgery handled
    assert money.venue.fetch_balance(K, "main").get(USDC, 0.0) == 0.0
    assert money.journal.intents.open_intents() == [] and money.inbox.of(TransfersRun) == []
    ask_as(money.runtime, "tasks", "transfers", PendingTasks(tasks=[], correlation_id=asked.correlation_id))
    assert money.inbox.wait_for(TransfersRun, 1)[0].considered == 0  # the actor asked is believed


def test_an_operator_command_is_still_open_to_clients(silent_tasks: Callable[[int], MoneySystem]) -> None:
    money = silent_tasks(0)
    added = ask_as(money.runtime, "client/cli", "tasks", AddTransferTask(K, "trade", K, "main", USDC, 5.0))
    assert not isinstance(added, Rejected) and added.added


# ---- chains --------------------------------------------------------------------------------------------------


class DropsFirstHopTask(TaskManagerActor):
    """Loses the first hop task a chain submits (no answer, no task)."""

    dropped = 0

    def on_add_transfer_task(self, message: AddTransferTask) -> Any:
        if message.reply_to and DropsFirstHopTask.dropped == 0:
            DropsFirstHopTask.dropped += 1
            return None
        return super().on_add_transfer_task(message)


def test_a_chain_hop_task_the_task_manager_never_took_is_submitted_again_after_the_deadline(
    tmp_path: Path, clock: ManualClock
) -> None:
    DropsFirstHopTask.dropped = 0
    money = MoneySystem(tmp_path, clock, BALANCES, tasks=DropsFirstHopTask)
    try:
        money.runtime.ask("chains", StartChain(hops=[_ref("trade"), _ref("main")], currency=USDC, amount=50.0))
        assert money.pending().tasks == [] and DropsFirstHopTask.dropped == 1
        clock.advance(10.0)
        money.runtime.ask("chains", GetChains())  # the chain has submitted it again
        assert [key for key, _ in money.pending().tasks] == [TRADE_TO_MAIN]
        money.drive(lambda: money.runtime.ask("chains", GetChains()).chains[0].status == "completed")
        [view] = money.runtime.ask("chains", GetChains()).chains
        assert view.where == "50.0 at kraken.main"
    finally:
        money.stop()


def _ref(account: str) -> AccountRef:
    return AccountRef(K, account)


# ---- report and health -------------------------------------------------------------------------------------------


class Stats(Actor):
    """Answers GetTransferStats like the executor; the other parts of the report never answer."""

    def on_get_transfer_stats(self, message: GetTransferStats) -> TransferStats:
        return self.reply(TransferStats(done=1, volume={}, in_flight=0, in_doubt=0, failed_attempts=0))  # type: ignore[return-value]


class Silent(Actor):
    def on_message(self, message: Message) -> None:
        return None


def test_a_report_part_that_never_comes_is_named_and_alerted_at_the_deadline(
    make_runtime: Callable[..., Runtime], clock: ManualClock, alerts: list[str]
) -> None:
    rt = make_runtime(
        Supervisor(
            [
                ChildSpec("report", lambda: Reporter(InMemoryBoard(), hedge=None, deadline=10.0)),
                ChildSpec("transfers", Stats),
                ChildSpec("prices", Silent),
                ChildSpec("health", Silent),
            ]
        )
    )
    rt.tell("report", DailyReport())
    assert rt.ask("report", GetReport()) is None  # the report has asked its parts, and waits
    rt.ask("transfers", GetTransferStats())  # behind the report's ask: its answer is on its way to the report
    assert rt.ask("report", GetReport()) is None  # still waiting (the answer handled, two parts missing)
    clock.advance(10.0)
    assert rt.wait_until(lambda: rt.ask("report", GetReport()) is not None)
    report = rt.ask("report", GetReport())
    assert report.transfers_done == 1 and report.missing == ["health", "prices"]  # the runtime answers itself
    assert any("ALERT report.missing" in line and "prices (from prices)" in line for line in alerts)


def test_a_transfer_stats_part_from_a_wrong_actor_is_ignored(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    rt = make_runtime(
        Supervisor(
            [
                ChildSpec("report", lambda: Reporter(InMemoryBoard(), hedge=None, deadline=10.0)),
                ChildSpec("transfers", Silent),
                ChildSpec("prices", Silent),
                ChildSpec("health", Silent),
            ]
        )
    )
    rt.tell("report", DailyReport())
    rt.tell("report", TransferStats(done=99, volume={}, in_flight=0, in_doubt=0, failed_attempts=0), "prices")
    assert rt.ask("report", GetReport()) is None  # both handled: the forged part did not complete the report
    clock.advance(10.0)
    assert rt.wait_until(lambda: rt.ask("report", GetReport()) is not None)
    report = rt.ask("report", GetReport())
    assert report.transfers_done == 0 and "transfers" in report.missing


def test_an_actor_silent_past_its_ping_deadline_is_missed_and_alerted_before_the_next_check(
    make_runtime: Callable[..., Runtime], clock: ManualClock, alerts: list[str]
) -> None:
    probe = Probe()
    rt = make_runtime(
        Supervisor(
            [
                ChildSpec("a", recorder(probe)),
                ChildSpec("b", recorder(probe)),
                ChildSpec("health", lambda: HealthMonitor(["a", "b"], timeout=5.0)),
            ]
        ),
        hang_timeout=3600.0,
    )
    rt.tell("b", Block("stuck"))
    assert probe.wait_for(lambda: bool(probe.of("blocked", "b")))
    rt.ask("health", CheckHealth())
    rt.ask("a", Note("sync"))  # a has answered its ping
    assert rt.ask("health", GetHealth()).actors[0].missed == 0  # and health has its Pong
    clock.advance(5.0)
    assert rt.wait_until(lambda: {h.name: h.missed for h in rt.ask("health", GetHealth()).actors} == {"a": 0, "b": 1})
    assert any("ALERT health.b" in line for line in alerts) and not any("ALERT health.a" in line for line in alerts)
    probe.gate("stuck").set()


# ---- the demo's strategies wait for the gateway by a deadline too ---------------------------------------------------


class ForgetfulGateway(Actor):
    """Loses the first command it gets (killed while holding it), answers the rest."""

    def __init__(self, seen: list[Allocate]) -> None:
        super().__init__()
        self.seen = seen

    def on_allocate(self, message: Allocate) -> BalanceView | None:
        self.seen.append(message)
        if len(self.seen) == 1:
            return None
        slots = (1_000.0, 900.0, message.amount, *(0.0,) * 5)
        return self.reply(BalanceView(exchange=K, account="main", currency=USDC, slots=slots))  # type: ignore[return-value]


def test_a_demo_strategy_whose_command_was_lost_asks_again_after_the_deadline(
    make_runtime: Callable[..., Runtime], clock: ManualClock
) -> None:
    seen: list[Allocate] = []
    rt = make_runtime(
        Supervisor(
            [
                ChildSpec("gateway", lambda: ForgetfulGateway(seen)),
                ChildSpec("strat", lambda: DemoStrategy(2, "kraken", "main", "usdc", 100.0, reply_timeout=10.0)),
            ]
        )
    )
    rt.tell("strat", DemoTick())
    rt.tell("strat", DemoTick())  # still waiting for the first answer: no second command
    rt.ask("strat", Ping())
    rt.ask("gateway", Ping())
    assert len(seen) == 1
    clock.advance(10.0)
    rt.tell("strat", DemoTick())
    assert rt.wait_until(lambda: len(seen) == 2)
    rt.ask("gateway", Ping())
    rt.ask("strat", Ping())  # the answer is handled
    rt.tell("strat", DemoTick())  # holding 100 now: the next command is a release (not handled by the stub)
    rt.ask("strat", Ping())
    assert [type(m).__name__ for m in seen] == ["Allocate", "Allocate"]
