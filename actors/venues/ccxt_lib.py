"""ccxt, loaded on first use. Importing it takes about half a second (its websocket half, ccxt.pro,
more), which every node would pay at start although most build no Kraken or MEXC venue; so only a
node that builds one loads it, as `lighter_sdk` does for Lighter's SDK."""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["ccxt", "ccxt_pro"]


@functools.cache
def ccxt() -> Any:
    """The ccxt package: its exchange classes (``ccxt().kraken``) and error classes (``ccxt().BaseError``)."""
    import ccxt as library

    return library


@functools.cache
def ccxt_pro() -> Any:
    """ccxt.pro, ccxt's websocket clients (``ccxt_pro().kraken``)."""
    import ccxt.pro as pro

    return pro
