"""The "alerts" actor: one notification per incident (then one when it is resolved), to the configured sinks.

`AlertBook` is the bookkeeping (no I/O): which incidents are open, what is recent, what is still
to be delivered. `AlertsActor` wraps it and hands notices to apprise (webhook, Telegram, Slack...).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import msgspec

from actors.base import Actor
from desk.config import AlertSinkConfig, ConfigError
from messages.alerts import Alert, AlertEntry, Alerts, AlertSeverity, GetAlerts
from messages.base import Message

__all__ = ["AlertBook", "AlertsActor", "AppriseSink", "DeliverAlerts", "Notice", "check_sinks"]

_RANK = {AlertSeverity.WARNING: 0, AlertSeverity.CRITICAL: 1}


class Notice(msgspec.Struct, frozen=True):
    """What a sink is given: a raised or resolved incident."""

    key: str
    title: str
    body: str
    severity: AlertSeverity
    resolved: bool


class DeliverAlerts(Message, frozen=True):
    """The alerts actor's own timer: try again to deliver what a sink refused."""


class AlertBook:
    """Incidents by key: an alert opens one (repeats only count), a resolution closes it.

    `take` returns the notices a sink must be given, each exactly once, in order.
    """

    def __init__(self, keep: int = 200) -> None:
        self.open: dict[str, AlertEntry] = {}
        self.recent: deque[AlertEntry] = deque(maxlen=keep)
        self._outbox: list[Notice] = []

    def record(self, alert: Alert) -> Notice | None:
        """Apply ``alert``; the notice it causes (None for a repeat, or a resolution of nothing open)."""
        entry = self.open.get(alert.key)
        if alert.resolved:
            if entry is None:
                return None
            closed = msgspec.structs.replace(entry, resolved_at=alert.at, resolved_text=alert.text)
            del self.open[alert.key]
            self._replace_recent(entry, closed)
            notice = Notice(alert.key, f"RESOLVED {alert.key}", alert.text, entry.severity, resolved=True)
        elif entry is not None:
            repeated = msgspec.structs.replace(entry, count=entry.count + 1, text=alert.text)
            self.open[alert.key] = repeated
            self._replace_recent(entry, repeated)
            return None
        else:
            entry = AlertEntry(
                key=alert.key, text=alert.text, source=alert.source, severity=alert.severity, raised_at=alert.at
            )
            self.open[alert.key] = entry
            self.recent.appendleft(entry)
            notice = Notice(
                alert.key,
                f"{alert.severity.value.upper()} {alert.key}",
                f"{alert.text} (from {alert.source or 'the desk'})",
                alert.severity,
                resolved=False,
            )
        self._outbox.append(notice)
        return notice

    def _replace_recent(self, old: AlertEntry, new: AlertEntry) -> None:
        for i, entry in enumerate(self.recent):
            if entry is old:
                self.recent[i] = new
                return

    @property
    def pending(self) -> list[Notice]:
        """Notices not delivered yet, oldest first."""
        return list(self._outbox)

    def delivered(self, count: int) -> None:
        """The first ``count`` pending notices reached every sink."""
        for notice in self._outbox[:count]:
            for i, entry in enumerate(self.recent):
                if entry.key == notice.key and not entry.delivered:
                    self.recent[i] = msgspec.structs.replace(entry, delivered=True)
                    if entry.key in self.open and self.open[entry.key].raised_at == entry.raised_at:
                        self.open[entry.key] = self.recent[i]
                    break
        del self._outbox[:count]

    def report(self) -> Alerts:
        return Alerts(open=list(self.open.values()), recent=list(self.recent), undelivered=len(self._outbox))


class AppriseSink:
    """One configured destination (an apprise URL) taking notices at or above ``min_severity``."""

    def __init__(self, config: AlertSinkConfig) -> None:
        import apprise

        self.config = config
        self.min_rank = _RANK[AlertSeverity(config.min_severity)]
        self._apprise = apprise.Apprise()
        if not self._apprise.add(config.url):
            raise ValueError(f"alerts.sinks: apprise does not understand the URL {config.url!r}")
        self._types = {True: apprise.NotifyType.SUCCESS, False: apprise.NotifyType.FAILURE}
        self._warning = apprise.NotifyType.WARNING

    def send(self, notice: Notice) -> bool:
        """Deliver ``notice``; True when it was taken (or is below this sink's threshold)."""
        if _RANK[notice.severity] < self.min_rank:
            return True
        kind = (
            self._types[True]
            if notice.resolved
            else (self._types[False] if notice.severity is AlertSeverity.CRITICAL else self._warning)
        )
        return bool(self._apprise.notify(title=notice.title, body=notice.body, notify_type=kind))


Sink = Callable[[Notice], bool]


def check_sinks(sinks: Sequence[AlertSinkConfig]) -> None:
    """`ConfigError` naming the first sink URL apprise does not understand (called before the desk starts)."""
    for i, sink in enumerate(sinks):
        try:
            AppriseSink(sink)
        except ValueError:
            raise ConfigError(
                f"config error at alerts.sinks[{i}].url: apprise does not understand {sink.url!r}"
            ) from None


class AlertsActor(Actor):
    """Receives every `Alert` of the desk, dedupes it per incident and delivers notices to the sinks.

    A notice a sink refuses (a webhook down) is kept and retried every ``retry_every`` seconds,
    in order; nothing is dropped. `GetAlerts` answers the open and recent incidents.
    """

    def __init__(
        self,
        sinks: Sequence[AlertSinkConfig] = (),
        keep: int = 200,
        retry_every: float = 10.0,
        extra_sinks: Sequence[Sink] = (),
    ) -> None:
        super().__init__()
        self.book = AlertBook(keep)
        self.sinks: list[Sink] = [AppriseSink(s).send for s in sinks] + list(extra_sinks)
        self.retry_every = retry_every
        self._retry_armed = False
        self._taken: set[int] = set()

    def on_alert(self, message: Alert) -> None:
        if self.book.record(message) is not None:
            self._deliver()

    def on_deliver_alerts(self, message: DeliverAlerts) -> None:
        self._retry_armed = False
        self._deliver()

    def on_get_alerts(self, message: GetAlerts) -> Alerts:
        return self.book.report()

    def _deliver(self) -> None:
        done = 0
        for notice in self.book.pending:
            # A sink that took the head notice is not given it again when another sink is retried.
            self._taken |= {i for i, sink in enumerate(self.sinks) if i not in self._taken and self._try(sink, notice)}
            failed = [i for i in range(len(self.sinks)) if i not in self._taken]
            if failed:
                self.log.warning(
                    "alert {} not delivered to sink(s) {}; retrying in {}s", notice.key, failed, self.retry_every
                )
                break
            self._taken = set()
            done += 1
        self.book.delivered(done)
        if self.book.pending and not self._retry_armed:
            self._retry_armed = True
            self.send_later(self.retry_every, self.name, DeliverAlerts())

    def _try(self, sink: Sink, notice: Notice) -> bool:
        try:
            return sink(notice)
        except Exception as error:  # a sink's own bug or network error: keep the notice, retry later
            self.log.warning("alert sink failed on {}: {}", notice.key, error)
            return False
