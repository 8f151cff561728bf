"""The whole-desk simulation with the real adapters: Kraken and MEXC through ccxt against their
local fakes (`tests.fakes.world`), the seed deciding the fakes' faults, the same invariants plus
the fakes' own count of withdrawals (nothing paid twice, nothing paid reported failed, none lost).

A failing seed prints its replay command (``bin/run simulate --seed S --world tests.fakes.world:FakeExchanges``).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from actors.stores.journal import IntentStatus, TransferIntent
from actors.venues.sent import MemoryState, SentLog, SentTransfer
from desk.simulation import SimOptions, SimResult, Simulation
from desk.simulation.cli import main as simulate
from desk.simulation.invariants import check_withdrawals
from desk.simulation.venues import load_world
from messages.common import AccountRef, Exchanges
from messages.tasks import TransferTaskKey
from tests.fakes.world import FakeExchanges

WORLD = "tests.fakes.world:FakeExchanges"
LIGHTER_WORLD = "tests.fakes.world:FakeExchangesLighterHedge"
CI_SEEDS = [1, 3]  # about 10 s each on this machine
FOUND = [
    # A crash between the sent log's two writes left a withdrawal without its claim: the desk's
    # record of it could be taken by another request's history lookup (sent.py: the claim first).
    100,
    # A withdrawal lost before Kraken got it: after the history window the adapter says unknown
    # (VenueOutcomeUnknown); the executor logged "cannot check now" and left it sending, never alerted.
    104,
    # An outage of the fills feed: a fill the fake had and the adapter could not poll yet read as a
    # ledger off its venue (the world now names such accounts in motion, and wants none at the end).
    110,
    # A crash between the two writes that name a deposit: a second deposit took the same withdrawal,
    # and another transfer stayed in flight for good (sent.py: the withdrawal's side first, completed).
    119,
]


def _explain(result: SimResult) -> str:
    return f"seed {result.seed} at {result.step}: {result.violation}\n  replay: {result.replay}"


def _run(seed: int, options: SimOptions | None = None, world: str = WORLD) -> SimResult:
    return Simulation(seed, options, world=load_world(world)).run()


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_a_seed_against_the_fakes_holds_every_invariant(seed: int) -> None:
    result = _run(seed)
    assert result.ok, _explain(result)
    assert result.replay == f"bin/run simulate --seed {seed} --world {WORLD}"
    assert sum(result.faults.values()) > 0  # the fakes' faults did fire


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3])
def test_a_seed_with_the_hedge_pair_on_lighter_holds_every_invariant(seed: int) -> None:
    result = _run(seed, world=LIGHTER_WORLD)
    assert result.ok, _explain(result)
    assert result.replay == f"bin/run simulate --seed {seed} --world {LIGHTER_WORLD}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", FOUND)
def test_a_seed_that_found_a_bug_against_the_fakes_now_holds(seed: int) -> None:
    result = _run(seed)
    assert result.ok, _explain(result)


def test_a_short_seed_against_the_fakes_replays_exactly() -> None:
    options = SimOptions(steps=8, quiet_rounds=4)
    first, second = _run(5, options), _run(5, options)
    assert first.ok and second.ok, _explain(first if not first.ok else second)
    assert first.digest == second.digest and first.faults == second.faults


def test_bin_run_simulate_takes_the_world_by_import_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate(["--seed", "3", "--world", WORLD, "--steps", "4"]) == 0
    assert "seed 3: ok" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        simulate(["--seed", "3", "--world", "tests.fakes.world:NoSuchWorld"])
    assert "NoSuchWorld" in capsys.readouterr().err


def test_the_world_keeps_money_between_exchanges_and_chains_alternating() -> None:
    world, rng = FakeExchanges(), random.Random(1)
    for _ in range(50):
        source, destination = world.money_pair(rng)
        assert source.exchange != destination.exchange
        hops = world.chain_hops(rng)
        assert len(hops) in (3, 4) and len(set(hops)) == len(hops)
        assert all(a.exchange != b.exchange for a, b in zip(hops, hops[1:], strict=False))


# ---- the withdrawal count, on hand-made data ---------------------------------------------------

K, M = AccountRef(Exchanges.KRAKEN, "trade"), AccountRef(Exchanges.MEXC, "main")


def _intent(client_id: str, status: str, amount: float = 50.0) -> TransferIntent:
    key = TransferTaskKey(K.exchange, K.account, M.exchange, M.account, "usdc")
    return TransferIntent(client_id=client_id, key=key, task_timestamp=1, amount=amount, status=IntentStatus(status))


def _made(n: int, amount: float = 50.0) -> list[Any]:
    return [(K, M, amount, (Exchanges.KRAKEN, f"W{i}")) for i in range(n)]


def test_two_withdrawals_for_one_transfer_are_paid_twice() -> None:
    wrong = check_withdrawals([_intent("t-1", "in_flight")], _made(2), {}, final=False)
    assert wrong and "paid twice" in wrong[0]


def test_a_withdrawal_the_desk_reports_failed_is_a_violation() -> None:
    wrong = check_withdrawals([_intent("t-1", "failed")], _made(1), {}, final=False)
    assert wrong and "paid twice" in wrong[0]  # more made than the desk may have sent


def test_once_settled_every_withdrawal_is_one_sent_transfer_and_claimed() -> None:
    claims = {(Exchanges.KRAKEN, "W0"): "t-1"}
    assert check_withdrawals([_intent("t-1", "done")], _made(1), claims, final=True) == []
    lost = check_withdrawals([_intent("t-1", "in_doubt")], _made(1), claims, final=True)
    assert lost and "counts 0 as sent" in lost[0]
    unclaimed = check_withdrawals([_intent("t-1", "done")], _made(1), {}, final=True)
    assert unclaimed and "is no transfer's" in unclaimed[0]


# ---- the sent log's claim survives a crash between its writes ------------------------------------


class _CrashOnSecondPut(MemoryState):
    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def put(self, owner: str, key: str, value: Any) -> None:
        self.puts += 1
        if self.puts == 2:
            raise RuntimeError("the process died between the two writes")
        super().put(owner, key, value)


def test_a_crash_between_the_sent_logs_writes_leaves_the_withdrawal_claimed() -> None:
    store = _CrashOnSecondPut()
    log = SentLog(store, Exchanges.MEXC)
    sent = SentTransfer(
        client_id="t-1",
        kind="withdraw",
        from_exchange=Exchanges.MEXC,
        from_account="trade",
        to_exchange=Exchanges.KRAKEN,
        to_account="main",
        currency="usdc",
        amount=750.0,
        state="sent",
        exchange_id="W000012",
    )
    with pytest.raises(RuntimeError):
        log.save(sent)
    assert log.claimed_by("W000012") == "t-1"  # no other request's lookup can take it
