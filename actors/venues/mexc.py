"""MEXC spot through ccxt: the client for one API key (pointed at another base URL for a fake),
and `MexcVenue`, a `CcxtVenue` that asks per market (MEXC's trade and order lists need a symbol) and
moves money between the master account and its sub-accounts by MEXC's universal transfer."""

from __future__ import annotations

from typing import Any

from actors.venues.ccxt_lib import ccxt
from actors.venues.ccxt_venue import CcxtAccount, CcxtVenue
from actors.venues.sent import SentTransfer

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
    """MEXC: order, open-order and trade queries are made per configured market. Money moves
    between the spot and futures (``swap``) wallets of one key by ccxt's ``transfer``, and between
    the master account and its sub-accounts (spot wallets) by the universal transfer, called with
    the master's key, each side named by its sub-account name (none for the master). A transfer
    whose answer was lost is found again in the key's transfer history, or the master's universal
    transfer history."""

    fills_need_symbol = True
    account_transfers = True

    def _addressable(self, account: str) -> bool:
        return account == self.master or self.accounts[account].sub_account is not None

    def _sides(self, sent: SentTransfer) -> dict[str, str]:
        """The universal transfer's parameters naming both sides (the master is named by omission)."""
        sides = {"fromAccountType": "SPOT", "toAccountType": "SPOT"}
        for side, account in (("fromAccount", sent.from_account), ("toAccount", sent.to_account)):
            name = self.accounts[account].sub_account
            if account != self.master and name is not None:
                sides[side] = name
        return sides

    def _account_transfer(self, source: CcxtAccount, destination: CcxtAccount, sent: SentTransfer) -> dict[str, Any]:
        assert self.master is not None
        master = self.accounts[self.master].client
        code = self._code(sent.currency)
        request = {
            **self._sides(sent),
            "asset": master.currency(code)["id"],
            "amount": master.currency_to_precision(code, sent.amount),
        }
        answer = self._call(
            "universalTransfer", master.spotPrivatePostCapitalSubAccountUniversalTransfer, request, write=True
        )
        entry = answer[0] if isinstance(answer, list) and answer else answer
        return {"id": entry.get("tranId") if isinstance(entry, dict) else None}

    def _transfer_history(self, sent: SentTransfer) -> list[dict[str, Any]] | None:
        source, destination = self.accounts[sent.from_account], self.accounts[sent.to_account]
        since = int((sent.sent_at - 3600) * 1000)
        if source.client is destination.client:  # between the wallets of one key: its transfer history
            wallets = {"fromAccountType": source.wallet, "toAccountType": destination.wallet}
            entries = self._call(
                "fetch_transfers", source.client.fetch_transfers, self._code(sent.currency), since, None, wallets
            )
            return [e for e in entries if e.get("status") != "failed"]
        assert self.master is not None
        master = self.accounts[self.master].client
        request = {**self._sides(sent), "startTime": since}
        rows = self._call("universalTransfer history", master.spotPrivateGetCapitalSubAccountUniversalTransfer, request)
        asset = master.currency(self._code(sent.currency))["id"]
        return [
            {"id": r.get("tranId"), "amount": float(r.get("amount") or 0.0), "timestamp": int(r.get("timestamp") or 0)}
            for r in (rows if isinstance(rows, list) else rows.get("rows") or [])
            if r.get("asset") == asset and r.get("status") != "FAILED"
        ]
