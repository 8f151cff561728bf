"""A venue change is counted exactly once whatever its timing relative to a balance snapshot (issue 8 item 1).

`RacingVenue` wraps the simulated venue: the gateway's next ``fetch_balance`` lets a transfer
and a fill complete while it is being answered, before or after the venue reads the balances.
The events then reach the gateway as the executor and the hedge actors would send them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loguru import logger

from actors.base import Actor
from actors.gateway import Gateway, GatewayAccount
from actors.snapshots import HeldChange, Placement, Window, explain
from actors.stores.board import InMemoryBoard
from actors.venues.simulated import MarketSpec, SimulatedVenue
from messages import Currencies, Currency, Exchange, Exchanges, currency_code
from messages.balances import Adjust, GetBalances, Reconcile
from messages.base import Message
from messages.trading import Fill, OrderType, Side
from supervisor import ChildSpec, ManualClock, Runtime, Supervisor
from tests.probe import Crash, Probe, recorder

K = Exchanges.KRAKEN
USDC, BTC = Currencies.USDC, Currencies.BTC
Action = Callable[[], None]


# ---- the pure part ------------------------------------------------------------------------------------------


def test_a_change_before_the_fetch_is_counted_after_it_is_new_and_during_it_is_ambiguous() -> None:
    window = Window(10.0, 10.5)
    assert window.place(9.99) is Placement.COUNTED
    assert window.place(10.0) is Placement.AMBIGUOUS
    assert window.place(10.5) is Placement.AMBIGUOUS
    assert window.place(10.51) is Placement.NEW
    assert window.place(None) is Placement.NEW  # no time known: an ordinary command


def held(ref: str, **deltas: float) -> HeldChange:
    return HeldChange(ref, 1.0, {currency_code(c): d for c, d in deltas.items()}, message=None)


def test_explain_finds_the_held_changes_the_fresh_snapshot_has_and_the_ledger_lacks() -> None:
    fill, transfer = held("fill", btc=0.01, usdc=-500.0), held("transfer", usdc=-100.0)
    ledger = {BTC: 1.0, USDC: 10_000.0}
    assert explain([fill, transfer], ledger, {BTC: 1.0, USDC: 10_000.0}) == []  # the snapshot had both
    assert explain([fill, transfer], ledger, {BTC: 1.01, USDC: 9_400.0}) == [fill, transfer]  # it had neither
    assert explain([fill, transfer], ledger, {BTC: 1.01, USDC: 9_500.0}) == [fill]  # it had the transfer only


def test_explain_says_none_when_something_else_moved_too() -> None:
    assert explain([held("t", usdc=-100.0)], {USDC: 10_000.0}, {USDC: 9_893.0}) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([BTC, USDC]), st.integers(-10_000, 10_000), st.booleans()), min_size=1, max_size=6
    ),
)
def test_explain_applies_exactly_what_the_snapshot_missed_whatever_it_had(
    changes: list[tuple[Currency, int, bool]],
) -> None:
    ledger = {BTC: 5.0, USDC: 50_000.0}  # the snapshot plus what was applied since; the held changes are not in it
    held_changes = [HeldChange(f"c{i}", 1.0, {c: d / 100}, message=None) for i, (c, d, _) in enumerate(changes)]
    in_snapshot = [change for change, (_, _, had) in zip(held_changes, changes, strict=True) if had]
    venue = dict(ledger)
    for change in held_changes:  # the fresh snapshot has every held change
        for currency, delta in change.deltas.items():
            venue[currency] += delta
    for change in in_snapshot:  # and the ledger (from the old snapshot) had those it counted
        for currency, delta in change.deltas.items():
            ledger[currency] += delta
    missing = explain(held_changes, ledger, venue)
    assert missing is not None
    for currency in (BTC, USDC):  # applying the answer makes the ledger the venue's, to the cent
        assert ledger[currency] + sum(c.deltas.get(currency, 0.0) for c in missing) == pytest.approx(venue[currency])


# ---- the gateway around a racing venue ------------------------------------------------------------------------


class RacingVenue:
    """The simulated venue; each scripted ``fetch_balance`` runs ``before`` it reads and ``after`` it has read."""

    def __init__(self, inner: SimulatedVenue) -> None:
        self.inner = inner
        self.script: deque[tuple[Action | None, Action | None]] = deque()
        self.fetches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def race_next_fetch(self, before: Action | None = None, after: Action | None = None) -> None:
        self.script.append((before, after))

    def fetch_balance(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        self.fetches += 1
        before, after = self.script.popleft() if self.script else (None, None)
        if before is not None:
            before()
        balances = self.inner.fetch_balance(exchange, account)
        if after is not None:
            after()
        return balances


class Sender(Actor):
    """Stands for the transfer executor and the hedge actors: the gateway's acks to it are dropped."""

    def on_message(self, message: Message) -> None:
        return None


@dataclass
class Race:
    """A gateway keeping kraken.main and kraken.other, a venue that can race its snapshots, and the events."""

    rt: Runtime
    venue: RacingVenue
    board: InMemoryBoard
    clock: ManualClock
    fills: list[Fill]
    adjusts: list[Adjust]

    def move_money_and_trade(self) -> None:
        """Inside a fetch: a transfer main -> other completes and a market buy on main fills."""
        inner = self.venue.inner
        result = inner.transfer("x-1", K, "main", K, "other", USDC, 100.0)
        self.adjusts += [
            Adjust(
                currency=USDC, delta=-100.0, exchange=K, account="main", ref="x-1:out", occurred_at=result.created_at
            ),
            Adjust(
                currency=USDC, delta=100.0, exchange=K, account="other", ref="x-1:in", occurred_at=result.completed_at
            ),
        ]
        inner.create_order(K, "main", "btc/usdc", Side.BUY, OrderType.MARKET, 0.01)

    def deliver_events(self) -> None:
        """The events reach the gateway after its snapshot, as the executor and hedge A send them."""
        for message in [*self.adjusts, *self.fills]:
            self.rt.tell("gateway", message, "sender")
        self.adjusts, self.fills[:] = [], []
        self.rt.ask("gateway", GetBalances())  # queued behind the events: they are handled

    def assert_ledgers_match_venue(self) -> None:
        for (exchange, account), balances in self.venue.inner.all_balances().items():
            for currency, amount in balances.items():
                view = self.board.read(exchange, account, currency)
                assert view is not None and view.total == pytest.approx(amount, abs=1e-6), (
                    f"{exchange}.{account} {currency}: ledger {view and view.total}, venue {amount}"
                )


@pytest.fixture
def race(make_runtime: Callable[..., Runtime], clock: ManualClock) -> Callable[..., Race]:
    def start(before_first_fetch: bool = False, after_read: bool = False) -> Race:
        inner = SimulatedVenue(
            clock,
            seed=3,
            balances={(K, "main"): {USDC: 10_000.0, BTC: 1.0}, (K, "other"): {USDC: 0.0}},
            markets={"btc/usdc": MarketSpec(price=50_000.0, volatility=0.0)},
        )
        venue, board, probe = RacingVenue(inner), InMemoryBoard(), Probe()
        fills: list[Fill] = []
        inner.subscribe_fills(K, "main", fills.append)
        state = Race(None, venue, board, clock, fills, [])  # type: ignore[arg-type]
        if before_first_fetch:
            arm(state, after_read)
        accounts = [GatewayAccount(K, "main", currencies=(USDC, BTC)), GatewayAccount(K, "other", currencies=(USDC,))]
        state.rt = make_runtime(
            Supervisor(
                [
                    ChildSpec("gateway", lambda: Gateway(venue, board, accounts)),  # type: ignore[arg-type]
                    ChildSpec("sender", Sender),
                    ChildSpec("canary", recorder(probe)),
                ],
                strategy="one_for_all",
                backoff=(0.0, 0.0),
            )
        )
        return state

    return start


def arm(state: Race, after_read: bool) -> None:
    if after_read:
        state.venue.race_next_fetch(after=state.move_money_and_trade)
    else:
        state.venue.race_next_fetch(before=state.move_money_and_trade)


@pytest.mark.parametrize("after_read", [False, True], ids=["inside-the-snapshot", "after-the-read"])
def test_a_transfer_and_a_fill_completing_inside_the_start_snapshot_are_counted_once(
    race: Callable[..., Race], after_read: bool
) -> None:
    state = race(before_first_fetch=True, after_read=after_read)
    assert state.fills and state.adjusts  # they did happen inside the first fetch
    state.deliver_events()
    state.assert_ledgers_match_venue()


@pytest.mark.parametrize("after_read", [False, True], ids=["inside-the-snapshot", "after-the-read"])
def test_a_transfer_and_a_fill_completing_inside_the_restart_snapshot_are_counted_once(
    race: Callable[..., Race], after_read: bool
) -> None:
    state = race()
    arm(state, after_read)
    state.rt.tell("canary", Crash())  # one_for_all: the gateway restarts and resets from the venue
    assert state.rt.wait_until(
        lambda: state.rt.status_of("gateway").restarts == 1 and state.rt.status_of("gateway").state == "running"
    )
    state.rt.ask("gateway", GetBalances())
    assert state.fills and state.adjusts
    state.deliver_events()
    state.assert_ledgers_match_venue()


@pytest.mark.parametrize("after_read", [False, True], ids=["inside-the-snapshot", "after-the-read"])
def test_a_transfer_and_a_fill_completing_inside_a_reconcile_snapshot_are_counted_once(
    race: Callable[..., Race], after_read: bool
) -> None:
    state = race()
    arm(state, after_read)
    state.rt.ask("gateway", Reconcile())
    assert state.fills and state.adjusts
    state.deliver_events()
    state.assert_ledgers_match_venue()
    state.clock.advance(60.0)
    assert state.rt.ask("gateway", Reconcile()).corrected == 0  # nothing left for the next reconcile to repair


def test_changes_a_venue_stamps_early_within_its_declared_clock_skew_are_still_counted_once(
    race: Callable[..., Race],
) -> None:
    """The venue's clock runs 2 s behind the desk's and it declares a 5 s skew: a transfer and a
    fill made just after the snapshot was read carry stamps from before the fetch began, yet the
    gateway holds them (the window is widened by the skew) instead of taking them as counted."""
    state = race()
    state.venue.inner.clock_skew = lambda exchange: 5.0  # type: ignore[method-assign]
    state.venue.race_next_fetch(after=state.move_money_and_trade)
    state.rt.ask("gateway", Reconcile())
    assert state.fills and state.adjusts
    state.adjusts = [msgspec.structs.replace(a, occurred_at=a.occurred_at - 2.0) for a in state.adjusts]
    state.fills[:] = [msgspec.structs.replace(f, timestamp=f.timestamp - 2.0) for f in state.fills]
    state.deliver_events()
    state.assert_ledgers_match_venue()


@pytest.fixture
def alerts_logged() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="CRITICAL", format="{message}")
    yield lines
    logger.remove(sink)


def test_a_change_no_re_fetch_can_explain_is_held_alerted_and_settled_by_the_next_snapshot(
    race: Callable[..., Race], alerts_logged: list[str]
) -> None:
    state = race()
    state.venue.race_next_fetch(before=state.move_money_and_trade)
    state.rt.ask("gateway", Reconcile())
    for _ in range(3):  # every re-fetch also sees money the desk never heard of
        state.venue.race_next_fetch(before=lambda: state.venue.inner.external_adjust(K, "main", USDC, -7.0, "unseen"))
    state.deliver_events()
    held = state.rt.ask("gateway", GetBalances()).unconfirmed  # the held transfer leg and fill are shown
    assert [line.split()[:2] for line in held] == [["kraken.main", "x-1:out"], ["kraken.main", "T1"]]
    main = state.board.read(K, "main", USDC)
    assert main is not None and main.total == pytest.approx(state.venue.inner.all_balances()[(K, "main")][USDC] + 21.0)
    for _ in range(3):  # tries 3, 4 and 5 (one per resolve_delay): the 5th raises the alert
        assert not any("gateway.unresolved" in line for line in alerts_logged)
        state.clock.advance(1.0)
        state.rt.ask("gateway", GetBalances())
    assert any("gateway.unresolved.kraken.main" in line for line in alerts_logged)
    state.clock.advance(60.0)
    state.rt.ask("gateway", Reconcile())  # a snapshot fetched after every held change counts them all
    state.assert_ledgers_match_venue()
    assert state.rt.ask("gateway", GetBalances()).unconfirmed == []


def test_a_re_fetch_that_also_saw_an_unreported_change_of_the_same_size_counts_each_change_once(
    race: Callable[..., Race],
) -> None:
    state = race()
    inner = state.venue.inner

    def transfer(client_id: str) -> None:
        result = inner.transfer(client_id, K, "main", K, "other", USDC, 100.0)
        state.adjusts += [
            Adjust(
                currency=USDC,
                delta=-100.0,
                exchange=K,
                account="main",
                ref=f"{client_id}:out",
                occurred_at=result.created_at,
            ),
            Adjust(
                currency=USDC,
                delta=100.0,
                exchange=K,
                account="other",
                ref=f"{client_id}:in",
                occurred_at=result.completed_at,
            ),
        ]

    state.venue.race_next_fetch(before=lambda: transfer("x-1"))  # x-1 completes inside the reconcile's fetch
    state.rt.ask("gateway", Reconcile())
    state.clock.advance(1.0)
    first, state.adjusts = state.adjusts, []
    state.venue.race_next_fetch(before=lambda: transfer("x-2"))  # the re-fetch for x-1 also sees x-2, unreported
    for message in first:
        state.rt.tell("gateway", message, "sender")
    state.rt.ask("gateway", GetBalances())
    state.deliver_events()  # x-2's legs arrive after the re-fetch that already counted them
    state.assert_ledgers_match_venue()
