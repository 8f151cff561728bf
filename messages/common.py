"""One spelling for every shared concept: exchanges, currencies, account names and amounts."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

__all__ = ["Account", "AccountRef", "Amount", "Currency", "Exchange"]


class Exchange(enum.StrEnum):
    """A venue. Values are the lowercase names used in JSON commands and config."""

    KRAKEN = "kraken"
    KRAKEN_FUTURE = "kraken_future"
    MEXC = "mexc"
    BINANCE = "binance"
    LIGHTER = "lighter"


class Currency(enum.StrEnum):
    """A currency or token. Values are lowercase, as in the desk's JSON commands (``"usd"``)."""

    USD = "usd"
    USDC = "usdc"
    USDT = "usdt"
    BTC = "btc"
    ETH = "eth"
    QRL = "qrl"


Account = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="account name on an exchange")]
"""An account name on an exchange, such as ``"main"``, ``"trade"`` or ``"close_position"``."""

Amount = float
"""An amount of money. Every float field of a message is checked to be finite (see `Message`)."""


class AccountRef(msgspec.Struct, frozen=True):
    """An account on an exchange: ``AccountRef(Exchange.KRAKEN, "main")`` is kraken.main."""

    exchange: Exchange
    account: Account

    def __str__(self) -> str:
        return f"{self.exchange.value}.{self.account}"
