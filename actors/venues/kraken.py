"""Kraken spot through ccxt: the client for one API key (pointed at another base URL for a fake),
and `KrakenVenue`, a `CcxtVenue` whose withdrawals name a whitelisted address key and whose
accounts move money between them by Kraken's ``AccountTransfer``."""

from __future__ import annotations

from typing import Any

from actors.venues.ccxt_lib import ccxt, ccxt_pro
from actors.venues.ccxt_venue import CcxtAccount, CcxtVenue
from actors.venues.sent import SentTransfer

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
    """Kraken: withdrawals need the whitelisted address name (``WithdrawRoute.key``). Its wallet
    transfers go only from spot to Kraken Futures (another API), so desk accounts are separate
    keys: a master account and its subaccounts, between which money moves by ``AccountTransfer``
    (called with the master's key, each side named by its IIBAN, ``CcxtAccount.sub_account``). A
    transfer whose answer was lost is found again in the source account's ledger."""

    account_transfers = True

    def _account_transfer(self, source: CcxtAccount, destination: CcxtAccount, sent: SentTransfer) -> dict[str, Any]:
        assert self.master is not None
        master = self.accounts[self.master].client
        code = self._code(sent.currency)
        request = {
            "asset": master.currency(code)["id"],
            "amount": master.currency_to_precision(code, sent.amount),
            "from": source.sub_account,
            "to": destination.sub_account,
        }
        answer = self._call("AccountTransfer", master.privatePostAccountTransfer, request, write=True)
        return {"id": (answer.get("result") or {}).get("transfer_id")}

    def _transfer_history(self, sent: SentTransfer) -> list[dict[str, Any]] | None:
        client = self._client(sent.from_account)
        since = int((sent.sent_at - 3600) * 1000)
        ledger = self._call("fetch_ledger", client.fetch_ledger, self._code(sent.currency), since)
        return [e for e in ledger if e.get("type") == "transfer" and e.get("direction") == "out"]
