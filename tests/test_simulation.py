"""The whole-desk deterministic simulation: a fixed set of seeds holds every invariant, replays exactly, and
exercises every fault; the invariants themselves catch what they must (tested on hand-made data).

A failing seed prints its replay command (``bin/run simulate --seed S ...``) in the assertion message.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from actors.base import Actor
from actors.stores.journal import TransferIntent
from actors.venues.simulated import Movement, MovementKind
from desk.simulation import FaultClass, SimOptions, SimResult, Simulation, run_seed
from desk.simulation.cli import main as simulate
from desk.simulation.gate import Gate
from desk.simulation.invariants import (
    AlertLog,
    check_chains,
    check_conservation,
    check_hedge,
    check_ledgers,
    check_tasks,
    hedge_figures,
)
from messages.alerts import Alert
from messages.balances import BalanceView
from messages.common import AccountRef, Currencies, Exchange, Exchanges
from messages.demo import DemoTick
from messages.tasks import TransferTaskKey
from supervisor import ChildSpec, ManualClock, Runtime, Supervisor

# Chosen among seeds that pass with the default switches, so that together they fire every fault kind
# and crash every actor (see test_the_ci_seeds_exercise_every_fault_and_crash_every_actor).
QUICK_SEEDS = [3, 5]
CI_SEEDS = [0, 2, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
FAULT_KINDS = {
    "reject",
    "timeout",
    "timeout_after_move",
    "outage",
    "latency",
    "dropped_push",
    "duplicated_push",
    "fill_races_cancel",
    "crash_before",
    "crash_after",
    "crash_after_write",
}


def _explain(result: SimResult) -> str:
    return f"seed {result.seed} at {result.step}: {result.violation}\n  replay: {result.replay}"


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_a_seed_holds_every_invariant_through_load_faults_and_crashes(seed: int) -> None:
    result = run_seed(seed)
    assert result.ok, _explain(result)
    assert result.turns > 500 and sum(result.faults.values()) > 0 and result.crashes


@pytest.fixture(scope="module")
def ci_results() -> Iterator[list[SimResult]]:
    yield [run_seed(seed) for seed in CI_SEEDS]


@pytest.mark.slow
def test_every_ci_seed_holds_every_invariant(ci_results: list[SimResult]) -> None:
    failures = [_explain(r) for r in ci_results if not r.ok]
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_the_ci_seeds_exercise_every_fault_and_crash_every_actor(ci_results: list[SimResult]) -> None:
    fired: Counter[str] = Counter()
    crashed: Counter[str] = Counter()
    for result in ci_results:
        fired.update(result.faults)
        crashed.update(result.crashes)
    assert set(fired) >= FAULT_KINDS, f"never fired: {FAULT_KINDS - set(fired)}"
    actors = {
        "gateway",
        "tasks",
        "transfers",
        "chains",
        "prices",
        "health",
        "report",
        "scheduler",
        "hedge_a",
        "hedge_b",
        "strategy_a",
        "strategy_b",
    }
    assert actors <= set(crashed), f"never crashed: {actors - set(crashed)}"


def test_the_same_seed_replays_exactly() -> None:
    first, second = run_seed(3), run_seed(3)
    assert first.digest == second.digest
    assert (first.turns, first.faults, first.crashes, first.sim_seconds) == (
        second.turns,
        second.faults,
        second.crashes,
        second.sim_seconds,
    )
    assert run_seed(4).digest != first.digest


def test_a_violation_names_its_seed_and_a_command_that_replays_it(capsys: pytest.CaptureFixture[str]) -> None:
    # a stricter rule than the desk keeps (it alerts exposure after 120 s, not 1 s): seed 2 breaks it
    options = SimOptions(exposure_alert_after=1.0)
    result = Simulation(2, options).run()
    assert not result.ok and "with no alert" in (result.violation or "")
    assert result.replay == "bin/run simulate --seed 2 --exposure-alert-after 1.0"
    assert simulate(["--seed", "2", "--exposure-alert-after", "1.0"]) == 1
    out = capsys.readouterr().out
    assert f"seed 2: VIOLATION at {result.step}" in out and result.replay in out


def test_bin_run_simulate_summarises_a_soak(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate(["--seeds", "2", "--first", "3", "--steps", "10"]) == 0
    out = capsys.readouterr().out
    assert "simulated 2 seeds (3..4)" in out and "0 with a violation" in out


def test_a_disabled_fault_class_never_fires() -> None:
    quiet = SimOptions(disabled=frozenset(FaultClass), steps=15)
    result = run_seed(3, quiet)
    assert result.ok, _explain(result)
    assert result.faults == {} and result.crashes == {}


# ---- the gate ---------------------------------------------------------------------------------


class Recorder(Actor):
    def __init__(self, seen: list[str], lock: threading.Lock) -> None:
        super().__init__()
        self.seen, self.lock = seen, lock

    def on_tick(self, message: DemoTick) -> None:
        with self.lock:
            self.seen.append(self.name)


def test_the_gate_lets_one_actor_handle_one_message_per_turn(clock: ManualClock) -> None:
    seen: list[str] = []
    lock = threading.Lock()
    runtime = Runtime([ChildSpec(n, lambda: Recorder(seen, lock)) for n in ("a", "b")], clock=clock)
    gate = Gate(timeout=10)
    gate.install(runtime)
    runtime.start()
    try:
        for name in ("a", "b", "a"):
            runtime.tell(name, DemoTick())
        gate.wait_idle()
        assert seen == [] and [box.name for box in gate.ready()] == ["a", "b"]
        gate.turn(gate.mailboxes["b"])
        assert seen == ["b"]
        gate.turn(gate.mailboxes["a"])
        assert seen == ["b", "a"] and len(gate.mailboxes["a"]) == 1
    finally:
        gate.open()
        runtime.stop()


def test_a_crash_on_the_head_message_dead_letters_it_and_restarts_the_actor(clock: ManualClock) -> None:
    seen: list[str] = []
    runtime = Runtime(
        Supervisor([ChildSpec("a", lambda: Recorder(seen, threading.Lock()))], backoff=(0.0, 0.0)), clock=clock
    )
    gate = Gate(timeout=10)
    gate.install(runtime)
    runtime.start()
    try:
        runtime.tell("a", DemoTick())
        gate.wait_idle()
        box = gate.mailboxes["a"]
        lost = box.crash_on_head(lambda envelope, reason: runtime.dead_letter("a", envelope.message, reason))
        gate.turn(box)
        assert isinstance(lost, DemoTick) and seen == []
        assert [s.restarts for s in runtime.status()] == [1]
        assert any(d.message_type == "DemoTick" and "simulated" in d.reason for d in runtime.dead_letters)
    finally:
        gate.open()
        runtime.stop()


# ---- the invariants on hand-made data ---------------------------------------------------------

K, M = Exchanges.KRAKEN, Exchanges.MEXC
KEY = TransferTaskKey(K, "trade", M, "main", Currencies.USDC)


def _debit(seq: int, client_id: str) -> Movement:
    return Movement(
        seq=seq,
        at=0.0,
        kind=MovementKind.DEBIT,
        exchange=K,
        account="trade",
        currency=Currencies.USDC,
        delta=-10.0,
        client_id=client_id,
    )


def _intent(client_id: str, attempt: int, extra: str | None = None) -> TransferIntent:
    return TransferIntent(
        client_id=client_id,
        key=KEY,
        task_timestamp=7,
        amount=10.0,
        status="done",
        attempt=attempt,
        created_at=0.0,
        updated_at=0.0,
        extra=extra,
    )


def test_two_paid_attempts_of_one_task_instance_are_a_violation() -> None:
    intents = [_intent("t-1", 1), _intent("t-2", 2)]
    wrong = check_tasks(intents, [_debit(1, "t-1"), _debit(2, "t-2")], {}, {(KEY, 7)}, final=False)
    assert wrong == ["task usdc kraken.trade -> mexc.main (instance 7) paid 2 times: ['t-1', 't-2']"]
    assert check_tasks(intents, [_debit(1, "t-1")], {}, {(KEY, 7)}, final=True) == []


def test_a_task_instance_neither_paid_nor_pending_is_lost() -> None:
    assert check_tasks([], [], {}, {(KEY, 7)}, final=True) == [
        "task usdc kraken.trade -> mexc.main (instance 7) was neither paid nor kept pending: lost"
    ]
    assert check_tasks([], [], {KEY: 7}, {(KEY, 7)}, final=True) == []


def test_a_chain_hop_paid_twice_and_a_chain_without_whereabouts_are_violations() -> None:
    intents = [_intent("t-1", 1, "chain:c:0"), _intent("t-2", 2, "chain:c:0")]
    assert check_chains({}, intents, [_debit(1, "t-1"), _debit(2, "t-2")], {}, final=False) == [
        "chain hop chain:c:0 paid 2 times: ['t-1', 't-2']"
    ]
    chain = {
        "status": "submitted",
        "hop": 0,
        "hops": [{"exchange": "kraken", "account": "trade"}, {"exchange": "mexc", "account": "main"}],
    }
    assert check_chains({"c": chain}, [], [], {KEY: 7}, final=True) == []
    assert "whereabouts are unknown" in check_chains({"c": chain}, [], [], {}, final=True)[0]


def test_a_ledger_off_the_venue_is_a_violation_unless_its_account_is_in_motion() -> None:
    view = BalanceView(
        exchange=K, account="trade", currency=Currencies.USDC, slots=(100.0, 100.0), credit_limit=0.0, updated_at=0.0
    )
    venue = {(K, "trade"): {Currencies.USDC: 90.0}}
    assert check_ledgers([view], venue, set()) == [
        "ledger differs from the venue: kraken.trade usdc: ledger 100.0 venue 90.0"
    ]
    assert check_ledgers([view], venue, {(K, "trade")}) == []
    assert check_conservation({Currencies.USDC: 0.01}) == ["funds not conserved: usdc off by 0.01000000"]


def _trade(seq: int, exchange: Exchange, account: str, delta: float) -> Movement:
    return Movement(
        seq=seq,
        at=0.0,
        kind=MovementKind.TRADE,
        exchange=exchange,
        account=account,
        currency=Currencies.BTC,
        delta=delta,
    )


def test_a_second_hedge_for_one_fill_and_an_unalerted_pause_are_violations() -> None:
    a, b = AccountRef(K, "hedge"), AccountRef(M, "hedge")
    twice = hedge_figures(
        [_trade(1, K, "hedge", 0.01), _trade(2, M, "hedge", -0.01), _trade(3, M, "hedge", -0.01)], a, b, Currencies.BTC
    )
    assert twice.net == -0.01
    wrong = check_hedge(twice, 0.01, False, AlertLog(), 0.0, 90.0, final=False)
    assert wrong == ["B sold 0.02000000 against A's buys of 0.01000000: a second order for one fill"]
    naked = hedge_figures([_trade(1, K, "hedge", 0.01)], a, b, Currencies.BTC)
    assert "A paused, but no alert names it" in check_hedge(naked, 0.01, True, AlertLog(), 0.0, 90.0, final=True)[0]
    alerts = AlertLog()
    alerts.add(Alert(key="hedge_a:unhedged", text="unhedged +0.0100 btc/usd", source="hedge_a"))
    assert check_hedge(naked, 0.01, True, alerts, 500.0, 90.0, final=True) == []
    assert check_hedge(naked, 0.01, False, AlertLog(), 120.0, 90.0, final=False) == [
        "net exposure +0.01000000 unhedged for 120 s with no alert (A not paused)"
    ]
    assert check_hedge(naked, 0.01, True, None, 500.0, 90.0, final=True) == []  # hedge alerts switched off


# ---- seeds that found bugs: each holds every invariant now, with every fault class on ----------

FOUND = [
    pytest.param(3, SimOptions(), id="issue8-item1-event-counted-twice-around-a-snapshot"),
    pytest.param(3, SimOptions(), id="issue8-item2-executed-hedge-reported-failed-then-hedged-again"),
    pytest.param(27, SimOptions(exposure_alert_after=45.0), id="issue8-item4-restarted-a-waits-the-timeout"),
    pytest.param(0, SimOptions(), id="issue8-item5-paused-with-a-residual-and-no-alert"),
    pytest.param(13, SimOptions(), id="issue8-item6-resume-forgets-a-residual"),
    pytest.param(8, SimOptions(), id="issue8-item7-executor-waits-forever-for-a-dead-lettered-snapshot"),
    pytest.param(62, SimOptions(), id="chain-watches-a-transfer-the-venue-never-received"),
    pytest.param(4, SimOptions(), id="operator-resumed-past-a-residual-that-stays-alerted"),
    pytest.param(36, SimOptions(), id="gateway-restarted-during-an-outage-keeps-a-stale-board-row"),
    pytest.param(436, SimOptions(), id="held-changes-while-the-venue-refuses-the-re-fetch"),
    pytest.param(476, SimOptions(), id="a-re-fetch-that-also-saw-an-unreported-change-of-the-same-size"),
]


@pytest.mark.parametrize(("seed", "options"), FOUND)
def test_a_seed_that_found_a_bug_now_holds_every_invariant(seed: int, options: SimOptions) -> None:
    assert options.disabled == frozenset() and options.hedge_alerts  # every fault class on
    result = run_seed(seed, options)
    assert result.ok, _explain(result)
