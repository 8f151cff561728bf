"""What both hedge actors share: a venue account whose fills go to the gateway, and journal rows of their own.

`HedgeAccount` is the base of `HedgeAccountA` and `HedgeAccountB`; not an actor to run by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from actors.base import Actor
from actors.hedge.job_book import JobBook
from actors.hedge.opener_book import OpenerBook
from actors.stores.journal import Journal
from actors.venues.base import FillSubscription, TradingVenue, VenueError
from messages.common import AccountRef, Exchange, exchange_name
from messages.hedge import JournalFlush
from messages.trading import Fill
from supervisor.clock import Timer

__all__ = ["ANSWER", "BOOK", "FILL", "JOB", "HedgeAccount"]

_Row = TypeVar("_Row")

BOOK = ("book", "state")  # the journal row (owner = the actor's name) holding the book's own record
FILL, JOB, ANSWER = "fill", "job", "answer"  # one row per open hedge of A, job of B, answer of B
_encode = msgspec.msgpack.Encoder().encode


class HedgeAccount(Actor):
    """What A and B share: a venue account whose pushed fills are forwarded to the gateway, and a journaled book."""

    book: OpenerBook | JobBook

    def __init__(
        self, venue: TradingVenue, exchange: Exchange, account: str, gateway: str | None, journal: Journal | None
    ) -> None:
        super().__init__()
        self.venue = venue
        self.exchange = exchange_name(exchange)
        self.account = account
        self.where = str(AccountRef(self.exchange, account))
        self.gateway = gateway
        self.journal = journal
        self._subscription: FillSubscription | None = None
        # Journal rows changed and not committed yet ((kind, key) -> value, None to delete); see `_write`.
        self._unwritten: dict[tuple[str, str], msgspec.Struct | None] = {}
        self._flush_told = False

    def on_stop(self) -> None:
        self._flush()
        self._unsubscribe()

    def on_failure(self, *exc_info: Any) -> None:
        self._unsubscribe()  # the next incarnation subscribes again

    def _subscribe(self) -> bool:
        """Have the venue push this account's fills to our mailbox; False (logged) if it cannot now."""
        if self._subscription is None:
            try:
                self._subscription = self.venue.subscribe_fills(
                    self.exchange, self.account, lambda fill: self.tell(self.name, fill)
                )
            except VenueError as error:
                self.log.warning("cannot subscribe to the fills of {} now ({}); trying again later", self.where, error)
                return False
        return True

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None

    def _forward(self, fill: Fill) -> None:
        """Every fill of the account goes to the gateway (which ignores one it has already applied)."""
        if self.gateway is not None:
            self.tell(self.gateway, fill)

    def _write(
        self,
        rows: Iterable[tuple[str, str, msgspec.Struct]],
        delete: Iterable[tuple[str, str]] = (),
        synced: bool = False,
    ) -> None:
        """Journal the book's record, plus ``rows`` (kind, key, value), minus ``delete``.

        ``synced``: committed now, synced to disk, with every change still unwritten: for a record
        that protects the action that follows. Otherwise the change follows its action: it is
        committed (unsynced) by a `JournalFlush` this actor tells itself, after the message being
        handled, together with whatever else changed meanwhile. Lost in a crash, it is re-derived
        (A asks B again; B resolves its attempt by client id). Nothing to do without a journal.
        """
        if self.journal is None:
            return
        for kind, key, value in rows:
            self._unwritten[(kind, key)] = value
        for kind, key in delete:
            self._unwritten[(kind, key)] = None
        self._unwritten[BOOK] = self.book
        if synced:
            self._flush(synced=True)
        elif not self._flush_told:
            self._flush_told = True
            self.tell(self.name, JournalFlush())

    def on_journal_flush(self, message: JournalFlush) -> None:
        self._flush_told = False
        self._flush()

    def _flush(self, synced: bool = False) -> None:
        """Commit every unwritten change in one transaction."""
        if self.journal is None or not self._unwritten:
            return
        changes, self._unwritten = self._unwritten, {}
        records = [(kind, key, _encode(value)) for (kind, key), value in changes.items() if value is not None]
        gone = [row for row, value in changes.items() if value is None]
        self.journal.hedge.write(self.name, records, delete=gone, synced=synced)

    def _journaled(self, kind: str, of: type[_Row]) -> list[_Row]:
        """The rows of ``kind`` as last journaled, oldest first (none without a journal)."""
        if self.journal is None:
            return []
        return [msgspec.msgpack.decode(value, type=of) for _, value in self.journal.hedge.load(self.name, kind)]

    def _later(self, delay: float, message: Any) -> Timer | None:
        """Tell ourselves ``message`` after ``delay`` seconds (at once, through the mailbox, if it is due)."""
        if delay <= 0:
            self.tell(self.name, message)
            return None
        return self.send_later(delay, self.name, message)

    def _asked(self) -> bool:
        """Whether the message being handled is an ask (someone waits for the return value)."""
        envelope = self.current_envelope
        return envelope is not None and envelope.reply_to is not None
