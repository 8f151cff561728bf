"""The balance board: the gateway publishes every ledger here; any actor or client reads it without asking.

One writer (the balance gateway), many readers. `InMemoryBoard` serves one process;
`actors.stores.shm_board.SharedMemoryBoard` (shared memory, a sequence lock) serves every process on the host.
`StrategyBalanceManager` is the desk's familiar reader on top of it.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from actors.stores.shm_board import BoardNotFoundError, require_board  # only readers outside the system need it
from messages.balances import BalanceView
from messages.common import Currency, Exchange

__all__ = [
    "BalanceBoard",
    "InMemoryBoard",
    "StrategyBalanceManager",
    "install_board",
    "installed_board",
]

_Key = tuple[Exchange, str, Currency]


@runtime_checkable
class BalanceBoard(Protocol):
    """Where the current `BalanceView` of every (exchange, account, currency) can be read.

    Only the balance gateway calls `publish` and `set_default_account`; everyone else reads.
    """

    def publish(self, view: BalanceView) -> None:
        """Make ``view`` the current row for its exchange, account and currency."""
        ...

    def read(self, exchange: Exchange, account: str, currency: Currency) -> BalanceView | None:
        """The current row, or None if nothing was published for it."""
        ...

    def views(self) -> list[BalanceView]:
        """Every current row (a snapshot)."""
        ...

    def set_default_account(self, exchange: Exchange, account: str) -> None:
        """Name the account that commands and readers use when they name none on ``exchange``."""
        ...

    def default_account(self, exchange: Exchange) -> str | None:
        """The default account on ``exchange``, or None if the gateway has not named one."""
        ...


class InMemoryBoard:
    """A `BalanceBoard` for one process: immutable views in a dict that readers read without a lock.

    A publish of an existing row replaces one value in place; a new row swaps in a copied dict,
    so a reader iterating `views` never sees the dict change size under it.
    """

    def __init__(self) -> None:
        self._rows: dict[_Key, BalanceView] = {}
        self._defaults: dict[Exchange, str] = {}
        self._write = threading.Lock()  # writers only (there should be one); readers never take it

    def publish(self, view: BalanceView) -> None:
        key = (view.exchange, view.account, view.currency)
        with self._write:
            if key in self._rows:
                self._rows[key] = view
            else:
                rows = dict(self._rows)
                rows[key] = view
                self._rows = rows

    def read(self, exchange: Exchange, account: str, currency: Currency) -> BalanceView | None:
        return self._rows.get((exchange, account, currency))

    def views(self) -> list[BalanceView]:
        return list(self._rows.values())

    def set_default_account(self, exchange: Exchange, account: str) -> None:
        with self._write:
            defaults = dict(self._defaults)
            defaults[exchange] = account
            self._defaults = defaults

    def default_account(self, exchange: Exchange) -> str | None:
        return self._defaults.get(exchange)


_installed: BalanceBoard | None = None


def install_board(board: BalanceBoard | None) -> None:
    """Make ``board`` the board of the system running in this process (None uninstalls it)."""
    global _installed
    _installed = board


def installed_board() -> BalanceBoard | None:
    """The board installed in this process, if any."""
    return _installed


def _running_systems_board() -> BalanceBoard:
    """The board of the system running on this host (shared memory), found from its writer's record."""

    try:
        return require_board()
    except BoardNotFoundError as error:
        raise BoardNotFoundError(
            f"no balance board is installed in this process (actors.stores.board.install_board), and {error}: "
            "start the system, set $TREASURY_RUNTIME to its runtime folder, or pass board= explicitly"
        ) from None


class StrategyBalanceManager:
    """The seed's reader: one exchange's balances, read from the board exactly as the desk's library did.

    ::

        manager = StrategyBalanceManager(Exchanges.KRAKEN, strategy_count=8)
        total = manager.get_balance(Currencies.USDC, index=0)      # the account's real balance
        available = manager.get_balance(Currencies.USDC, index=1)  # the pool (main strategy)
        strategy_a = manager.get_balance(Currencies.USDC, index=2) # sub-strategy A's quota

    ``account=None`` reads the exchange's default account (as the gateway names it);
    ``board=None`` reads the board installed in this process, else the running system's
    shared-memory board (`actors.stores.shm_board.find_board`). It only reads: commands go to
    the gateway. A currency not published yet reads as 0.0.
    """

    def __init__(
        self,
        exchange: Exchange,
        strategy_count: int = 8,
        account: str | None = None,
        board: BalanceBoard | None = None,
    ) -> None:
        if board is None:
            board = installed_board()
            if board is None:
                board = _running_systems_board()
        if not 2 <= strategy_count <= 64:
            raise ValueError(f"strategy_count must be 2..64, got {strategy_count}")
        self.exchange = exchange
        self.strategy_count = strategy_count
        self.board = board
        self._account = account

    @property
    def account(self) -> str | None:
        """The account read: the one given, else the exchange's current default (None if not named yet)."""
        return self._account if self._account is not None else self.board.default_account(self.exchange)

    def get(self, currency: Currency) -> BalanceView | None:
        """The whole published row for ``currency``, or None if nothing was published yet."""
        account = self.account
        return None if account is None else self.board.read(self.exchange, account, currency)

    def get_balance(self, currency: Currency, index: int = 0) -> float:
        """Slot ``index`` of ``currency``: 0 = total, 1 = the pool, 2.. = a sub-strategy; 0.0 if not published."""
        if not 0 <= index < self.strategy_count:
            raise IndexError(f"index {index} out of range: this manager has slots 0..{self.strategy_count - 1}")
        view = self.get(currency)
        if view is None:
            return 0.0
        if index >= len(view.slots):
            raise IndexError(
                f"index {index} out of range: the gateway keeps {len(view.slots)} slots for "
                f"{self.exchange}.{view.account} {currency} (this manager was built with {self.strategy_count})"
            )
        return view.slots[index]
