"""Fill pushes for a venue that can only be asked: poll each subscribed account's fills on the
injected clock and push the ones not seen before. A failed poll (a dropped feed) is retried from
where the last good one ended, so what was missed meanwhile arrives late, never lost, never twice.
A stream's fills come in by `push`, deduplicated the same way; an account the venue says is
streaming (``live``) is left out of the timer's polls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger

from actors.venues.base import Subscription
from messages.trading import Fill
from supervisor.clock import Clock, Repeating, call_every

__all__ = ["FillPoller"]

_OVERLAP = 60.0  # seconds asked again before the newest fill seen (late-listed fills)


@dataclass
class _Feed:
    subscriptions: list[Subscription[str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    since: float = 0.0


class FillPoller:
    """Polls ``fetch(account, since)`` every ``every`` seconds of ``clock`` for each account with a
    subscriber and no ``live`` stream. `poll` asks for every account now (a caller catching up, or a
    test). `close` stops the timer."""

    def __init__(
        self,
        label: str,
        clock: Clock,
        every: float,
        fetch: Callable[[str, float], list[Fill]],
        live: Callable[[str], bool] = lambda _account: False,
    ) -> None:
        self.label = label
        self.clock = clock
        self.every = every
        self._fetch = fetch
        self._live = live
        self._lock = threading.Lock()
        self._delivering = threading.Lock()  # one delivery at a time (poll, push): each fill once
        self._feeds: dict[str, _Feed] = {}
        self._timer: Repeating | None = None
        self.log = logger.bind(actor=label)

    def subscribe(self, account: str, callback: Callable[[Fill], None]) -> Subscription[str]:
        """Push the account's fills from now on (the fills already listed are taken as seen)."""
        with self._lock:
            feed = self._feeds.get(account)
        if feed is None:
            since = self.clock.now()
            seen = {f.trade_id for f in self._fetch(account, since - _OVERLAP)}
            with self._lock:
                feed = self._feeds.setdefault(account, _Feed(seen=seen, since=since))
        subscription: Subscription[str] = Subscription(account, f"{self.label}.{account}", callback, self._unsubscribe)
        with self._lock:
            feed.subscriptions.append(subscription)
            if self._timer is None:
                self._timer = call_every(self.clock, self.every, self._tick)
        return subscription

    def _unsubscribe(self, subscription: Subscription[str]) -> None:
        with self._lock:
            feed = self._feeds.get(subscription.key)
            if feed is not None and subscription in feed.subscriptions:
                feed.subscriptions.remove(subscription)

    def _tick(self, _now: float) -> None:
        self._poll(lambda account: not self._live(account))

    def poll(self) -> int:
        """Ask for each subscribed account's new fills (streamed or not) and push them; returns how
        many were pushed."""
        return self._poll(lambda _account: True)

    def _poll(self, wanted: Callable[[str], bool]) -> int:
        pushed = 0
        with self._lock:
            accounts = [account for account, feed in self._feeds.items() if feed.subscriptions and wanted(account)]
        for account in accounts:
            try:
                pushed += self.catch_up(account)
            except Exception as error:  # noqa: BLE001 - the feed is down: the next poll asks again from feed.since
                self.log.warning("fill poll of {} failed ({}); the next poll catches up", account, error)
        return pushed

    def catch_up(self, account: str) -> int:
        """Ask for the account's fills from the last one seen and push the new ones; returns how
        many. The venue's errors propagate (nothing is marked seen)."""
        with self._lock:
            feed = self._feeds.get(account)
        if feed is None:
            return 0
        return sum(self._deliver(feed, fill) for fill in self._fetch(account, feed.since - _OVERLAP))

    def push(self, account: str, fill: Fill) -> bool:
        """Deliver one fill a stream brought (True), unless it was seen already (False)."""
        with self._lock:
            feed = self._feeds.get(account)
        return feed is not None and self._deliver(feed, fill)

    def _deliver(self, feed: _Feed, fill: Fill) -> bool:
        with self._delivering:
            if fill.trade_id in feed.seen:
                return False
            feed.seen.add(fill.trade_id)
            feed.since = max(feed.since, fill.timestamp)
            for subscription in list(feed.subscriptions):
                subscription.deliver(fill)
            return True

    def close(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
