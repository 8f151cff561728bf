"""One spelling for every shared concept: exchanges, currencies, account names and amounts."""

from __future__ import annotations

import re
from typing import Annotated, Final

import msgspec

__all__ = [
    "Account",
    "AccountRef",
    "Amount",
    "Currencies",
    "Currency",
    "Exchange",
    "Exchanges",
    "currency_code",
    "exchange_name",
]


NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
"""What an exchange name or a currency code looks like: lowercase letters, digits and ``_``."""

Exchange = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN, description="an exchange, lowercase, as in config")]
"""A venue, by the lowercase name used in JSON commands and config (``"kraken"``). A desk adds its own."""

Currency = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN, description="a currency code, lowercase")]
"""A currency or token, lowercase as in the desk's JSON commands (``"usd"``). A desk adds its own."""

_NAME = re.compile(NAME_PATTERN)


def exchange_name(value: str) -> Exchange:
    """``value`` checked to be an exchange name (ValueError naming it otherwise)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"invalid exchange {value!r}: lowercase letters, digits and _ only")
    return value


def currency_code(value: str) -> Currency:
    """``value`` checked to be a currency code (ValueError naming it otherwise)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"invalid currency {value!r}: lowercase letters, digits and _ only")
    return value


class Exchanges:
    """The exchanges the desk has always used, by name (``Exchanges.KRAKEN == "kraken"``)."""

    KRAKEN: Final = "kraken"
    KRAKEN_FUTURE: Final = "kraken_future"
    MEXC: Final = "mexc"
    BINANCE: Final = "binance"
    LIGHTER: Final = "lighter"

    @classmethod
    def known(cls) -> list[str]:
        return [v for k, v in vars(cls).items() if k.isupper()]


class Currencies:
    """The currencies the desk has always used, by code (``Currencies.USD == "usd"``)."""

    USD: Final = "usd"
    USDC: Final = "usdc"
    USDT: Final = "usdt"
    BTC: Final = "btc"
    ETH: Final = "eth"
    QRL: Final = "qrl"

    @classmethod
    def known(cls) -> list[str]:
        return [v for k, v in vars(cls).items() if k.isupper()]


Account = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="account name on an exchange")]
"""An account name on an exchange, such as ``"main"``, ``"trade"`` or ``"close_position"``."""

Amount = float
"""An amount of money. Every float field of a message is checked to be finite (see `Message`)."""


class AccountRef(msgspec.Struct, frozen=True):
    """An account on an exchange: ``AccountRef(Exchange.KRAKEN, "main")`` is kraken.main."""

    exchange: Exchange
    account: Account

    def __str__(self) -> str:
        return f"{self.exchange}.{self.account}"
