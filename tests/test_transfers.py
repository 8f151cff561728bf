"""The transfer executor through messages, with the real venue, gateway, task manager and journal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from loguru import logger

from actors.stores.journal import TransferIntent
from actors.transfers import TransferExecutor, client_id_for
from actors.venues.base import VenueOutcomeUnknown
from actors.venues.simulated import Route, SimulatedVenue
from messages.balances import Allocate, Release, ReleaseFunds, ReserveFunds
from messages.reports import GetTransferStats
from messages.system import Rejected
from messages.tasks import AddTransferTask, GetLastSuccess, GetTasks, LastSuccess, TaskAdded, TransferTaskKey
from messages.transfers import ResolveTransfer, RunTransfers, TransferResolved, TransferSent
from messages.venue import TransferResult, TransferStatus
from supervisor import ManualClock
from tests.money import USDC, Forgetful, K, M, MoneySystem, ask_as

TRADE_TO_MAIN = TransferTaskKey(K, "trade", K, "main", USDC)


def add_task(money: MoneySystem, key: TransferTaskKey, amount: float, extra: str | None = None) -> TaskAdded:
    return money.runtime.ask(  # type: ignore[no-any-return]
        "tasks",
        AddTransferTask(
            key.from_exchange, key.from_account, key.to_exchange, key.to_account, key.currency, amount, extra
        ),
    )


@pytest.fixture
def money(tmp_path: Path, clock: ManualClock) -> Iterator[MoneySystem]:
    system = MoneySystem(
        tmp_path, clock, {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}, (M, "main"): {USDC: 0.0}}
    )
    yield system
    system.stop()


def test_the_seed_scenario_waits_for_free_money_pays_once_and_blocks_a_quick_repeat(money: MoneySystem) -> None:
    rt = money.runtime
    rt.ask("gateway", Allocate(currency=USDC, index=2, amount=4_500.0, exchange=K, account="trade", strategy="a"))
    assert add_task(money, TRADE_TO_MAIN, 1_000.0).added  # submitted while the money is allocated

    first = money.run_transfers()
    assert (first.considered, first.sent, first.skipped) == (1, 0, 1)  # pool 500 < 1000: wait
    assert money.venue.fetch_balance(K, "main").get(USDC, 0.0) == 0.0

    rt.ask("gateway", Release(currency=USDC, index=2, amount=1_000.0, exchange=K, account="trade", strategy="a"))
    second = money.run_transfers()
    assert second.sent == 1
    assert money.venue.fetch_balance(K, "main")[USDC] == 1_000.0
    assert money.view(K, "trade").total == 4_000.0 and money.view(K, "trade").pool == 500.0
    assert money.view(K, "trade").slots[2] == 3_500.0  # the sub-strategy kept its slot
    assert money.view(K, "main").total == 1_000.0
    assert money.pending().tasks == []

    third = money.run_transfers()
    assert third.sent == 0  # executed once
    last = rt.ask("tasks", GetLastSuccess(TRADE_TO_MAIN))
    assert isinstance(last, LastSuccess) and last.timestamp == int(money.clock.now() * 1_000_000)
    # the producer's rule from the seed: no new task within 120 s of the last success
    now_us = int(money.clock.now() * 1_000_000)
    assert now_us - last.timestamp <= 120 * 1_000_000
    money.ledgers_match_venue()
    money.conserved()


def test_a_cross_exchange_transfer_adjusts_the_destination_when_the_money_arrives(money: MoneySystem) -> None:
    add_task(money, TransferTaskKey(K, "trade", M, "main", USDC), 2_000.0)
    assert money.run_transfers().sent == 1
    assert money.view(K, "trade").total == 3_000.0
    assert money.view(M, "main").total == 0.0  # on chain
    money.clock.advance(600.0)
    run = money.run_transfers()
    assert run.resolved == 1
    assert money.view(M, "main").total == 1_999.0  # minus the route fee
    money.ledgers_match_venue()
    money.conserved()


def test_a_timeout_after_the_money_moved_never_pays_twice(money: MoneySystem) -> None:
    money.venue.faults.timeout_after_move_next(1)
    add_task(money, TRADE_TO_MAIN, 700.0)
    first = money.run_transfers()
    assert (first.unknown, first.failed) == (1, 0)  # unknown, never "failed"
    assert money.venue.fetch_balance(K, "main")[USDC] == 700.0  # it did move
    assert len(money.pending().tasks) == 1  # but the executor does not know yet

    second = money.run_transfers()  # asks the venue about the client id first
    assert second.resolved == 1 and second.sent == 0
    assert money.venue.fetch_balance(K, "main")[USDC] == 700.0  # paid once
    assert money.pending().tasks == []
    assert money.view(K, "main").total == 700.0 and money.view(K, "trade").total == 4_300.0
    money.ledgers_match_venue()
    money.conserved()


def test_a_refused_transfer_keeps_the_task_and_the_retry_uses_a_new_client_id(money: MoneySystem) -> None:
    money.venue.faults.reject_next(1, "transfer")
    add_task(money, TRADE_TO_MAIN, 100.0)
    [(_, value)] = money.pending().tasks
    assert money.run_transfers().failed == 1
    assert len(money.pending().tasks) == 1
    assert money.run_transfers().sent == 1
    assert money.venue.fetch_balance(K, "main")[USDC] == 100.0
    attempts = money.journal.intents.for_task(TRADE_TO_MAIN, value.timestamp)
    assert [(i.attempt, i.status) for i in attempts] == [(1, "failed"), (2, "done")]
    assert attempts[0].client_id != attempts[1].client_id


def test_an_outage_keeps_tasks_waiting_without_losing_them(money: MoneySystem) -> None:
    add_task(money, TRADE_TO_MAIN, 100.0)
    money.venue.faults.outage(60.0)
    assert money.run_transfers().failed == 1
    money.clock.advance(61.0)
    assert money.run_transfers().sent == 1
    money.conserved()


class CrashAfterSending(TransferExecutor):
    """Crashes once, right after the venue accepted a transfer and before anything was recorded."""

    crashes = 0

    def _apply(self, intent: TransferIntent, result: TransferResult) -> TransferIntent:
        if CrashAfterSending.crashes == 0 and intent.status == "sending":
            CrashAfterSending.crashes += 1
            raise RuntimeError("crash between sent and recorded")
        return super()._apply(intent, result)


def test_an_executor_crash_between_sent_and_recorded_pays_once(tmp_path: Path, clock: ManualClock) -> None:
    CrashAfterSending.crashes = 0
    money = MoneySystem(
        tmp_path, clock, {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}}, executor=CrashAfterSending
    )
    try:
        add_task(money, TRADE_TO_MAIN, 1_200.0)
        money.runtime.tell("transfers", RunTransfers(reply_to="collector"))
        assert money.runtime.wait_until(lambda: money.runtime.status_of("transfers").restarts == 1)
        assert money.venue.fetch_balance(K, "main")[USDC] == 1_200.0
        [intent] = money.journal.intents.open_intents()
        assert intent.status == "sending"  # what the restarted executor finds

        run = money.run_transfers()
        assert run.resolved == 1 and run.sent == 0
        assert money.venue.fetch_balance(K, "main")[USDC] == 1_200.0
        assert money.venue.fetch_balance(K, "trade")[USDC] == 3_800.0
        assert money.pending().tasks == []
        assert money.view(K, "trade").total == 3_800.0 and money.view(K, "main").total == 1_200.0
        money.ledgers_match_venue()
        money.conserved()
    finally:
        money.stop()


def test_a_restarted_desk_on_the_same_journal_settles_the_transfer_in_doubt_without_paying_again(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "journal.sqlite"
    balances = {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}}
    first = MoneySystem(tmp_path, clock, balances, journal_path=path)
    first.venue.faults.timeout_after_move_next(1)
    add_task(first, TRADE_TO_MAIN, 300.0)
    assert first.run_transfers().unknown == 1
    first.stop(close_venue=False)  # the whole desk goes down; the exchange world carries on
    clock.advance(5.0)  # and comes back a little later

    second = MoneySystem(tmp_path, clock, balances, journal_path=path, venue=first.venue)
    try:
        assert len(second.pending().tasks) == 1  # the task survived in the journal
        run = second.run_transfers()
        assert run.resolved == 1 and run.sent == 0
        assert second.venue.fetch_balance(K, "main")[USDC] == 300.0  # paid once
        assert second.pending().tasks == []
        second.ledgers_match_venue()
        second.conserved()
    finally:
        second.stop()


def test_the_follow_up_named_by_extra_is_told_or_called(tmp_path: Path, clock: ManualClock) -> None:
    called: list[Any] = []
    money = MoneySystem(
        tmp_path,
        clock,
        {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}, (K, "close_position"): {USDC: 0.0}},
        follow_ups={"rebalance_done": called.append},
    )
    try:
        add_task(money, TRADE_TO_MAIN, 10.0, extra="actor:collector")
        add_task(money, TransferTaskKey(K, "trade", K, "close_position", USDC), 20.0, extra="rebalance_done")
        assert money.run_transfers().sent == 2
        [told] = money.inbox.of(TransferSent)
        assert told.key == TRADE_TO_MAIN and told.amount == 10.0 and told.status is TransferStatus.OK
        assert [c.amount for c in called] == [20.0]
    finally:
        money.stop()


def test_two_tasks_from_one_source_do_not_overdraw_it_in_one_run(money: MoneySystem) -> None:
    add_task(money, TRADE_TO_MAIN, 3_000.0)
    add_task(money, TransferTaskKey(K, "trade", M, "main", USDC), 3_000.0)
    run = money.run_transfers()
    assert (run.sent, run.skipped) == (1, 1)  # 5000 free covers one, not both
    money.conserved()


def test_client_ids_are_derived_from_the_task_so_a_restart_computes_the_same_one() -> None:
    a = client_id_for(TRADE_TO_MAIN, 1_700_000_000_000_000, 1)
    assert a == client_id_for(TRADE_TO_MAIN, 1_700_000_000_000_000, 1)
    assert a != client_id_for(TRADE_TO_MAIN, 1_700_000_000_000_000, 2)
    assert a != client_id_for(TRADE_TO_MAIN, 1_700_000_000_000_001, 1)


# ---- outcomes the venue cannot tell (issue 8) ---------------------------------------------------------------------


def test_a_transfer_the_venue_has_no_record_of_is_unknown_alerted_never_failed_and_never_sent_again(
    tmp_path: Path, clock: ManualClock
) -> None:
    inner = SimulatedVenue(clock, seed=7, balances={(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}})
    venue = Forgetful(inner)
    money = MoneySystem(tmp_path, clock, {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}}, venue=venue)  # type: ignore[arg-type]
    alerts: list[str] = []
    sink = logger.add(lambda m: alerts.append(m.record["message"]), level="CRITICAL", format="{message}")
    try:
        inner.faults.timeout_after_move_next(1)
        add_task(money, TRADE_TO_MAIN, 700.0)
        [(_, value)] = money.pending().tasks
        venue.hidden.add(client_id_for(TRADE_TO_MAIN, value.timestamp, 1))
        assert money.run_transfers().unknown == 1
        for _ in range(3):  # the venue still cannot say: nothing is sent again, nothing is called failed
            run = money.run_transfers()
            assert (run.sent, run.failed, run.resolved) == (0, 0, 0)
        stats = money.runtime.ask("transfers", GetTransferStats())
        assert stats.in_doubt == 1 and stats.unknown == [client_id_for(TRADE_TO_MAIN, value.timestamp, 1)]
        assert stats.failed_attempts == 0 and inner.fetch_balance(K, "main")[USDC] == 700.0  # paid once
        assert sum("ALERT transfers.unknown." in line for line in alerts) == 1  # once, not every run
        venue.hidden.clear()  # the venue finds it
        assert money.run_transfers().resolved == 1
        assert money.runtime.ask("transfers", GetTransferStats()).unknown == []
        assert money.pending().tasks == [] and inner.fetch_balance(K, "main")[USDC] == 700.0
        money.ledgers_match_venue()
    finally:
        logger.remove(sink)
        money.stop()


class Unknowable(Forgetful):
    """A venue whose history lookup gives up on the hidden ids (`VenueOutcomeUnknown`), as the ccxt
    adapter does for a withdrawal not found in the exchange's history within its window."""

    def fetch_transfer(self, client_id: str) -> TransferResult | None:
        if client_id in self.hidden:
            raise VenueOutcomeUnknown(f"{client_id} was not found in the history: outcome unknown, never resend it")
        return self.inner.fetch_transfer(client_id)


def test_a_transfer_the_venue_calls_unknowable_is_unknown_and_alerted_not_left_sending(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Found by the simulation against the fakes (seed 104): the executor logged the venue's
    `VenueOutcomeUnknown` as "cannot check now" and left the transfer "sending", never alerted."""
    inner = SimulatedVenue(clock, seed=7, balances={(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}})
    venue = Unknowable(inner)
    money = MoneySystem(tmp_path, clock, {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}}, venue=venue)  # type: ignore[arg-type]
    alerts: list[str] = []
    sink = logger.add(lambda m: alerts.append(m.record["message"]), level="CRITICAL", format="{message}")
    try:
        inner.faults.timeout_next(1, "transfer")  # lost on its way: the venue never did it
        add_task(money, TRADE_TO_MAIN, 700.0)
        [(_, value)] = money.pending().tasks
        client_id = client_id_for(TRADE_TO_MAIN, value.timestamp, 1)
        venue.hidden.add(client_id)
        money.run_transfers()
        money.run_transfers()
        stats = money.runtime.ask("transfers", GetTransferStats())
        assert stats.in_doubt == 1 and stats.unknown == [client_id] and stats.failed_attempts == 0
        assert sum(f"ALERT transfers.unknown.{client_id}" in line for line in alerts) == 1
        assert inner.fetch_balance(K, "main").get(USDC, 0.0) == 0.0  # and it was never sent again
    finally:
        logger.remove(sink)
        money.stop()


def test_a_transfer_whose_request_was_lost_is_sent_again_under_its_id_and_paid_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    balances = {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}}
    venue = SimulatedVenue(clock, seed=7, balances=balances)
    money = MoneySystem(tmp_path, clock, balances, venue=venue)
    try:
        venue.faults.timeout_next(1, "transfer")  # the request never reached the venue
        add_task(money, TRADE_TO_MAIN, 700.0)
        [(_, value)] = money.pending().tasks
        assert money.run_transfers().unknown == 1
        assert venue.fetch_transfer(client_id_for(TRADE_TO_MAIN, value.timestamp, 1)) is None
        assert money.run_transfers().resolved == 1  # the venue had no record: sent again under the same id
        assert money.pending().tasks == [] and venue.fetch_balance(K, "main")[USDC] == 700.0
        stats = money.runtime.ask("transfers", GetTransferStats())
        assert stats.unknown == [] and stats.failed_attempts == 0
        money.run_transfers()
        assert venue.fetch_balance(K, "main")[USDC] == 700.0  # paid once
        money.ledgers_match_venue()
    finally:
        money.stop()


def test_a_transfer_found_only_in_the_destination_history_is_settled_from_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    inner = SimulatedVenue(clock, seed=7, balances={(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}})
    venue = Forgetful(inner)
    money = MoneySystem(tmp_path, clock, {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}}, venue=venue)  # type: ignore[arg-type]
    try:
        inner.faults.timeout_after_move_next(1)
        add_task(money, TRADE_TO_MAIN, 700.0)
        venue.fetch_transfer = lambda client_id: None  # type: ignore[method-assign]  # no lookup by id at all
        assert money.run_transfers().unknown == 1
        clock.advance(1.0)
        assert money.run_transfers().resolved == 1  # the deposit at kraken.main names our client id
        assert money.pending().tasks == [] and inner.fetch_balance(K, "main")[USDC] == 700.0
        money.ledgers_match_venue()
    finally:
        money.stop()


# ---- the board race: the executor reads the board, a strategy allocates the same money, then the executor sends ----


class RacingBoard:
    """The executor's board, except that its next read lets a strategy allocate the money just read."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.after_read: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read(self, *key: Any) -> Any:
        view = self.inner.read(*key)
        action, self.after_read = self.after_read, None
        if action is not None:
            action()
        return view


def test_a_strategy_allocates_after_the_executor_read_the_board_is_not_sent_and_the_pool_stays_whole(
    tmp_path: Path, clock: ManualClock
) -> None:
    boards: list[RacingBoard] = []

    def executor(venue: Any, board: Any, journal: Any, **options: Any) -> TransferExecutor:
        boards.append(RacingBoard(board))
        return TransferExecutor(venue, boards[-1], journal, **options)

    money = MoneySystem(tmp_path, clock, {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}}, executor=executor)
    try:
        add_task(money, TRADE_TO_MAIN, 700.0)
        grab = Allocate(currency=USDC, index=2, amount=4_800.0, exchange=K, account="trade", strategy="a")
        boards[-1].after_read = lambda: money.runtime.tell("gateway", grab, "collector")
        run = money.run_transfers()  # the board said 5,000 free; the strategy took 4,800 before the transfer
        assert (run.sent, run.skipped) == (0, 1)
        assert money.view(K, "trade").pool == 200.0 and money.venue.fetch_balance(K, "trade")[USDC] == 5_000.0
        assert len(money.pending().tasks) == 1  # it waits for free money, as any task does
        money.runtime.ask("gateway", Release(currency=USDC, index=2, amount=4_800.0, exchange=K, account="trade"))
        assert money.run_transfers().sent == 1 and money.view(K, "trade").pool == 4_300.0
        money.ledgers_match_venue()
    finally:
        money.stop()


def test_an_allocate_cannot_take_pool_money_reserved_for_a_transfer_being_sent(money: MoneySystem) -> None:
    hold = ReserveFunds(exchange=K, account="trade", currency=USDC, amount=700.0, ref="t-x-1", correlation_id="c")
    assert ask_as(money.runtime, "transfers", "gateway", hold).ok
    refused = money.runtime.ask(
        "gateway", Allocate(currency=USDC, index=2, amount=4_800.0, exchange=K, account="trade")
    )
    assert isinstance(refused, Rejected) and "700.0 of the pool is reserved" in refused.reason
    assert (
        money.runtime.ask("gateway", Allocate(currency=USDC, index=2, amount=4_300.0, exchange=K, account="trade")).pool
        == 700.0
    )
    assert not ask_as(money.runtime, "transfers", "gateway", msgspec.structs.replace(hold, ref="t-x-2")).ok
    ask_as(money.runtime, "transfers", "gateway", ReleaseFunds(ref="t-x-1"))
    assert (
        money.runtime.ask("gateway", Allocate(currency=USDC, index=2, amount=700.0, exchange=K, account="trade")).pool
        == 0.0
    )


def test_the_operator_resolves_an_unknown_transfer_as_moved_and_it_is_booked_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    inner = SimulatedVenue(clock, seed=7, balances={(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}})
    venue = Forgetful(inner)
    money = MoneySystem(tmp_path, clock, {(K, "trade"): {USDC: 5_000.0}, (K, "main"): {USDC: 0.0}}, venue=venue)  # type: ignore[arg-type]
    try:
        inner.faults.timeout_after_move_next(1)
        add_task(money, TRADE_TO_MAIN, 700.0)
        [(_, value)] = money.pending().tasks
        client_id = client_id_for(TRADE_TO_MAIN, value.timestamp, 1)
        venue.hidden.add(client_id)
        assert money.run_transfers().unknown == 1
        assert isinstance(money.runtime.ask("transfers", ResolveTransfer(client_id="nope", moved=True)), Rejected)
        answer = money.runtime.ask("transfers", ResolveTransfer(client_id=client_id, moved=True, note="ticket 42"))
        assert answer == TransferResolved(client_id=client_id, status="done")
        money.runtime.ask("gateway", GetTasks())  # the legs are booked
        assert money.pending().tasks == [] and money.runtime.ask("transfers", GetTransferStats()).unknown == []
        assert isinstance(money.runtime.ask("transfers", ResolveTransfer(client_id=client_id, moved=True)), Rejected)
        money.ledgers_match_venue()
        assert money.run_transfers().sent == 0 and inner.fetch_balance(K, "main")[USDC] == 700.0  # paid once
    finally:
        money.stop()


def test_a_transfer_in_flight_past_its_limit_is_alerted_once_and_resolved_when_it_lands(
    tmp_path: Path, clock: ManualClock
) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="INFO", format="{message}")
    money = MoneySystem(
        tmp_path,
        clock,
        {(K, "trade"): {USDC: 5_000.0}, (M, "main"): {USDC: 0.0}},
        routes={(K, M): Route(7_200.0, 1.0)},  # a withdrawal that takes two hours
        executor=lambda *args, **kwargs: TransferExecutor(*args, overdue_after=3_600.0, **kwargs),
    )
    try:
        add_task(money, TransferTaskKey(K, "trade", M, "main", USDC), 2_000.0)
        assert money.run_transfers().sent == 1
        [client_id] = [i.client_id for i in money.journal.intents.open_intents()]
        overdue = [f"ALERT transfers.overdue.{client_id}", f"RESOLVED transfers.overdue.{client_id}"]

        def said(prefix: str) -> int:
            return sum(line.startswith(prefix) for line in lines)

        clock.advance(3_000.0)
        money.run_transfers()
        assert said(overdue[0]) == 0  # in flight, within its limit
        clock.advance(1_000.0)
        money.run_transfers()
        clock.advance(1_000.0)
        money.run_transfers()
        assert said(overdue[0]) == 1 and said(overdue[1]) == 0  # once, not every run; still in flight
        assert money.runtime.ask("transfers", GetTransferStats()).in_flight == 1
        clock.advance(3_000.0)
        assert money.run_transfers().resolved == 1
        assert said(overdue[1]) == 1
        assert money.view(M, "main").total == 1_999.0
        money.conserved()
    finally:
        logger.remove(sink)
        money.stop()
