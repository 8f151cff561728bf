"""Alerts raised by actors: logged, and told to the `alerts` actor when the deployment has one."""

from __future__ import annotations

from collections.abc import Callable

from actors.base import Actor
from messages import Message
from messages.alerts import Alert, AlertSeverity
from supervisor import ChildSpec, Runtime


class RaiseAlert(Message, frozen=True):
    key: str
    resolved: bool = False


class Raiser(Actor):
    def on_raise(self, message: RaiseAlert) -> bool:
        if message.resolved:
            self.resolve_alert(message.key, "back to normal")
        else:
            self.alert(message.key, "something needs a person", AlertSeverity.WARNING)
        return True


class Inbox(Actor):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Alert] = []

    def on_alert(self, message: Alert) -> None:
        self.seen.append(message)

    def on_raise(self, message: RaiseAlert) -> list[Alert]:
        return list(self.seen)


def test_alert_and_its_resolution_reach_the_alerts_actor(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime([ChildSpec("alerts", Inbox), ChildSpec("raiser", Raiser)])
    assert rt.ask("raiser", RaiseAlert("x:stuck")) is True
    assert rt.ask("raiser", RaiseAlert("x:stuck", resolved=True)) is True
    seen = rt.ask("alerts", RaiseAlert("read"))
    assert [(a.key, a.resolved, a.source, a.severity) for a in seen] == [
        ("x:stuck", False, "raiser", AlertSeverity.WARNING),
        ("x:stuck", True, "raiser", AlertSeverity.CRITICAL),
    ]


def test_alert_without_an_alerts_actor_is_logged_and_leaves_no_dead_letter(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = make_runtime([ChildSpec("raiser", Raiser)])
    assert rt.ask("raiser", RaiseAlert("x:stuck")) is True
    assert not rt.knows("alerts")
    assert rt.dead_letters == []
