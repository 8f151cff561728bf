"""How the simulated venue writes amounts: rounded to 1e-8, compared within 1e-9; account names for messages."""

from __future__ import annotations

from messages.common import AccountRef, Exchange, exchange_name

__all__ = ["DECIMALS", "EPSILON", "account_name", "rounded"]

DECIMALS = 8  # every movement is rounded to 1e-8
EPSILON = 1e-9  # tolerance when comparing rounded amounts


def rounded(amount: float) -> float:
    return round(amount, DECIMALS)


def account_name(exchange: Exchange, account: str) -> str:
    return str(AccountRef(exchange_name(exchange), account))
