"""Kraken spot through ccxt: the client for one API key (pointed at another base URL for a fake),
and `KrakenVenue`, a `CcxtVenue` whose withdrawals name a whitelisted address key."""

from __future__ import annotations

from typing import Any

from actors.venues.ccxt_lib import ccxt, ccxt_pro
from actors.venues.ccxt_venue import CcxtVenue

__all__ = ["KrakenVenue", "kraken_client", "kraken_stream_client"]


def kraken_client(api_key: str, secret: str, *, url: str | None = None, timeout: float = 10.0) -> Any:
    """A rate-limited ccxt Kraken client; ``url`` replaces ``https://api.kraken.com`` (a local fake)."""
    client = ccxt().kraken(
        {"apiKey": api_key, "secret": secret, "enableRateLimit": True, "timeout": int(timeout * 1000)}
    )
    if url is not None:
        client.urls["api"] = {**client.urls["api"], "public": url, "private": url}
    return client


def kraken_stream_client(api_key: str, secret: str, *, url: str | None = None, ws_url: str | None = None) -> Any:
    """A ccxt.pro Kraken client for the websocket v2 executions feed (its token comes by REST)."""
    client = ccxt_pro().kraken({"apiKey": api_key, "secret": secret, "enableRateLimit": True})
    if url is not None:
        client.urls["api"] = {**client.urls["api"], "public": url, "private": url}
    if ws_url is not None:
        client.urls["api"] = {**client.urls["api"], "ws": {**client.urls["api"]["ws"], "privateV2": ws_url}}
    return client


class KrakenVenue(CcxtVenue):
    """Kraken: withdrawals need the whitelisted address name (``WithdrawRoute.key``); wallet
    transfers exist only from the spot wallet to futures, so desk accounts are separate keys."""
