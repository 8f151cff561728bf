"""Chains A -> B -> C -> D through messages: each hop a task, on-chain arrival watched, restarts resumed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from actors.chains import COMPLETED, ChainBook, ChainExecutor, ChainState, HopRecord
from actors.venues.simulated import Route, SimulatedVenue
from messages.common import AccountRef
from messages.system import Rejected
from messages.transfers import ChainCompleted, Chains, ChainStarted, ChainView, GetChains, StartChain, TransferSent
from supervisor import ManualClock
from tests.money import USDC, Forgetful, K, M, MoneySystem

HOPS = [AccountRef(K, "trade"), AccountRef(K, "main"), AccountRef(M, "main"), AccountRef(M, "trade")]
BALANCES = {
    (K, "trade"): {USDC: 5_000.0},
    (K, "main"): {USDC: 0.0},
    (M, "main"): {USDC: 0.0},
    (M, "trade"): {USDC: 0.0},
}


@pytest.fixture
def money(tmp_path: Path, clock: ManualClock) -> Iterator[MoneySystem]:
    system = MoneySystem(tmp_path, clock, BALANCES)
    yield system
    system.stop()


def chain_status(money: MoneySystem, chain_id: str) -> str:
    chains = money.runtime.ask("chains", GetChains())
    assert isinstance(chains, Chains)
    return next(c.status for c in chains.chains if c.chain_id == chain_id)


def start(money: MoneySystem, amount: float = 1_000.0, chain_id: str | None = None) -> str:
    answer = money.runtime.ask(
        "chains", StartChain(hops=HOPS, currency=USDC, amount=amount, extra="actor:collector", chain_id=chain_id)
    )
    assert isinstance(answer, ChainStarted)
    return answer.chain_id


def test_a_four_hop_chain_with_an_on_chain_hop_delivers_the_money_to_the_last_account(money: MoneySystem) -> None:
    chain_id = start(money)
    money.drive(lambda: chain_status(money, chain_id) == COMPLETED)
    balances = money.venue.all_balances()
    assert balances[(K, "trade")][USDC] == 4_000.0
    assert balances[(K, "main")][USDC] == 0.0 and balances[(M, "main")][USDC] == 0.0
    assert balances[(M, "trade")][USDC] == 999.0  # 1000 minus the on-chain fee
    [done] = money.inbox.wait_for(ChainCompleted, 1)
    assert done.chain_id == chain_id and done.amount_delivered == 999.0 and done.final == HOPS[-1]
    assert len(money.venue.audit()) == len({m.seq for m in money.venue.audit()})
    debits = [m for m in money.venue.audit() if m.kind == "debit"]
    assert len(debits) == 3  # three hops, each paid once
    money.ledgers_match_venue()
    money.conserved()


def test_the_on_chain_hop_waits_for_the_deposit_however_long_it_takes(money: MoneySystem) -> None:
    chain_id = start(money)
    money.run_transfers()  # hop 0: kraken.trade -> kraken.main, instant
    money.advance_chains()
    money.run_transfers()  # hop 1: kraken.main -> mexc.main, on chain
    for _ in range(5):  # 5 minutes of a 10-minute route
        money.clock.advance(60.0)
        chains = money.advance_chains()
        assert [c.hop for c in chains.chains] == [1] and chains.chains[0].status == "in_flight"
    money.drive(lambda: chain_status(money, chain_id) == COMPLETED)
    money.conserved()


def test_a_repeated_start_chain_with_the_same_id_starts_nothing_new(money: MoneySystem) -> None:
    assert start(money, chain_id="c-1") == "c-1"
    assert start(money, chain_id="c-1") == "c-1"
    money.drive(lambda: chain_status(money, "c-1") == COMPLETED)
    assert money.venue.all_balances()[(K, "trade")][USDC] == 4_000.0  # paid once, not twice


@pytest.mark.parametrize(
    ("hops", "amount", "reason"),
    [
        ([AccountRef(K, "trade")], 10.0, "at least two hops"),
        ([AccountRef(K, "trade"), AccountRef(K, "trade")], 10.0, "to itself"),
        (HOPS, 0.0, "must be positive"),
        (HOPS, -5.0, "must be positive"),
    ],
)
def test_a_chain_that_cannot_be_run_is_rejected_and_nothing_is_submitted(
    money: MoneySystem, hops: list[AccountRef], amount: float, reason: str
) -> None:
    answer = money.runtime.ask("chains", StartChain(hops=hops, currency=USDC, amount=amount))
    assert isinstance(answer, Rejected) and reason in answer.reason
    assert money.pending().tasks == []


class LosesOneTransferSent(ChainExecutor):
    """Crashes once while handling the first TransferSent, so that message is dead-lettered."""

    crashed = False

    def on_transfer_sent(self, message: TransferSent) -> None:
        if not LosesOneTransferSent.crashed:
            LosesOneTransferSent.crashed = True
            raise RuntimeError("crash in the middle of a chain")
        super().on_transfer_sent(message)


def test_a_chain_executor_crash_that_loses_a_transfer_sent_still_pays_each_hop_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    LosesOneTransferSent.crashed = False
    money = MoneySystem(tmp_path, clock, BALANCES, chain_executor=LosesOneTransferSent)
    try:
        chain_id = start(money)
        money.run_transfers()  # hop 0 sent; its TransferSent crashes the chain executor
        assert money.runtime.wait_until(lambda: money.runtime.status_of("chains").restarts == 1)
        assert any(d.message_type == "TransferSent" for d in money.runtime.dead_letters)
        money.drive(lambda: chain_status(money, chain_id) == COMPLETED)
        debits = [m for m in money.venue.audit() if m.kind == "debit"]
        assert len(debits) == 3
        assert money.venue.all_balances()[(M, "trade")][USDC] == 999.0
        money.ledgers_match_venue()
        money.conserved()
    finally:
        money.stop()


def test_a_chain_resumes_from_the_journal_after_the_desk_restarts(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "journal.sqlite"
    first = MoneySystem(tmp_path, clock, BALANCES, journal_path=path)
    chain_id = start(first)
    first.run_transfers()
    first.advance_chains()
    first.run_transfers()  # the on-chain hop is in flight
    assert chain_status(first, chain_id) == "in_flight"
    first.stop(close_venue=False)
    clock.advance(5.0)

    second = MoneySystem(tmp_path, clock, BALANCES, journal_path=path, venue=first.venue)
    try:
        assert chain_status(second, chain_id) == "in_flight"  # loaded from the journal
        second.drive(lambda: chain_status(second, chain_id) == COMPLETED)
        assert len([m for m in second.venue.audit() if m.kind == "debit"]) == 3
        assert second.venue.all_balances()[(M, "trade")][USDC] == 999.0
        second.ledgers_match_venue()
        second.conserved()
    finally:
        second.stop()


def test_the_chain_book_records_round_trip_through_the_journal_format() -> None:
    book = ChainBook()
    chain = book.start("c", HOPS, USDC, 100.0, "actor:x", now=1.0)
    book.hop_sent("c", 0, "t-1", now=2.0)
    book.hop_arrived("c", 0, 100.0, now=3.0)
    again = ChainBook().load(ChainBook.to_record(chain))
    assert again == chain and again.hop == 1 and again.status == "submitted"
    assert book.hop_sent("c", 0, "stale", now=4.0) is None  # an old hop's news changes nothing


def test_a_chain_whose_hop_transfer_is_in_doubt_reports_unknown_and_where_its_money_went(
    tmp_path: Path, clock: ManualClock
) -> None:
    inner = SimulatedVenue(clock, seed=7, balances=BALANCES, default_route=Route(600.0, 1.0))
    venue = Forgetful(inner)
    money = MoneySystem(tmp_path, clock, BALANCES, venue=venue)  # type: ignore[arg-type]
    try:
        chain_id = start(money)
        assert _view(money, chain_id).where == "1000.0 at kraken.trade, hop 0 waiting to be sent"
        inner.faults.timeout_after_move_next(1)
        money.run_transfers()
        view = _view(money, chain_id)
        assert view.status == "unknown" and view.where.startswith("unknown: 1000.0 sent kraken.trade -> kraken.main")
        money.drive(lambda: chain_status(money, chain_id) == COMPLETED, step=700.0)  # the venue answers next run
        assert _view(money, chain_id).where == "999.0 at mexc.trade"  # one on-chain fee
        money.conserved()
    finally:
        money.stop()


def _view(money: MoneySystem, chain_id: str) -> ChainView:
    chains = money.runtime.ask("chains", GetChains())
    return next(c for c in chains.chains if c.chain_id == chain_id)


def test_a_chain_is_saved_as_its_typed_record_and_an_older_records_hop_pairs_still_load() -> None:
    book = ChainBook()
    hops = [AccountRef(K, "main"), AccountRef(M, "main"), AccountRef(M, "trade")]
    chain = book.start("c1", hops, USDC, 100.0, None, 5.0)
    book.hop_sent("c1", 0, "t-1", 6.0)
    book.hop_arrived("c1", 0, 99.0, 7.0)
    record = ChainBook.to_record(chain)
    assert record["status"] == "submitted" and record["hops"][0] == {"exchange": K, "account": "main"}
    again = ChainBook().load(record)
    assert again == chain and again.status is ChainState.SUBMITTED
    assert again.history == [HopRecord(hop=0, client_id="t-1", sent=100.0, arrived=99.0, at=7.0)]
    older = {**record, "hops": [[h.exchange, h.account] for h in hops], "status": "in_flight"}
    assert ChainBook().load(older).hops == hops
    with pytest.raises(msgspec.ValidationError):
        ChainBook().load({**record, "status": "lost"})
