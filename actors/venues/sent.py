"""What a real adapter sent, saved before sending: the desk's client id with the request, so a
withdrawal the exchange knows by its own id only can be found again after a timeout or a restart,
and its deposit at the other exchange named by that client id (`named_deposits`)."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from messages.common import Currency, Exchange
from messages.venue import Deposit

__all__ = ["MemoryState", "SentLog", "SentTransfer", "StateStore", "named_deposits"]


class StateStore(Protocol):
    """The journal's per-owner key-value store (``journal.state``); `MemoryState` in tests."""

    def put(self, owner: str, key: str, value: Any) -> None: ...

    def get(self, owner: str, key: str, default: Any = None) -> Any: ...

    def items(self, owner: str) -> dict[str, Any]: ...


class MemoryState:
    """A `StateStore` in memory (lost at exit: for tests and paper trading)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def put(self, owner: str, key: str, value: Any) -> None:
        with self._lock:
            self._rows[(owner, key)] = msgspec.json.decode(msgspec.json.encode(value))

    def get(self, owner: str, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._rows.get((owner, key), default)

    def items(self, owner: str) -> dict[str, Any]:
        with self._lock:
            return {key: value for (o, key), value in self._rows.items() if o == owner}


class SentTransfer(msgspec.Struct, frozen=True, kw_only=True):
    """One transfer or withdrawal as sent. ``exchange_id`` is None while the exchange has not
    confirmed it (sending, or the call timed out); ``state`` is ``sending``, ``sent`` or ``failed``."""

    client_id: str
    kind: str  # "withdraw" (to another exchange) or "transfer" (between this exchange's wallets)
    from_exchange: Exchange
    from_account: str
    to_exchange: Exchange
    to_account: str
    currency: Currency
    amount: float
    fee: float = 0.0
    address: str | None = None
    sent_at: float = 0.0
    state: str = "sending"
    exchange_id: str | None = None
    reason: str = ""


class SentLog:
    """`SentTransfer` records of one venue (owner ``venue.<exchange>``) in a `StateStore`, plus
    which exchange ids are already claimed by a client id (so one withdrawal matches one request)."""

    def __init__(self, store: StateStore, exchange: Exchange) -> None:
        self._store = store
        self._owner = f"venue.{exchange}"

    def get(self, client_id: str) -> SentTransfer | None:
        raw = self._store.get(self._owner, f"sent:{client_id}")
        return None if raw is None else msgspec.convert(raw, SentTransfer)

    def save(self, sent: SentTransfer) -> None:
        """Record ``sent``; its claim on its exchange id first, so that a crash between the two
        writes leaves a claim whose record the history lookup completes (never a record without
        its claim, which another request's lookup could take)."""
        if sent.exchange_id is not None:
            self._store.put(self._owner, f"claim:{sent.exchange_id}", sent.client_id)
        self._store.put(self._owner, f"sent:{sent.client_id}", msgspec.to_builtins(sent))

    def forget(self, client_id: str) -> None:
        """The request never reached the exchange (a rate-limit answer): as if never sent."""
        self._store.put(self._owner, f"sent:{client_id}", None)

    def claimed_by(self, exchange_id: str) -> str | None:
        owner: str | None = self._store.get(self._owner, f"claim:{exchange_id}")
        return owner

    def withdrawals_to(self, exchange: Exchange, account: str) -> list[SentTransfer]:
        """The withdrawals this venue sent (confirmed by the exchange) toward ``exchange``/``account``, oldest first."""
        found = [
            sent
            for key, raw in self._store.items(self._owner).items()
            if key.startswith("sent:") and raw is not None
            for sent in [msgspec.convert(raw, SentTransfer)]
            if sent.kind == "withdraw"
            and sent.exchange_id is not None
            and (sent.to_exchange, sent.to_account) == (exchange, account)
        ]
        return sorted(found, key=lambda s: (s.sent_at, s.client_id))

    def deposit_of(self, deposit_id: str) -> str | None:
        """The client id of the desk withdrawal a deposit here was matched to, if any."""
        client_id: str | None = self._store.get(self._owner, f"deposit:{deposit_id}")
        return client_id

    def claim_deposit(self, deposit_id: str, client_id: str) -> None:
        """Match a deposit here to the desk withdrawal ``client_id`` (each to one, for good). The
        withdrawal's side first: after a crash between the writes `named_deposits` completes it."""
        self._store.put(self._owner, f"arrival:{client_id}", deposit_id)
        self._store.put(self._owner, f"deposit:{deposit_id}", client_id)

    def arrival_of(self, client_id: str) -> str | None:
        deposit_id: str | None = self._store.get(self._owner, f"arrival:{client_id}")
        return deposit_id


def named_deposits(
    log: SentLog, peers: Sequence[SentLog], exchange: Exchange, account: str, deposits: list[Deposit]
) -> list[Deposit]:
    """Each deposit at ``exchange``/``account`` (``log``'s venue) named by the desk withdrawal it is,
    which the exchange does not know: the oldest unmatched one a peer venue sent toward this
    account, for this currency, arriving net of its configured fee, sent no later than the
    deposit. Matches are kept in ``log``, each for good. (A fee other than configured matches
    nothing: the transfer stays in flight, visible.)"""
    named = []
    for deposit in deposits:
        client_id = log.deposit_of(deposit.deposit_id)
        if client_id is None:
            candidates = [
                sent
                for peer in peers
                for sent in peer.withdrawals_to(exchange, account)
                if sent.currency == deposit.currency
                and math.isclose(deposit.amount, sent.amount - sent.fee, rel_tol=1e-9, abs_tol=1e-6)
                and sent.sent_at - 60 <= deposit.credited_at
            ]
            arrivals = [log.arrival_of(sent.client_id) for sent in candidates]
            # one whose claim of this deposit a crash cut short, else the oldest unmatched
            chosen = next((s for s, a in zip(candidates, arrivals, strict=True) if a == deposit.deposit_id), None)
            chosen = chosen or next((s for s, a in zip(candidates, arrivals, strict=True) if a is None), None)
            if chosen is not None:
                log.claim_deposit(deposit.deposit_id, chosen.client_id)
                client_id = chosen.client_id
        named.append(deposit if client_id is None else msgspec.structs.replace(deposit, client_id=client_id))
    return named
