"""A withdrawal between two real exchanges arrives as a deposit the destination exchange knows by
its own id only: the destination adapter names it by the desk's client id (from the sender's
sent log), and the router calls the withdrawal done only once that deposit is there, at its time.
Found by the whole-desk simulation against the fakes (chains never completed; a deposit landing
after a balance snapshot was placed before it and dropped)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from actors.venues.ccxt_venue import CcxtAccount, WithdrawRoute
from actors.venues.kraken import KrakenVenue, kraken_client
from actors.venues.mexc import MexcVenue, mexc_client
from actors.venues.router import VenueRouter
from actors.venues.sent import MemoryState, SentLog, SentTransfer, named_deposits
from messages.common import Currencies, Exchanges
from messages.venue import Deposit, TransferStatus
from supervisor.clock import ManualClock
from tests.fakes.kraken import FakeKraken
from tests.fakes.mexc import FakeMexc


@dataclass
class Pair:
    kraken: FakeKraken
    mexc: FakeMexc
    router: VenueRouter
    mexc_venue: MexcVenue


@pytest.fixture
def pair(clock: ManualClock) -> Iterator[Pair]:
    kraken, mexc = FakeKraken(clock.now).start(), FakeMexc(clock.now).start()
    kraken_secret = kraken.add_key("kraken-main", {"USDC": 1000.0})
    mexc_secret = mexc.add_key("mexc-main", {"USDC": 0.0})
    kraken.withdraw_keys["to-mexc-main"] = "mexc-main-address"
    kraken.book.withdraw_fees["USDC"] = 1.0
    state = MemoryState()  # one journal for both adapters, as in a deployment
    kraken_venue = KrakenVenue(
        Exchanges.KRAKEN,
        {"main": CcxtAccount(kraken_client("kraken-main", kraken_secret, url=kraken.url, timeout=3.0))},
        clock=clock,
        state=state,
        peers=[Exchanges.MEXC],
        withdrawals=[
            WithdrawRoute(
                Currencies.USDC,
                Exchanges.MEXC,
                "main",
                "mexc-main-address",
                network="TRC20",
                key="to-mexc-main",
                fee=1.0,
            )
        ],
    )
    mexc_venue = MexcVenue(
        Exchanges.MEXC,
        {"main": CcxtAccount(mexc_client("mexc-main", mexc_secret, url=mexc.url, timeout=3.0))},
        clock=clock,
        state=state,
        peers=[Exchanges.KRAKEN],
        markets=["btc/usd"],
    )
    for venue in (kraken_venue, mexc_venue):
        for account in venue.accounts.values():
            account.client.enableRateLimit = False
    router = VenueRouter({Exchanges.KRAKEN: kraken_venue, Exchanges.MEXC: mexc_venue})
    yield Pair(kraken, mexc, router, mexc_venue)
    router.close()
    kraken.stop()
    mexc.stop()


def _send(pair: Pair, client_id: str, amount: float) -> None:
    pair.router.transfer(client_id, Exchanges.KRAKEN, "main", Exchanges.MEXC, "main", Currencies.USDC, amount)


def _land(pair: Pair, index: int) -> None:
    """The chain delivers withdrawal ``index``: done at Kraken, credited (net) at MEXC."""
    entry = pair.kraken.book.withdrawals[index]
    entry.status = "ok"
    pair.mexc.book.credit("mexc-main", "USDC", entry.amount)


def test_a_withdrawal_done_at_its_source_is_pending_until_its_deposit_is_at_the_destination(
    pair: Pair, clock: ManualClock
) -> None:
    _send(pair, "w-1", 50.0)
    clock.advance(10.0)
    pair.kraken.book.withdrawals[0].status = "ok"  # left Kraken; not credited at MEXC yet
    waiting = pair.router.fetch_transfer("w-1")
    assert waiting is not None and waiting.status is TransferStatus.PENDING and waiting.completed_at is None
    clock.advance(20.0)
    pair.mexc.book.credit("mexc-main", "USDC", 49.0)
    done = pair.router.fetch_transfer("w-1")
    assert done is not None and done.status is TransferStatus.OK
    assert done.completed_at == pytest.approx(clock.now())  # when the destination was credited, not when sent


def test_a_deposit_is_named_by_the_desk_withdrawal_it_is_each_matched_once(pair: Pair, clock: ManualClock) -> None:
    _send(pair, "w-1", 50.0)
    clock.advance(1.0)
    _send(pair, "w-2", 50.0)
    clock.advance(1.0)
    _send(pair, "w-3", 20.0)
    clock.advance(30.0)
    _land(pair, 2)
    _land(pair, 1)
    deposits = pair.mexc_venue.fetch_deposits(Exchanges.MEXC, "main")
    assert sorted(d.client_id or "" for d in deposits) == ["w-1", "w-3"]  # equal amounts: the oldest first
    _land(pair, 0)
    deposits = pair.mexc_venue.fetch_deposits(Exchanges.MEXC, "main")
    assert sorted(d.client_id or "" for d in deposits) == ["w-1", "w-2", "w-3"]
    assert len({d.deposit_id for d in deposits}) == 3  # MEXC lists deposits by txid: still one id each


def test_a_deposit_no_desk_withdrawal_explains_stays_unnamed(pair: Pair, clock: ManualClock) -> None:
    _send(pair, "w-1", 50.0)
    clock.advance(5.0)
    pair.mexc.book.credit("mexc-main", "USDC", 50.0)  # the whole amount: not this withdrawal net of its fee
    assert [d.client_id for d in pair.mexc_venue.fetch_deposits(Exchanges.MEXC, "main")] == [None]


def test_a_claim_cut_short_by_a_crash_is_completed_for_its_own_withdrawal() -> None:
    state = MemoryState()
    sender, receiver = SentLog(state, Exchanges.KRAKEN), SentLog(state, Exchanges.MEXC)
    for client_id, at in (("w-old", 0.0), ("w-new", 1.0)):
        sender.save(
            SentTransfer(
                client_id=client_id,
                kind="withdraw",
                from_exchange=Exchanges.KRAKEN,
                from_account="main",
                to_exchange=Exchanges.MEXC,
                to_account="main",
                currency=Currencies.USDC,
                amount=50.0,
                fee=1.0,
                sent_at=at,
                state="sent",
                exchange_id=f"W-{client_id}",
            )
        )
    state.put("venue.mexc", "arrival:w-new", "D-new")  # the claim's first write; the process died after it
    deposit = Deposit(
        deposit_id="D-new",
        exchange=Exchanges.MEXC,
        account="main",
        currency=Currencies.USDC,
        amount=49.0,
        credited_at=5.0,
    )
    [named] = named_deposits(receiver, [sender], Exchanges.MEXC, "main", [deposit])
    assert named.client_id == "w-new"  # not the older, unmatched w-old: the half-made claim is completed
    assert receiver.deposit_of("D-new") == "w-new"
