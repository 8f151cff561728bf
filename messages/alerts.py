"""Alerts: what an actor raises when a person must look (exposure past a limit, a stuck transfer, ...).

An actor raises one with ``Actor.alert(key, text)`` and clears it with ``Actor.resolve_alert``;
both are logged and told to the actor named ``"alerts"`` when the deployment has one.
``key`` names the incident, so repeating an alert for the same incident is one incident.
"""

from __future__ import annotations

import enum

from messages.base import Message

__all__ = ["ALERTS_ACTOR", "Alert", "AlertEntry", "AlertSeverity", "Alerts", "GetAlerts"]

ALERTS_ACTOR = "alerts"


class AlertSeverity(enum.StrEnum):
    """How urgent an alert is."""

    WARNING = "warning"
    CRITICAL = "critical"


class Alert(Message, frozen=True):
    """An incident raised (``resolved=False``) or cleared (``resolved=True``) by ``source``.

    ``key`` identifies the incident (for example ``"hedge_a:unhedged"``); ``text`` says what a
    person must know, with the quantities involved.
    """

    key: str
    text: str
    source: str = ""
    severity: AlertSeverity = AlertSeverity.CRITICAL
    resolved: bool = False
    at: float = 0.0


class GetAlerts(Message, frozen=True):
    """Ask the "alerts" actor for the open incidents and the recent alerts. Answer: `Alerts`."""


class AlertEntry(Message, frozen=True):
    """One incident as the alerts actor keeps it: raised at ``raised_at``, repeated ``count`` times,
    ``resolved_at`` once cleared; ``delivered`` False while a sink has not taken it yet."""

    key: str
    text: str
    source: str
    severity: AlertSeverity
    raised_at: float
    count: int = 1
    resolved_at: float | None = None
    resolved_text: str = ""
    delivered: bool = False


class Alerts(Message, frozen=True):
    """The open incidents (oldest first) and the recent ones, newest first."""

    open: list[AlertEntry]
    recent: list[AlertEntry]
    undelivered: int = 0
