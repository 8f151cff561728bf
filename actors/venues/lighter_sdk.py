"""lighter-sdk, loaded on first use: importing it takes ~2 s, so only a desk with a Lighter venue pays
(and with it the websocket client the SDK depends on, which the adapter's stream uses: 0.1 s more).

It also pulls in py_ecc, which raises the interpreter's recursion limit to 100,000. With that limit
a deeply nested frame overflows the C stack (a segfault) instead of raising the RecursionError the
codec turns into a DecodeError, so the limit is put back at once.
"""

from __future__ import annotations

import functools
import sys
from types import SimpleNamespace
from typing import Any

__all__ = ["sdk"]


@functools.cache
def sdk() -> Any:
    """The SDK's pieces the adapter uses (``ApiClient``, ``SignerClient``, ``ApiException``, ...)."""
    limit = sys.getrecursionlimit()
    try:
        import lighter
        from lighter.api.account_api import AccountApi
        from lighter.api.order_api import OrderApi
        from lighter.api_client import ApiClient
        from lighter.configuration import Configuration
        from lighter.exceptions import ApiException
        from lighter.signer_client import SignerClient
        from websockets.asyncio.client import connect
    finally:
        sys.setrecursionlimit(limit)
    return SimpleNamespace(
        AccountApi=AccountApi,
        OrderApi=OrderApi,
        ApiClient=ApiClient,
        Configuration=Configuration,
        ApiException=ApiException,
        SignerClient=SignerClient,
        create_api_key=lighter.create_api_key,  # type: ignore[attr-defined]
        connect=connect,  # websockets' asyncio client
    )
