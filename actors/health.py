"""The health monitor: on each `CheckHealth` it pings every watched actor and keeps who answered.

Each ping is a `PendingRequests` entry with a deadline (``timeout`` seconds, or the next check if
that comes first): an actor silent past it is counted missed, logged as an error and alerted
(``health.<name>``), and the alert is resolved when it answers again. A `Pong` is accepted only
from the actor pinged, with the nonce it was sent. `GetHealth` returns the picture (for status
and the daily report).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from actors.base import Actor
from actors.requests import DeadlineTimer, PendingRequests, RequestsDue
from messages.alerts import AlertSeverity
from messages.scheduling import ActorHealth, CheckHealth, GetHealth, HealthReport
from messages.system import Ping, Pong
from supervisor.errors import ActorError

__all__ = ["HealthMonitor"]


class HealthMonitor(Actor):
    """Liveness of the watched actors, judged at each ping's deadline. Conventional name: "health"."""

    def __init__(self, watched: Sequence[str], *, timeout: float = 10.0) -> None:
        super().__init__()
        if not timeout > 0:
            raise ValueError(f"the health timeout must be > 0 seconds, got {timeout!r}")
        self.watched = [name for name in watched]
        self.timeout = timeout
        self.round = 0
        self.checked_at: float | None = None
        self.answered: set[str] = set()
        self.last_pong: dict[str, float] = {}
        self.missed = dict.fromkeys(self.watched, 0)
        self.requests: PendingRequests[int] = PendingRequests()  # context: the ping's nonce
        self._deadlines = DeadlineTimer(lambda delay: self.send_later(delay, self.name, RequestsDue()))

    def on_stop(self) -> None:
        self._deadlines.cancel()

    def on_check_health(self, message: CheckHealth) -> HealthReport:
        if self.round:
            for request in self.requests.waiting("ping"):  # the next check is a deadline too
                self.requests.cancel(request.correlation_id)
                self._silent(request.to)
            silent = [name for name in self.watched if name not in self.answered]
            if silent:
                self.log.warning(
                    "health: {} of {} did not answer: {}", len(silent), len(self.watched), ", ".join(silent)
                )
            else:
                self.log.info("health: all {} actors answered", len(self.watched))
        self.round += 1
        self.answered = set()
        now = self.checked_at = self.clock.now()
        for name in self.watched:
            nonce = secrets.randbits(48)
            try:
                self.tell(name, Ping(nonce=nonce))
            except ActorError as error:
                self.log.error("health: cannot ping {}: {}", name, error)
                continue
            self.requests.open(name, "ping", now + self.timeout, context=nonce)
        self._deadlines.arm(self.requests.next_deadline(), now)
        return self.report()

    def on_pong(self, message: Pong) -> None:
        sender = self.sender
        if (
            message.actor != sender
            or self.requests.accept_from(sender, "ping", lambda request: request.context == message.nonce) is None
        ):
            return  # late (its ping's deadline passed), or not an answer to our ping
        self.answered.add(message.actor)
        self.last_pong[message.actor] = self.clock.now()
        if self.missed.get(message.actor):
            self.resolve_alert(f"health.{message.actor}", f"{message.actor} answers again")
        self.missed[message.actor] = 0

    def on_requests_due(self, message: RequestsDue) -> None:
        self._deadlines.cancel()
        for request in self.requests.expired(self.clock.now()):
            self._silent(request.to)
        self._deadlines.arm(self.requests.next_deadline(), self.clock.now())

    def _silent(self, name: str) -> None:
        self.missed[name] += 1
        self.log.error("health: {} did not answer its ping ({} check(s) in a row)", name, self.missed[name])
        self.alert(
            f"health.{name}",
            f"{name} did not answer a ping within {self.timeout} s ({self.missed[name]} check(s) in a row)",
            AlertSeverity.WARNING,
        )

    def on_get_health(self, message: GetHealth) -> HealthReport:
        return self.reply(self.report())

    def report(self) -> HealthReport:
        return HealthReport(
            checked_at=self.checked_at,
            actors=[
                ActorHealth(
                    name=name,
                    alive=self.missed[name] == 0 and name in self.last_pong,
                    last_pong=self.last_pong.get(name),
                    missed=self.missed[name],
                )
                for name in self.watched
            ],
        )
