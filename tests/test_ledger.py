"""The strategy ledger: each operation, each refusal changing nothing, and the invariant under random use."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.ledger import INVARIANT_TOLERANCE, LedgerError, StrategyBalance, StrategyLedger, invariant_error
from messages import Currencies, Currency, Exchanges
from messages.trading import Fill, Side

USD, BTC, USDT = Currencies.USD, Currencies.BTC, Currencies.USDT

# The property test asserts the books balance to this relative error (see `invariant_error`):
# far tighter than INVARIANT_TOLERANCE, because the ledger recomputes the pool (or the total)
# with math.fsum on every operation instead of letting rounding accumulate.
PROPERTY_TOLERANCE = 1e-12
assert PROPERTY_TOLERANCE < INVARIANT_TOLERANCE


def ledger(strategy_count: int = 8, credit: float = 0.0, usd: float = 1000.0) -> StrategyLedger:
    book = StrategyLedger(Exchanges.KRAKEN, "main", strategy_count, credit_limits={USD: credit} if credit else {})
    book.reset(USD, usd)
    return book


# ---- each operation --------------------------------------------------------------------------------


def test_reset_puts_the_whole_balance_in_the_pool_and_empties_the_sub_strategies() -> None:
    book = ledger(strategy_count=4)
    book.allocate(USD, 2, 300)
    record = book.reset(USD, 500)
    assert record.slots == (500.0, 500.0, 0.0, 0.0)
    assert book.get(USD) == record


def test_allocate_moves_money_from_the_pool_to_the_sub_strategy() -> None:
    book = ledger()
    book.allocate(USD, 2, 100)
    assert book.get_balance(USD, 0) == 1000.0
    assert book.get_balance(USD, 1) == 900.0
    assert book.get_balance(USD, 2) == 100.0


def test_release_moves_money_back_to_the_pool() -> None:
    book = ledger()
    book.allocate(USD, 3, 100)
    book.release(USD, 3, 40)
    assert book.get(USD).slots[:4] == (1000.0, 940.0, 0.0, 60.0)


def test_allocate_may_use_the_credit_limit() -> None:
    book = ledger(credit=50.0, usd=100.0)
    book.allocate(USD, 2, 150)
    assert book.get(USD).slots[:3] == (100.0, -50.0, 150.0)
    assert book.get(USD).available == 0.0


def test_adjust_of_the_total_is_absorbed_by_the_pool_and_sub_strategies_keep_their_slots() -> None:
    book = ledger()
    book.allocate(USD, 2, 200)
    book.adjust(USD, -1000)
    assert book.get(USD).slots[:3] == (0.0, -200.0, 200.0)


def test_adjust_of_the_pool_moves_the_total_with_it() -> None:
    book = ledger()
    book.allocate(USD, 2, 200)
    book.adjust(USD, 50, index=1)
    assert book.get(USD).slots[:3] == (1050.0, 850.0, 200.0)


def test_adjust_of_a_sub_strategy_is_taken_from_the_pool_and_leaves_the_total() -> None:
    book = ledger()
    book.adjust(USD, 70, index=4)
    book.adjust(USD, -20, index=4)
    assert book.get(USD).slots[:5] == (1000.0, 950.0, 0.0, 0.0, 50.0)


def test_set_of_each_kind_of_slot() -> None:
    book = ledger()
    book.allocate(USD, 2, 100)
    book.set(USD, 1500)  # the total; the pool absorbs
    assert book.get(USD).slots[:3] == (1500.0, 1400.0, 100.0)
    book.set(USD, 400, index=1)  # the pool; the total follows
    assert book.get(USD).slots[:3] == (500.0, 400.0, 100.0)
    book.set(USD, 250, index=2)  # a sub-strategy; the pool absorbs
    assert book.get(USD).slots[:3] == (500.0, 250.0, 250.0)


def test_the_total_may_go_negative_as_the_venue_reports_borrowing() -> None:
    book = ledger(credit=50.0, usd=0.0)
    book.adjust(USD, -30)
    assert book.get(USD).total == -30.0
    assert book.get(USD).available == 20.0


def test_get_balance_reads_each_slot_as_in_the_seed() -> None:
    book = ledger()
    book.allocate(USD, 2, 10)
    assert [book.get_balance(USD, i) for i in range(3)] == [1000.0, 990.0, 10.0]
    assert book.get_balance(USD) == 1000.0


def test_view_is_what_the_board_shows() -> None:
    book = ledger(credit=25.0)
    view = book.view(USD, now=123.0)
    assert (view.exchange, view.account, view.currency) == (Exchanges.KRAKEN, "main", USD)
    assert view.slots == book.get(USD).slots and view.credit_limit == 25.0 and view.updated_at == 123.0
    assert view.available == 1025.0


def test_currencies_lists_what_was_reset() -> None:
    book = ledger()
    book.reset(BTC, 2)
    assert book.currencies() == [USD, BTC]


def test_get_returns_a_snapshot_that_later_operations_do_not_change() -> None:
    book = ledger()
    before = book.get(USD)
    book.allocate(USD, 2, 5)
    assert before.slots[2] == 0.0 and book.get(USD).slots[2] == 5.0


# ---- fills and reconciliation ---------------------------------------------------------------------


def fill(side: Side, quantity: float, price: float, fee: float = 0.0, fee_currency: Currency | None = None) -> Fill:
    return Fill(
        exchange=Exchanges.KRAKEN,
        account="main",
        market="btc/usd",
        side=side,
        quantity=quantity,
        price=price,
        trade_id="t1",
        order_id="o1",
        fee=fee,
        fee_currency=fee_currency,
    )


def test_a_buy_adds_base_and_costs_quote_plus_fee() -> None:
    book = ledger()
    book.reset(BTC, 1)
    moved = book.apply_fill(fill(Side.BUY, 0.5, 100.0, fee=2.0))
    assert sorted(moved) == [BTC, USD]
    assert book.get_balance(BTC) == 1.5
    assert book.get_balance(USD) == 1000.0 - 50.0 - 2.0


def test_a_sell_removes_base_and_credits_quote_less_a_fee_in_base() -> None:
    book = ledger()
    book.reset(BTC, 1)
    book.apply_fill(fill(Side.SELL, 0.5, 100.0, fee=0.001, fee_currency=BTC))
    assert book.get_balance(BTC) == pytest.approx(0.499)
    assert book.get_balance(USD) == 1050.0


def test_a_fill_in_a_currency_never_seen_starts_it_at_zero() -> None:
    book = ledger()
    book.apply_fill(fill(Side.BUY, 0.25, 100.0))
    assert book.get(BTC).slots[:2] == (0.25, 0.25)


def test_a_fill_for_another_account_is_refused() -> None:
    other = StrategyLedger(Exchanges.MEXC, "main")
    other.reset(USD, 10)
    with pytest.raises(LedgerError, match="applied to mexc.main"):
        other.apply_fill(fill(Side.BUY, 1, 1))
    assert other.currencies() == [USD]


def test_reconcile_sets_the_total_keeps_sub_strategies_and_the_pool_absorbs() -> None:
    book = ledger()
    book.allocate(USD, 2, 300)
    result = book.reconcile(USD, 900.0)
    assert result.corrected and not result.reset
    assert result.before is not None and result.before.slots[:3] == (1000.0, 700.0, 300.0)
    assert book.get(USD).slots[:3] == (900.0, 600.0, 300.0)


def test_reconcile_resets_when_pool_plus_credit_would_be_negative() -> None:
    book = ledger(credit=50.0)
    book.allocate(USD, 2, 900)
    result = book.reconcile(USD, 840.0)  # pool 100 - 160 = -60; -60 + 50 < 0
    assert result.corrected and result.reset
    assert book.get(USD).slots[:3] == (840.0, 840.0, 0.0)


def test_reconcile_within_the_credit_limit_is_not_a_reset() -> None:
    book = ledger(credit=50.0)
    book.allocate(USD, 2, 900)
    result = book.reconcile(USD, 860.0)  # pool -40 + credit 50 >= 0
    assert not result.reset and book.get(USD).slots[:3] == (860.0, -40.0, 900.0)


def test_reconcile_of_an_agreeing_total_is_not_a_correction() -> None:
    book = ledger()
    result = book.reconcile(USD, 1000.0)
    assert not result.corrected and not result.reset


def test_reconcile_of_a_new_currency_opens_it() -> None:
    book = ledger()
    result = book.reconcile(BTC, 3.0)
    assert result.before is None and not result.corrected
    assert book.get(BTC).slots[:2] == (3.0, 3.0)


# ---- refusals change nothing -----------------------------------------------------------------------


def _refused(book: StrategyLedger, match: str, operation: str, *args: object) -> None:
    before = {c: book.get(c) for c in book.currencies()}
    with pytest.raises(LedgerError, match=match):
        getattr(book, operation)(*args)
    assert {c: book.get(c) for c in book.currencies()} == before


@pytest.mark.parametrize(
    ("operation", "args", "match"),
    [
        ("allocate", (BTC, 2, 1.0), "unknown currency 'btc'"),
        ("release", (BTC, 2, 1.0), "unknown currency"),
        ("adjust", (BTC, 1.0), "unknown currency"),
        ("set", (BTC, 1.0), "unknown currency"),
        ("get", (BTC,), "unknown currency"),
        ("get_balance", (BTC,), "unknown currency"),
        ("allocate", (USD, 8, 1.0), "index 8 is not a sub-strategy slot"),
        ("allocate", (USD, 1, 1.0), "index 1 is not a sub-strategy slot"),
        ("allocate", (USD, 0, 1.0), "index 0 is not"),
        ("release", (USD, -1, 1.0), "index -1 is not"),
        ("adjust", (USD, 1.0, 8), "index 8 is not a slot"),
        ("set", (USD, 1.0, -1), "index -1 is not a slot"),
        ("get_balance", (USD, 8), "index 8 is not a slot"),
        ("allocate", (USD, True, 1.0), "index must be an integer"),
        ("allocate", (USD, 2, -5.0), "amount must be positive"),
        ("allocate", (USD, 2, 0.0), "amount must be positive"),
        ("release", (USD, 2, -1.0), "amount must be positive"),
        ("allocate", (USD, 2, math.nan), "finite"),
        ("allocate", (USD, 2, math.inf), "finite"),
        ("adjust", (USD, math.nan), "delta must be a finite"),
        ("adjust", (USD, -math.inf, 1), "delta must be a finite"),
        ("set", (USD, math.inf), "finite"),
        ("reset", (USD, math.nan), "balance must be a finite"),
        ("allocate", (USD, 2, 1000.01), "only 1000.0 available"),
        ("release", (USD, 2, 0.5), "it holds only 0.0"),
        ("adjust", (USD, -0.5, 3), "cannot go below zero"),
        ("adjust", (USD, 2000.0, 3), "only 1000.0 available"),
        ("set", (USD, -1.0, 3), "cannot go below zero"),
    ],
)
def test_a_refused_operation_raises_and_changes_nothing(operation: str, args: tuple[object, ...], match: str) -> None:
    _refused(ledger(), match, operation, *args)


def test_an_operation_whose_result_would_overflow_is_refused() -> None:
    book = ledger(usd=1.0e308)
    _refused(book, "would not be finite", "adjust", USD, 1.7e308)
    _refused(book, "would not be finite", "adjust", USD, 1.7e308, 1)


def test_releasing_more_than_the_slot_holds_is_refused() -> None:
    book = ledger()
    book.allocate(USD, 2, 100)
    _refused(book, "it holds only 100.0", "release", USD, 2, 100.5)


def test_a_fill_with_a_non_finite_cost_changes_nothing() -> None:
    book = ledger()
    book.reset(BTC, 1.0)
    _refused(book, "not a finite amount", "apply_fill", fill(Side.BUY, 1e200, 1e200))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"strategy_count": 1}, "strategy_count must be 2..64"),
        ({"strategy_count": 65}, "strategy_count must be 2..64"),
        ({"credit_limits": {USD: -1.0}}, "credit limit of usd must be >= 0"),
        ({"credit_limits": {USD: math.inf}}, "credit limit of usd must be a finite"),
    ],
)
def test_a_ledger_with_an_impossible_configuration_is_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(LedgerError, match=match):
        StrategyLedger(Exchanges.KRAKEN, "main", **kwargs)  # type: ignore[arg-type]


def test_sixty_four_slots_is_the_maximum_and_allowed() -> None:
    book = StrategyLedger(Exchanges.KRAKEN, "main", 64)
    book.reset(USD, 64.0)
    book.allocate(USD, 63, 1.0)
    assert book.get_balance(USD, 63) == 1.0


# ---- the invariant under random use ------------------------------------------------------------------

AMOUNTS = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(min_value=-10_000, max_value=10_000),
    st.floats(allow_nan=True, allow_infinity=True),  # anything at all, 1e308 and NaN included
    st.sampled_from([0.0, -0.0, 0.1, 0.2, 0.3, 1e-9, 5e-324]),
)
CURRENCIES = st.sampled_from([USD, BTC, USDT])
INDICES = st.integers(min_value=-1, max_value=8)  # 8 slots: -1 and 8 are out of range
OPERATIONS = st.one_of(
    st.tuples(st.just("reset"), CURRENCIES, AMOUNTS),
    st.tuples(st.just("set"), CURRENCIES, AMOUNTS, INDICES),
    st.tuples(st.just("adjust"), CURRENCIES, AMOUNTS, INDICES),
    st.tuples(st.just("allocate"), CURRENCIES, INDICES, AMOUNTS),
    st.tuples(st.just("release"), CURRENCIES, INDICES, AMOUNTS),
    st.tuples(st.just("reconcile"), CURRENCIES, AMOUNTS),
)


def _expected_effect(operation: str, args: tuple, before: StrategyBalance | None, after: StrategyBalance) -> None:
    """What a successful operation must have done, beyond keeping the invariant."""
    if operation == "reset":
        assert after.slots[0] == after.slots[1] == float(args[1]) and not any(after.slots[2:])
        return
    if operation == "reconcile":
        assert after.total == float(args[1])
        return
    assert before is not None
    if operation in ("set", "adjust"):
        index = args[2]
        wanted = float(args[1]) if operation == "set" else before.slots[index] + args[1]
        assert after.slots[index] == wanted
        untouched = [i for i in range(2, len(after.slots)) if i != index]
        if index >= 2:
            assert after.total == before.total
    else:  # allocate / release
        index, amount = args[1], float(args[2])
        sign = 1.0 if operation == "allocate" else -1.0
        assert after.slots[index] == before.slots[index] + sign * amount
        assert after.total == before.total
        untouched = [i for i in range(2, len(after.slots)) if i != index]
    assert [after.slots[i] for i in untouched] == [before.slots[i] for i in untouched]


@settings(max_examples=400, deadline=None)
@given(
    credit=st.sampled_from([0.0, 50.0, 1e6]),
    operations=st.lists(OPERATIONS, max_size=40),
)
def test_every_operation_keeps_slot0_equal_to_the_sum_and_every_refusal_changes_nothing(
    credit: float, operations: list[tuple]
) -> None:
    book = StrategyLedger(Exchanges.KRAKEN, "main", 8, credit_limits={USD: credit, BTC: credit})
    for operation, *args in operations:
        currency = args[0]
        state = {c: book.get(c) for c in book.currencies()}
        try:
            getattr(book, operation)(*args)
        except LedgerError:
            assert {c: book.get(c) for c in book.currencies()} == state, f"refused {operation} changed the ledger"
            continue
        after = book.get(currency)
        assert all(math.isfinite(s) for s in after.slots)
        assert invariant_error(after.slots) <= PROPERTY_TOLERANCE, (operation, args, after.slots)
        _expected_effect(operation, tuple(args), state.get(currency), after)
        assert all(after.slots[i] >= 0 for i in range(2, 8)), "a sub-strategy slot went negative"
        assert {c: book.get(c) for c in book.currencies() if c != currency} == {
            c: r for c, r in state.items() if c != currency
        }, "an operation on one currency touched another"
