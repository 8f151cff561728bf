"""The balance board and the seed's `StrategyBalanceManager` reader."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from actors.stores.board import BalanceBoard, InMemoryBoard, StrategyBalanceManager, install_board, installed_board
from messages import Currencies, Currency, Exchange, Exchanges
from messages.balances import BalanceView

KRAKEN, MEXC = Exchanges.KRAKEN, Exchanges.MEXC
USDC, BTC = Currencies.USDC, Currencies.BTC


def row(
    total: float,
    *subs: float,
    exchange: Exchange = KRAKEN,
    account: str = "main",
    currency: Currency = USDC,
    slots: int = 8,
) -> BalanceView:
    padded = list(subs) + [0.0] * (slots - 2 - len(subs))
    return BalanceView(
        exchange=exchange, account=account, currency=currency, slots=(total, total - sum(padded), *padded)
    )


@pytest.fixture
def no_installed_board() -> Iterator[None]:
    previous = installed_board()
    install_board(None)
    yield
    install_board(previous)


def test_a_published_view_is_what_read_returns() -> None:
    board = InMemoryBoard()
    view = row(100.0, 30.0)
    board.publish(view)
    assert board.read(KRAKEN, "main", USDC) is view
    assert board.read(KRAKEN, "main", BTC) is None
    assert board.read(KRAKEN, "other", USDC) is None


def test_a_later_publish_replaces_the_row_and_views_lists_one_per_ledger() -> None:
    board = InMemoryBoard()
    board.publish(row(100.0))
    board.publish(row(50.0, currency=BTC))
    board.publish(row(90.0))
    assert board.read(KRAKEN, "main", USDC) == row(90.0)
    assert sorted(v.total for v in board.views()) == [50.0, 90.0]


def test_default_accounts_are_per_exchange() -> None:
    board = InMemoryBoard()
    assert board.default_account(KRAKEN) is None
    board.set_default_account(KRAKEN, "main")
    board.set_default_account(MEXC, "spot")
    assert (board.default_account(KRAKEN), board.default_account(MEXC)) == ("main", "spot")


def test_the_in_memory_board_is_a_balance_board() -> None:
    assert isinstance(InMemoryBoard(), BalanceBoard)


def test_readers_never_see_a_torn_board_while_the_writer_adds_rows() -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: a race shows up at once
    try:
        _race_readers_against_the_writer()
    finally:
        sys.setswitchinterval(interval)


def _race_readers_against_the_writer() -> None:
    board = InMemoryBoard()
    accounts = [f"acct{i}" for i in range(2000)]
    errors: list[BaseException] = []
    done = threading.Event()

    def read_until_done() -> None:
        try:
            while not done.is_set():
                for view in board.views():
                    assert view.slots[0] == sum(view.slots[1:])
                board.read(KRAKEN, accounts[-1], USDC)
        except BaseException as error:  # reported to the test thread
            errors.append(error)

    readers = [threading.Thread(target=read_until_done) for _ in range(3)]
    for reader in readers:
        reader.start()
    for i, account in enumerate(accounts):
        board.publish(row(float(i), account=account))
        board.publish(row(float(i + 1), 1.0, account=account))
    done.set()
    for reader in readers:
        reader.join(5)
    assert errors == []
    assert len(board.views()) == 2000


# ---- installing a board -----------------------------------------------------------------------------


def test_install_board_makes_it_the_board_readers_find(no_installed_board: None) -> None:
    board = InMemoryBoard()
    install_board(board)
    assert installed_board() is board
    assert StrategyBalanceManager(KRAKEN).board is board


def test_a_manager_without_a_board_says_how_to_get_one(no_installed_board: None) -> None:
    with pytest.raises(RuntimeError, match="no balance board is installed"):
        StrategyBalanceManager(KRAKEN)


# ---- the seed's reader ------------------------------------------------------------------------------


def test_the_manager_reads_each_slot_as_the_seed_did() -> None:
    board = InMemoryBoard()
    board.set_default_account(KRAKEN, "main")
    board.publish(row(1000.0, 100.0, 50.0))
    manager = StrategyBalanceManager(KRAKEN, strategy_count=8, board=board)
    total = manager.get_balance(USDC, index=0)
    available = manager.get_balance(USDC, index=1)
    strategy_a = manager.get_balance(USDC, index=2)
    assert (total, available, strategy_a) == (1000.0, 850.0, 100.0)
    assert manager.get_balance(USDC, 3) == 50.0
    assert manager.get_balance(USDC) == 1000.0


def test_the_manager_sees_each_new_publish() -> None:
    board = InMemoryBoard()
    board.set_default_account(KRAKEN, "main")
    manager = StrategyBalanceManager(KRAKEN, board=board)
    board.publish(row(10.0))
    assert manager.get_balance(USDC) == 10.0
    board.publish(row(20.0))
    assert manager.get_balance(USDC) == 20.0


def test_a_currency_not_published_yet_reads_as_zero() -> None:
    board = InMemoryBoard()
    board.set_default_account(KRAKEN, "main")
    manager = StrategyBalanceManager(KRAKEN, board=board)
    assert manager.get_balance(BTC, 2) == 0.0
    assert manager.get(BTC) is None


def test_without_a_default_account_nothing_is_published_yet() -> None:
    board = InMemoryBoard()
    board.publish(row(10.0))
    manager = StrategyBalanceManager(KRAKEN, board=board)
    assert manager.account is None
    assert manager.get_balance(USDC) == 0.0
    board.set_default_account(KRAKEN, "main")
    assert manager.get_balance(USDC) == 10.0


def test_a_named_account_is_read_instead_of_the_default() -> None:
    board = InMemoryBoard()
    board.set_default_account(KRAKEN, "main")
    board.publish(row(10.0))
    board.publish(row(77.0, account="trade"))
    assert StrategyBalanceManager(KRAKEN, account="trade", board=board).get_balance(USDC) == 77.0
    assert StrategyBalanceManager(KRAKEN, board=board).get_balance(USDC) == 10.0


def test_get_returns_the_whole_row() -> None:
    board = InMemoryBoard()
    board.set_default_account(KRAKEN, "main")
    board.publish(row(10.0, 4.0))
    view = StrategyBalanceManager(KRAKEN, board=board).get(USDC)
    assert view is not None and view.slots[:3] == (10.0, 6.0, 4.0)


@pytest.mark.parametrize("index", [-1, 8, 64])
def test_an_index_outside_the_managers_slots_is_an_index_error(index: int) -> None:
    board = InMemoryBoard()
    board.set_default_account(KRAKEN, "main")
    board.publish(row(10.0))
    with pytest.raises(IndexError, match=f"index {index} out of range"):
        StrategyBalanceManager(KRAKEN, strategy_count=8, board=board).get_balance(USDC, index)


def test_an_index_beyond_the_gateways_slots_says_the_counts_disagree() -> None:
    board = InMemoryBoard()
    board.set_default_account(KRAKEN, "main")
    board.publish(row(10.0, slots=4))
    with pytest.raises(IndexError, match="the gateway keeps 4 slots"):
        StrategyBalanceManager(KRAKEN, strategy_count=8, board=board).get_balance(USDC, 5)
