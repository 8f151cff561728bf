"""The health monitor: on each `CheckHealth` it pings every watched actor and keeps who answered.

An actor that has not answered since the previous check is logged and reported not alive;
`GetHealth` returns the picture (for status and the daily report).
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.base import Actor
from messages.scheduling import ActorHealth, CheckHealth, GetHealth, HealthReport
from messages.system import Ping, Pong
from supervisor.errors import ActorError

__all__ = ["HealthMonitor"]


class HealthMonitor(Actor):
    """Liveness of the watched actors, judged one check after each ping. Conventional name: "health"."""

    def __init__(self, watched: Sequence[str]) -> None:
        super().__init__()
        self.watched = [name for name in watched]
        self.round = 0
        self.checked_at: float | None = None
        self.answered: set[str] = set()
        self.last_pong: dict[str, float] = {}
        self.missed = dict.fromkeys(self.watched, 0)

    def on_check_health(self, message: CheckHealth) -> HealthReport:
        if self.round:
            silent = [name for name in self.watched if name not in self.answered]
            for name in self.watched:
                self.missed[name] = self.missed[name] + 1 if name in silent else 0
            if silent:
                self.log.warning("health: {} of {} did not answer: {}", len(silent), len(self.watched), ", ".join(silent))
            else:
                self.log.info("health: all {} actors answered", len(self.watched))
        self.round += 1
        self.answered = set()
        self.checked_at = self.clock.now()
        for name in self.watched:
            try:
                self.tell(name, Ping(nonce=self.round))
            except ActorError as error:
                self.log.error("health: cannot ping {}: {}", name, error)
        return self.report()

    def on_pong(self, message: Pong) -> None:
        if message.nonce == self.round and message.actor in self.missed:
            self.answered.add(message.actor)
            self.last_pong[message.actor] = self.clock.now()

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
