"""Alerts: what an actor raises when a person must look (exposure past a limit, a stuck transfer, ...).

An actor raises one with ``Actor.alert(key, text)`` and clears it with ``Actor.resolve_alert``;
both are logged and told to the actor named ``"alerts"`` when the deployment has one.
``key`` names the incident, so repeating an alert for the same incident is one incident.
"""

from __future__ import annotations

import enum

from messages.base import Message

__all__ = ["ALERTS_ACTOR", "Alert", "AlertSeverity"]

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
