"""The balance gateway through messages: a real Runtime, a manual clock and the simulated venue."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from loguru import logger

from actors.base import Actor
from actors.gateway import Gateway, GatewayAccount
from actors.stores.board import InMemoryBoard, StrategyBalanceManager, install_board, installed_board
from actors.venues.simulated import SimulatedVenue
from messages import Currencies, Currency, Exchange, Exchanges, Ping, Rejected
from messages.balances import (
    Adjust,
    Allocate,
    Balances,
    BalanceView,
    GetBalances,
    LedgerCorrection,
    LedgerReset,
    Reconcile,
    Reconciled,
    Release,
)
from messages.commands import parse_command
from messages.trading import Fill, Side
from supervisor import ChildSpec, ManualClock, Runtime, Supervisor
from supervisor.spec import Strategy
from tests.money import ask_as
from tests.probe import Crash, Probe, recorder

KRAKEN, MEXC, BINANCE = Exchanges.KRAKEN, Exchanges.MEXC, Exchanges.BINANCE
USD, USDC, BTC, ETH = Currencies.USD, Currencies.USDC, Currencies.BTC, Currencies.ETH
EMPTY_SUBS = (0.0,) * 6


class StrategyStub(Actor):
    """A sub-strategy that only records the `LedgerReset` notices it is told."""

    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def on_ledger_reset(self, message: LedgerReset) -> None:
        self.probe.record("reset", self.name, f"{message.exchange}.{message.account}.{message.currency}")


@dataclass
class Desk:
    """A running gateway with two strategies (slots 2 and 3), its venue and its board."""

    rt: Runtime
    venue: SimulatedVenue
    board: InMemoryBoard
    probe: Probe
    clock: ManualClock

    def ask(self, message: Any) -> Any:
        return self.rt.ask("gateway", message)

    def from_actor(self, message: Any) -> Any:
        """Ask as an actor of the desk would (fills come from the hedge actors, never from a client)."""
        return ask_as(self.rt, "strat_a", "gateway", message)

    def slots(self, currency: Currency = USDC, exchange: Exchange = KRAKEN, account: str = "main") -> tuple[float, ...]:
        view = self.board.read(exchange, account, currency)
        assert view is not None, f"nothing published for {exchange}.{account} {currency}"
        return view.slots

    def state(self) -> tuple[list[BalanceView], list[BalanceView]]:
        """What the gateway answers and what the board shows, to compare before and after."""
        return self.ask(GetBalances()).views, sorted(
            self.board.views(), key=lambda v: (v.exchange, v.account, v.currency)
        )

    def resets(self, strategy: str) -> list[str]:
        return [e[2] for e in self.probe.of("reset", strategy)]


DeskFactory = Callable[..., Desk]


@pytest.fixture
def start_desk(make_runtime: Callable[..., Runtime], clock: ManualClock) -> DeskFactory:
    def start(
        balances: Mapping[tuple[Exchange, str], Mapping[Currency, float]] | None = None,
        accounts: Sequence[GatewayAccount] = (GatewayAccount(KRAKEN, "main"),),
        strategies: Mapping[int, str] | None = None,
        prepare: Callable[[SimulatedVenue], None] | None = None,
        one_for_all_with_canary: bool = False,
    ) -> Desk:
        venue = SimulatedVenue(clock, seed=0, balances=balances or {(KRAKEN, "main"): {USDC: 10_000.0}})
        if prepare is not None:
            prepare(venue)
        board, probe = InMemoryBoard(), Probe()
        named = {2: "strat_a", 3: "strat_b"} if strategies is None else strategies
        children = [ChildSpec("gateway", lambda: Gateway(venue, board, accounts, named))]
        children += [ChildSpec(name, lambda: StrategyStub(probe)) for name in ("strat_a", "strat_b")]
        if one_for_all_with_canary:
            children.append(ChildSpec("canary", recorder(probe)))
        strategy: Strategy = "one_for_all" if one_for_all_with_canary else "one_for_one"
        rt = make_runtime(Supervisor(children, strategy=strategy, backoff=(0.0, 0.0)))
        return Desk(rt, venue, board, probe, clock)

    return start


@pytest.fixture
def warnings_logged() -> Iterator[list[Any]]:
    """Every loguru record at WARNING or above while the test runs."""
    records: list[Any] = []
    sink = logger.add(lambda message: records.append(message.record), level="WARNING", format="{message}")
    yield records
    logger.remove(sink)


def logged(records: list[Any], level: str, text: str) -> list[str]:
    return [r["message"] for r in records if r["level"].name == level and text in r["message"]]


# ---- start -----------------------------------------------------------------------------------------------


def test_start_resets_every_currency_from_the_venue_and_publishes_it(start_desk: DeskFactory) -> None:
    desk = start_desk(
        balances={(KRAKEN, "main"): {USDC: 10_000.0, BTC: 0.5}},
        accounts=[GatewayAccount(KRAKEN, "main", currencies=(USD,), credit_limits={USDC: 250.0})],
    )
    assert desk.slots(USDC) == (10_000.0, 10_000.0, *EMPTY_SUBS)
    assert desk.slots(BTC) == (0.5, 0.5, *EMPTY_SUBS)
    assert desk.slots(USD) == (0.0, 0.0, *EMPTY_SUBS)  # configured, though the venue reports none
    view = desk.board.read(KRAKEN, "main", USDC)
    assert view is not None and view.credit_limit == 250.0 and view.updated_at == desk.clock.now()
    assert desk.board.default_account(KRAKEN) == "main"
    assert sorted(v.currency for v in desk.ask(GetBalances()).views) == sorted([USDC, BTC, USD])


def test_start_tells_every_strategy_to_request_its_capital_again(start_desk: DeskFactory) -> None:
    desk = start_desk()
    assert desk.probe.wait_for(lambda: len(desk.resets("strat_a")) == 1 and len(desk.resets("strat_b")) == 1)
    assert desk.resets("strat_a") == ["kraken.main.usdc"]


def test_the_first_account_of_each_exchange_is_its_default_and_the_first_overall_takes_bare_commands(
    start_desk: DeskFactory,
) -> None:
    desk = start_desk(
        balances={(KRAKEN, "main"): {USDC: 100.0}, (KRAKEN, "trade"): {USDC: 200.0}, (MEXC, "spot"): {USDC: 300.0}},
        accounts=[GatewayAccount(KRAKEN, "main"), GatewayAccount(KRAKEN, "trade"), GatewayAccount(MEXC, "spot")],
    )
    assert (desk.board.default_account(KRAKEN), desk.board.default_account(MEXC)) == ("main", "spot")
    assert desk.ask(Allocate(currency=USDC, index=2, amount=1.0)).account == "main"
    assert desk.ask(Allocate(currency=USDC, index=2, amount=2.0, exchange=MEXC)).account == "spot"
    view = desk.ask(Allocate(currency=USDC, index=2, amount=3.0, account="trade"))
    assert (view.exchange, view.account, view.slots[2]) == (KRAKEN, "trade", 3.0)


# ---- commands ----------------------------------------------------------------------------------------------


def test_allocate_release_and_adjust_answer_the_new_view_and_publish_it(start_desk: DeskFactory) -> None:
    desk = start_desk()
    view = desk.ask(Allocate(currency=USDC, index=2, amount=2500.0, strategy="a"))
    assert isinstance(view, BalanceView) and view.slots == (10_000.0, 7500.0, 2500.0, *EMPTY_SUBS[1:])
    assert desk.slots() == view.slots
    desk.ask(Release(currency=USDC, index=2, amount=500.0, strategy="a"))
    assert desk.slots()[:3] == (10_000.0, 8000.0, 2000.0)
    desk.ask(Adjust(currency=USDC, delta=-1000.0, strategy="a"))
    assert desk.slots()[:3] == (9000.0, 7000.0, 2000.0)


def test_the_seed_json_commands_work_through_parse_command(start_desk: DeskFactory) -> None:
    desk = start_desk(balances={(KRAKEN, "main"): {USD: 5000.0}})
    desk.ask(parse_command('{"strategy": "a", "cmd": "allocate", "currency": "usd", "amount": 100, "index": 2}'))
    assert desk.slots(USD)[:3] == (5000.0, 4900.0, 100.0)
    desk.ask(parse_command('{"strategy": "a", "cmd": "release", "currency": "usd", "amount": 100, "index": 2}'))
    assert desk.slots(USD)[:3] == (5000.0, 5000.0, 0.0)
    desk.ask(parse_command('{"strategy": "a", "cmd": "adjust", "currency": "usd", "amount": -1000, "index": 0}'))
    desk.ask(parse_command('{"strategy": "a", "cmd": "adjust", "currency": "usd", "delta": -1000, "index": 0}'))
    assert desk.slots(USD)[:2] == (3000.0, 3000.0)


def test_allocation_may_use_the_credit_limit(start_desk: DeskFactory) -> None:
    desk = start_desk(accounts=[GatewayAccount(KRAKEN, "main", credit_limits={USDC: 500.0})])
    view = desk.ask(Allocate(currency=USDC, index=3, amount=10_500.0))
    assert view.slots[:4] == (10_000.0, -500.0, 0.0, 10_500.0) and view.available == 0.0


REFUSALS = [
    (Allocate(currency=USDC, index=2, amount=1.0, exchange=BINANCE), "unknown exchange binance"),
    (Allocate(currency=USDC, index=2, amount=1.0, account="nope"), "unknown account kraken.nope"),
    (Allocate(currency=ETH, index=2, amount=1.0), "unknown currency 'eth'"),
    (Allocate(currency=USDC, index=8, amount=1.0), "index 8 is not a sub-strategy slot"),
    (Allocate(currency=USDC, index=1, amount=1.0), "index 1 is not a sub-strategy slot"),
    (Allocate(currency=USDC, index=2, amount=-5.0), "amount must be positive"),
    (Allocate(currency=USDC, index=2, amount=0.0), "amount must be positive"),
    (Allocate(currency=USDC, index=2, amount=9000.5), "only 9000.0 available"),
    (Release(currency=USDC, index=2, amount=1000.5), "it holds only 1000.0"),
    (Release(currency=USDC, index=3, amount=1.0), "it holds only 0.0"),
    (Release(currency=USDC, index=-1, amount=1.0), "index -1 is not"),
    (Adjust(currency=USDC, delta=-2000.0, index=2), "cannot go below zero"),
    (Adjust(currency=USDC, delta=1.0, index=9), "index 9 is not a slot"),
    (Adjust(currency=BTC, delta=1.0), "unknown currency 'btc'"),
]


@pytest.mark.parametrize(("message", "reason"), REFUSALS, ids=[r for _, r in REFUSALS])
def test_a_command_that_cannot_be_honoured_is_rejected_and_changes_nothing(
    start_desk: DeskFactory, message: Any, reason: str
) -> None:
    desk = start_desk()
    desk.ask(Allocate(currency=USDC, index=2, amount=1000.0))
    before = desk.state()
    answer = desk.ask(message)
    assert isinstance(answer, Rejected)
    assert reason in answer.reason and answer.message_type == type(message).__name__
    assert desk.state() == before


def test_a_non_finite_amount_cannot_even_be_sent() -> None:
    with pytest.raises(ValueError, match="must be a finite number"):
        Allocate(currency=USDC, index=2, amount=float("nan"))


def test_an_adjust_whose_ref_was_applied_changes_nothing_and_answers_the_current_view(start_desk: DeskFactory) -> None:
    desk = start_desk(
        balances={(KRAKEN, "main"): {USDC: 1000.0}, (KRAKEN, "trade"): {}},
        accounts=[GatewayAccount(KRAKEN, "main"), GatewayAccount(KRAKEN, "trade", currencies=(USDC,))],
    )
    first = desk.ask(Adjust(currency=USDC, delta=-100.0, ref="tx-1"))
    again = desk.ask(Adjust(currency=USDC, delta=-100.0, ref="tx-1"))
    assert first.total == 900.0 and again == first and desk.slots() == first.slots
    other_side = desk.ask(Adjust(currency=USDC, delta=100.0, ref="tx-1", account="trade"))  # a transfer's other leg
    assert other_side.total == 100.0
    assert desk.ask(Adjust(currency=USDC, delta=-100.0, ref="tx-2")).total == 800.0


# ---- fills ----------------------------------------------------------------------------------------------------


def fill(
    side: Side, trade_id: str, quantity: float = 0.1, price: float = 50_000.0, fee: float = 5.0, account: str = "main"
) -> Fill:
    return Fill(
        exchange=KRAKEN,
        account=account,
        market="btc/usdc",
        side=side,
        quantity=quantity,
        price=price,
        trade_id=trade_id,
        order_id="o-1",
        fee=fee,
    )


def test_a_buy_fill_adds_base_and_costs_quote_plus_fee_without_asking_the_venue(start_desk: DeskFactory) -> None:
    desk = start_desk(balances={(KRAKEN, "main"): {USDC: 10_000.0, BTC: 1.0}})
    desk.venue.faults.outage(3600)  # applying a fill is local arithmetic: no venue call
    answer = desk.from_actor(fill(Side.BUY, "t-1"))
    assert isinstance(answer, Balances) and {v.currency for v in answer.views} == {BTC, USDC}
    assert desk.slots(BTC)[:2] == (1.1, 1.1)
    assert desk.slots(USDC)[:2] == (4995.0, 4995.0)


def test_a_sell_fill_is_the_reverse_and_sub_strategies_keep_their_slots(start_desk: DeskFactory) -> None:
    desk = start_desk(balances={(KRAKEN, "main"): {USDC: 10_000.0, BTC: 1.0}})
    desk.ask(Allocate(currency=USDC, index=2, amount=3000.0))
    desk.from_actor(fill(Side.SELL, "t-1"))
    assert desk.slots(BTC)[0] == pytest.approx(0.9)
    assert desk.slots(USDC)[:3] == (14_995.0, 11_995.0, 3000.0)


def test_a_fill_reported_twice_is_applied_once(start_desk: DeskFactory) -> None:
    desk = start_desk(balances={(KRAKEN, "main"): {USDC: 10_000.0, BTC: 1.0}})
    desk.from_actor(fill(Side.BUY, "t-1"))
    repeat = desk.from_actor(fill(Side.BUY, "t-1"))
    assert isinstance(repeat, Balances)
    assert desk.slots(USDC)[0] == 4995.0 and desk.slots(BTC)[0] == pytest.approx(1.1)
    desk.from_actor(fill(Side.BUY, "t-2", quantity=0.01, fee=0.0))
    assert desk.slots(USDC)[0] == 4495.0


def test_a_fill_for_an_account_the_gateway_does_not_keep_is_rejected(start_desk: DeskFactory) -> None:
    desk = start_desk()
    before = desk.state()
    answer = desk.from_actor(fill(Side.BUY, "t-1", account="elsewhere"))
    assert isinstance(answer, Rejected) and "unknown account kraken.elsewhere" in answer.reason
    assert desk.state() == before


# ---- reconcile ------------------------------------------------------------------------------------------------


def test_reconcile_sets_the_total_to_the_venue_keeps_sub_strategies_and_logs_before_and_after(
    start_desk: DeskFactory, warnings_logged: list[Any]
) -> None:
    desk = start_desk()
    desk.ask(Allocate(currency=USDC, index=2, amount=2000.0))
    desk.venue.external_adjust(KRAKEN, "main", USDC, -500.0, note="a fee we never saw")
    assert desk.ask(Reconcile()) == Reconciled(checked=1, corrected=1, reset=0)
    assert desk.slots()[:3] == (9500.0, 7500.0, 2000.0)
    [line] = logged(warnings_logged, "WARNING", "reconcile: kraken.main usdc")
    assert "total 10000.0 -> 9500.0" in line and "pool 8000.0 -> 7500.0" in line
    desk.venue.external_adjust(KRAKEN, "main", USDC, 200.0, note="a rebate")
    desk.ask(Reconcile())
    assert desk.ask(GetBalances()).corrections == (
        LedgerCorrection(account="kraken.main", currency=USDC, count=2, amount=700.0),
    )  # what the operator's metrics show (treasury_ledger_corrections)


def test_reconcile_of_agreeing_totals_corrects_nothing(start_desk: DeskFactory) -> None:
    desk = start_desk()
    desk.ask(Adjust(currency=USDC, delta=-100.0))
    desk.venue.external_adjust(KRAKEN, "main", USDC, -100.0, note="the trade the adjust reported")
    before = desk.state()
    assert desk.ask(Reconcile()) == Reconciled(checked=1, corrected=0, reset=0)
    assert desk.state() == before


def test_reconcile_opens_a_currency_that_appeared_on_the_venue(start_desk: DeskFactory) -> None:
    desk = start_desk()
    desk.venue.deposit(KRAKEN, "main", BTC, 0.25)
    desk.ask(Reconcile())
    assert desk.slots(BTC)[:2] == (0.25, 0.25)


def test_reconcile_resets_alerts_and_tells_every_strategy_when_pool_plus_credit_is_negative(
    start_desk: DeskFactory, warnings_logged: list[Any]
) -> None:
    desk = start_desk(accounts=[GatewayAccount(KRAKEN, "main", credit_limits={USDC: 100.0})])
    desk.ask(Allocate(currency=USDC, index=2, amount=9000.0))
    desk.venue.external_adjust(KRAKEN, "main", USDC, -2000.0, note="liquidation")
    assert desk.ask(Reconcile()) == Reconciled(checked=1, corrected=1, reset=1)
    assert desk.slots() == (8000.0, 8000.0, *EMPTY_SUBS)
    assert logged(
        warnings_logged, "CRITICAL", "ALERT gateway.unrepairable.kraken.main.usdc: kraken.main usdc cannot be repaired"
    )
    assert desk.probe.wait_for(lambda: len(desk.resets("strat_a")) == 2 and len(desk.resets("strat_b")) == 2)


def test_reconcile_within_the_credit_limit_keeps_the_allocations(start_desk: DeskFactory) -> None:
    desk = start_desk(accounts=[GatewayAccount(KRAKEN, "main", credit_limits={USDC: 100.0})])
    desk.ask(Allocate(currency=USDC, index=2, amount=9000.0))
    desk.venue.external_adjust(KRAKEN, "main", USDC, -1050.0, note="fees")
    assert desk.ask(Reconcile()) == Reconciled(checked=1, corrected=1, reset=0)
    assert desk.slots()[:3] == (8950.0, -50.0, 9000.0)


def test_a_venue_outage_during_reconcile_is_logged_and_the_gateway_keeps_serving(
    start_desk: DeskFactory, warnings_logged: list[Any]
) -> None:
    desk = start_desk()
    desk.venue.faults.outage(60)
    assert desk.ask(Reconcile()) == Reconciled(checked=0, corrected=0, reset=0)
    assert logged(warnings_logged, "WARNING", "reconcile of kraken.main skipped")
    assert desk.ask(Allocate(currency=USDC, index=2, amount=10.0)).slots[2] == 10.0
    assert desk.rt.status_of("gateway").restarts == 0


def test_a_rejected_fetch_skips_only_that_account(start_desk: DeskFactory) -> None:
    desk = start_desk(
        balances={(KRAKEN, "main"): {USDC: 100.0}, (MEXC, "spot"): {USDC: 50.0}},
        accounts=[GatewayAccount(KRAKEN, "main"), GatewayAccount(MEXC, "spot")],
    )
    desk.venue.external_adjust(KRAKEN, "main", USDC, -10.0, note="fee")
    desk.venue.external_adjust(MEXC, "spot", USDC, -10.0, note="fee")
    desk.venue.faults.reject_next(1, "fetch_balance")
    assert desk.ask(Reconcile()) == Reconciled(checked=1, corrected=1, reset=0)
    assert desk.slots()[0] == 100.0 and desk.slots(exchange=MEXC, account="spot")[0] == 40.0


# ---- restarts and outages ------------------------------------------------------------------------------------


def test_a_restarted_gateway_reinitialises_from_the_venue_and_tells_the_strategies(start_desk: DeskFactory) -> None:
    desk = start_desk(one_for_all_with_canary=True)
    desk.ask(Allocate(currency=USDC, index=2, amount=4000.0))
    desk.venue.deposit(KRAKEN, "main", USDC, 1000.0)
    desk.rt.tell("canary", Crash("restart everyone"))  # one_for_all: the gateway restarts with it
    assert desk.rt.wait_until(
        lambda: desk.rt.status_of("gateway").restarts == 1 and desk.rt.status_of("gateway").state == "running"
    )
    assert desk.slots() == (11_000.0, 11_000.0, *EMPTY_SUBS)
    assert [v.slots for v in desk.ask(GetBalances()).views] == [(11_000.0, 11_000.0, *EMPTY_SUBS)]
    assert desk.probe.wait_for(lambda: len(desk.resets("strat_a")) >= 2)


def test_a_venue_outage_at_start_does_not_crash_loop_and_the_retry_initialises_later(
    start_desk: DeskFactory, warnings_logged: list[Any]
) -> None:
    desk = start_desk(prepare=lambda venue: venue.faults.outage(12.0))
    assert desk.rt.status_of("gateway").restarts == 0
    answer = desk.ask(Allocate(currency=USDC, index=2, amount=1.0))
    assert isinstance(answer, Rejected) and "kraken.main is not initialised" in answer.reason
    assert "simulated outage" in answer.reason
    assert desk.board.read(KRAKEN, "main", USDC) is None
    assert logged(warnings_logged, "CRITICAL", "cannot initialise kraken.main")  # alerted
    desk.clock.advance(5.0)  # the first retry: still down
    desk.ask(Ping())
    assert isinstance(desk.ask(Allocate(currency=USDC, index=2, amount=1.0)), Rejected)
    desk.clock.advance(10.0)  # the outage is over by the next retry
    desk.ask(Ping())
    assert desk.slots()[:2] == (10_000.0, 10_000.0)
    assert desk.ask(Allocate(currency=USDC, index=2, amount=1.0)).slots[2] == 1.0
    assert desk.rt.status_of("gateway").restarts == 0


def test_a_reconcile_initialises_an_account_the_venue_could_not_serve_at_start(start_desk: DeskFactory) -> None:
    desk = start_desk(prepare=lambda venue: venue.faults.reject_next(1, "fetch_balance"))
    assert isinstance(desk.ask(Allocate(currency=USDC, index=2, amount=1.0)), Rejected)
    desk.ask(Reconcile())
    assert desk.slots()[0] == 10_000.0
    assert desk.probe.wait_for(lambda: desk.resets("strat_a") == ["kraken.main.usdc"])


def test_a_strategy_name_that_does_not_exist_does_not_crash_the_gateway(
    start_desk: DeskFactory, warnings_logged: list[Any]
) -> None:
    desk = start_desk(strategies={2: "ghost", 3: "strat_b"})
    assert desk.ask(Ping()).actor == "gateway"
    assert desk.rt.status_of("gateway").restarts == 0
    assert logged(warnings_logged, "ERROR", "cannot tell strategy ghost (slot 2)")
    assert desk.probe.wait_for(lambda: desk.resets("strat_b") == ["kraken.main.usdc"])


def test_get_balances_filters_by_exchange_account_and_currency(start_desk: DeskFactory) -> None:
    desk = start_desk(
        balances={(KRAKEN, "main"): {USDC: 1.0, BTC: 2.0}, (MEXC, "spot"): {USDC: 3.0}},
        accounts=[GatewayAccount(KRAKEN, "main"), GatewayAccount(MEXC, "spot")],
    )
    assert [v.total for v in desk.ask(GetBalances(exchange=MEXC)).views] == [3.0]
    assert sorted(v.total for v in desk.ask(GetBalances(currency=USDC)).views) == [1.0, 3.0]
    assert [v.total for v in desk.ask(GetBalances(account="main", currency=BTC)).views] == [2.0]


# ---- readers ---------------------------------------------------------------------------------------------------


@pytest.fixture
def board_slot() -> Iterator[None]:
    previous = installed_board()
    yield
    install_board(previous)


def test_the_strategy_balance_manager_reads_what_the_gateway_published(
    start_desk: DeskFactory, board_slot: None
) -> None:
    desk = start_desk()
    install_board(desk.board)
    manager = StrategyBalanceManager(KRAKEN, strategy_count=8)
    desk.ask(Allocate(currency=USDC, index=2, amount=1234.0))
    assert manager.get_balance(USDC, index=0) == 10_000.0
    assert manager.get_balance(USDC, index=1) == 8766.0
    assert manager.get_balance(USDC, index=2) == 1234.0
    assert manager.get_balance(BTC, index=2) == 0.0


# ---- what the last venue snapshot already counts ------------------------------------------------------------


def test_an_adjust_from_before_the_last_reconcile_is_already_counted(start_desk: DeskFactory) -> None:
    desk = start_desk()
    moved_at = desk.clock.now()
    desk.venue.external_adjust(KRAKEN, "main", USDC, -400.0, "a withdrawal the gateway hears about late")
    desk.clock.advance(1.0)
    assert desk.ask(Reconcile()).corrected == 1  # the snapshot already shows the withdrawal
    late = desk.ask(Adjust(currency=USDC, delta=-400.0, occurred_at=moved_at, ref="w-1"))
    assert isinstance(late, BalanceView) and late.total == 9_600.0  # not counted twice
    desk.clock.advance(1.0)
    after = desk.ask(Adjust(currency=USDC, delta=-100.0, occurred_at=desk.clock.now()))
    assert after.total == 9_500.0  # a change after the snapshot is applied


def test_a_fill_from_before_a_restart_snapshot_is_not_applied_again(start_desk: DeskFactory) -> None:
    desk = start_desk(balances={(KRAKEN, "main"): {USDC: 10_000.0, BTC: 1.0}}, one_for_all_with_canary=True)
    traded_at = desk.clock.now()
    desk.venue.external_adjust(KRAKEN, "main", BTC, 0.1, "the trade, seen by the venue")
    desk.clock.advance(1.0)
    desk.rt.tell("canary", Crash())  # one_for_all: the gateway restarts and resets from the venue
    assert desk.rt.wait_until(
        lambda: desk.rt.status_of("gateway").restarts == 1 and desk.rt.status_of("gateway").state == "running"
    )
    late_fill = Fill(
        exchange=KRAKEN,
        account="main",
        market="btc/usdc",
        side=Side.BUY,
        quantity=0.1,
        price=50_000.0,
        trade_id="t-late",
        order_id="o-1",
        timestamp=traded_at,
    )
    desk.from_actor(late_fill)
    assert desk.slots(BTC)[0] == pytest.approx(1.1)  # counted once, by the snapshot
