"""The desk's existing task-manager example runs as written (bar its two typos) against the simulated venue.

The example imports ``hftpy.common`` and ``hftpy.exchange.multi_account_api``; the test installs
those modules for its duration, backed by our `TransferTaskManager` and `SimulatedVenue`.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import sys
import time
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from actors.tasks import TransferTaskKey, TransferTaskManager
from actors.venues.simulated import MovementKind, SimulatedVenue
from messages.common import Currencies, Currency, Exchange, Exchanges
from messages.venue import TransferResult, TransferStatus
from supervisor.clock import SystemClock

# The seed's example exactly as the desk wrote it (comments translated), typos included.
SEED_EXAMPLE_AS_WRITTEN = """\
import time
from hftpy.common import Exchange, Currency, TransferTaskManager, TransferTaskKey
from hftpy.exchange.multi_account_api import transfer

# manager with a default expiry of 120 s
manager = TransferTaskManager(default_expire_seconds=120.0)

# ========== producers: sub-strategies submit transfer wishes ==========

# strategy A: move 1000 USDC from Kraken trade to Kraken main; skipped if the task exists
manager.add_task(
    from_exchange=Exchange.KRAKEN,
    from_account="trade",
    to_exchange=Exchange.KRAKEN,
    to_account="main",
    currency=Currency.USDC,
    amount=1000.0
    extra=""
)

# strategy B: move 500 USD from Kraken trade to kraken close_position;
# skipped if the task exists, or if it succeeded within 120 s
key_b = TransferTaskKey(
    from_exchange=Exchange.KRAKEN,
    from_account="trade",
    to_exchange=Exchange.KRAKEN,
    to_account="close_position",
    currency=Currency.USD
)
last_success = manager.get_last_success_time(key_b)
current_time = int(time.time() * 1_000_000)
if last_success is None or current_time - last_success > 120 * 1_000_000:
    manager.add_task(
        from_exchange=key_b.from_exchange,
        from_account=key_b.from_account,
        to_exchange=key_b.to_exchange,
        to_account=key_b.to_account,
        currency=key_b.currency,
        amount=500.0,
        extra=""
    )

# ========== consumer: the executor walks and executes ==========

# snapshot of tasks (coroutine safe)
for key, value in manager.get_all_tasks():
    # check: is there enough money
    if not can_transfer(key.from_exchange, key.from_account, key.currency, value.amount):
        continue

    # transfer
    result = await transfer(
        from_exchange=key.from_exchange,
        from_account=key.from_account,
        to_exchange=key.to_exchange,
        to_account=key.to_account,
        symbol=key.currency,
        amount=value.amount
    )

    if result.success:
        # success: remove the task
        manager.remove_task(key)

        # record the success time
        manager.mark_success(key)

        if value.extra = "..."
            # follow-up logic may run here
            pass
    # failure: keep the task, retry next time

# ========== periodic cleanup of expired tasks ==========
cleaned = manager.clean_expired_tasks()
"""

# The two typos, and their only fixes.
TYPO_FIXES = [
    ('    amount=1000.0\n    extra=""\n', '    amount=1000.0,\n    extra=""\n'),
    ('        if value.extra = "..."\n', '        if value.extra == "...":\n'),
]

KEY_A = TransferTaskKey(Exchanges.KRAKEN, "trade", Exchanges.KRAKEN, "main", Currencies.USDC)
KEY_B = TransferTaskKey(Exchanges.KRAKEN, "trade", Exchanges.KRAKEN, "close_position", Currencies.USD)


def seed_example() -> str:
    """The example with exactly its two typos fixed."""
    text = SEED_EXAMPLE_AS_WRITTEN
    for typo, fix in TYPO_FIXES:
        assert text.count(typo) == 1
        text = text.replace(typo, fix)
    return text


@dataclass(frozen=True)
class TransferOutcome:
    """What the desk's ``multi_account_api.transfer`` returns: ``success`` and the venue's result."""

    success: bool
    result: TransferResult


class Desk:
    """The simulated venue behind the example's ``transfer`` and ``can_transfer``, with a call log."""

    def __init__(self) -> None:
        self.venue = SimulatedVenue(
            SystemClock(),
            seed=0,
            balances={
                (Exchanges.KRAKEN, "trade"): {Currencies.USDC: 5000.0, Currencies.USD: 2000.0},
                (Exchanges.KRAKEN, "main"): {},
                (Exchanges.KRAKEN, "close_position"): {},
            },
        )
        self.transfers: list[TransferResult] = []

    async def transfer(
        self,
        from_exchange: Exchange,
        from_account: str,
        to_exchange: Exchange,
        to_account: str,
        symbol: Currency,
        amount: float,
    ) -> TransferOutcome:
        result = self.venue.transfer(
            f"seed-{uuid.uuid4().hex}", from_exchange, from_account, to_exchange, to_account, symbol, amount
        )
        self.transfers.append(result)
        return TransferOutcome(result.status in (TransferStatus.OK, TransferStatus.PENDING), result)

    def can_transfer(self, exchange: Exchange, account: str, currency: Currency, amount: float) -> bool:
        return self.venue.fetch_balance(exchange, account).get(currency, 0.0) >= amount

    def balance(self, exchange: Exchange, account: str, currency: Currency) -> float:
        return self.venue.fetch_balance(exchange, account).get(currency, 0.0)


@pytest.fixture
def desk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """Install ``hftpy``, ``hftpy.common`` and ``hftpy.exchange.multi_account_api``; removed after the test."""
    desk = Desk()
    modules: dict[str, types.ModuleType] = {}
    for name in ("hftpy", "hftpy.common", "hftpy.exchange", "hftpy.exchange.multi_account_api"):
        module = types.ModuleType(name)
        if name in ("hftpy", "hftpy.exchange"):
            module.__path__ = []
        modules[name] = module
        monkeypatch.setitem(sys.modules, name, module)
    common = modules["hftpy.common"]
    common.Exchange, common.Currency = Exchanges, Currencies  # type: ignore[attr-defined]
    common.TransferTaskManager, common.TransferTaskKey = TransferTaskManager, TransferTaskKey  # type: ignore[attr-defined]
    modules["hftpy.exchange.multi_account_api"].transfer = desk.transfer  # type: ignore[attr-defined]
    modules["hftpy"].common, modules["hftpy"].exchange = common, modules["hftpy.exchange"]  # type: ignore[attr-defined]
    modules["hftpy.exchange"].multi_account_api = modules["hftpy.exchange.multi_account_api"]  # type: ignore[attr-defined]
    yield desk


def run_example(desk: Desk, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the fixed example in ``namespace`` (top-level await allowed); returns the namespace."""
    code = compile(seed_example(), "<seed task example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if namespace is None:
        namespace = {"__name__": "seed_example", "can_transfer": desk.can_transfer}
    outcome = eval(code, namespace)  # noqa: S307 - the desk's own example
    if inspect.iscoroutine(outcome):
        asyncio.run(outcome)
    return namespace


def test_the_example_as_written_has_exactly_the_two_known_typos() -> None:
    with pytest.raises(SyntaxError):
        compile(SEED_EXAMPLE_AS_WRITTEN, "<as written>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    compile(seed_example(), "<fixed>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    changed = [
        (a, b) for a, b in zip(SEED_EXAMPLE_AS_WRITTEN.splitlines(), seed_example().splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 2


def test_the_seed_example_moves_each_wanted_transfer_once(desk: Desk) -> None:
    before = int(time.time() * 1_000_000)
    namespace = run_example(desk)
    after = int(time.time() * 1_000_000)

    assert [(r.to_account, r.currency, r.amount, r.status) for r in desk.transfers] == [
        ("main", Currencies.USDC, 1000.0, TransferStatus.OK),
        ("close_position", Currencies.USD, 500.0, TransferStatus.OK),
    ]
    assert desk.balance(Exchanges.KRAKEN, "trade", Currencies.USDC) == 4000.0
    assert desk.balance(Exchanges.KRAKEN, "main", Currencies.USDC) == 1000.0
    assert desk.balance(Exchanges.KRAKEN, "trade", Currencies.USD) == 1500.0
    assert desk.balance(Exchanges.KRAKEN, "close_position", Currencies.USD) == 500.0
    assert sum(m.kind is MovementKind.DEBIT for m in desk.venue.audit()) == 2
    assert all(abs(error) < 1e-9 for error in desk.venue.conservation_error().values())

    manager: TransferTaskManager = namespace["manager"]
    assert manager.get_all_tasks() == []
    for key in (KEY_A, KEY_B):
        success = manager.get_last_success_time(key)
        assert success is not None and before <= success <= after
    assert namespace["cleaned"] == 0


def test_running_the_example_again_within_120s_skips_strategy_b(desk: Desk) -> None:
    namespace = run_example(desk)
    manager = namespace["manager"]
    # The second round reuses the same manager, as a long-running desk would.
    code = seed_example().replace("manager = TransferTaskManager(default_expire_seconds=120.0)\n", "")
    compiled = compile(code, "<second round>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(compiled, namespace)  # noqa: S307
    if inspect.iscoroutine(outcome):
        asyncio.run(outcome)

    assert namespace["manager"] is manager
    assert [(r.to_account, r.amount) for r in desk.transfers] == [
        ("main", 1000.0),
        ("close_position", 500.0),
        ("main", 1000.0),
    ]
    assert desk.balance(Exchanges.KRAKEN, "close_position", Currencies.USD) == 500.0  # B paid once
    assert desk.balance(Exchanges.KRAKEN, "main", Currencies.USDC) == 2000.0  # A has no recency check


def test_a_task_whose_source_lacks_money_stays_for_the_next_round(desk: Desk) -> None:
    desk.venue.external_adjust(Exchanges.KRAKEN, "trade", Currencies.USD, -1800.0, "spent elsewhere")
    namespace = run_example(desk)

    assert [r.to_account for r in desk.transfers] == ["main"]
    manager: TransferTaskManager = namespace["manager"]
    assert [key for key, _ in manager.get_all_tasks()] == [KEY_B]
    assert manager.get_last_success_time(KEY_B) is None
    assert desk.balance(Exchanges.KRAKEN, "close_position", Currencies.USD) == 0.0
