"""MEXC spot through ccxt: the client for one API key (pointed at another base URL for a fake),
and `MexcVenue`, a `CcxtVenue` that asks per market (MEXC's trade and order lists need a symbol)."""

from __future__ import annotations

from typing import Any

from actors.venues.ccxt_lib import ccxt
from actors.venues.ccxt_venue import CcxtVenue

__all__ = ["MexcVenue", "mexc_client"]


def mexc_client(api_key: str, secret: str, *, url: str | None = None, timeout: float = 10.0) -> Any:
    """A rate-limited ccxt MEXC spot client; ``url`` replaces ``https://api.mexc.com`` (a local fake)."""
    client = ccxt().mexc({"apiKey": api_key, "secret": secret, "enableRateLimit": True, "timeout": int(timeout * 1000)})
    # MEXC answers a rate limit with HTTP 429 and {"code": 429, ...}; ccxt 4.5 reads that code as a plain
    # ExchangeError (an order refusal), so name it: a rate limit means nothing happened, retry later.
    client.exceptions["exact"] = {**client.exceptions["exact"], "429": ccxt().RateLimitExceeded}
    if url is not None:
        api = dict(client.urls["api"])
        api["spot"] = {"public": url, "private": url}
        api["contract"] = {"public": f"{url}/api/v1/contract", "private": f"{url}/api/v1/private"}
        client.urls["api"] = api
    return client


class MexcVenue(CcxtVenue):
    """MEXC: order, open-order and trade queries are made per configured market."""

    fills_need_symbol = True
