"""Operator actions: each one a message to one actor, built from the action's name and parameters.

Messages owned by other parts of the desk (``PauseTrading``, ``BookManualHedge``) are built by
their type name through the codec, so this module does not depend on their classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from messages.base import Message
from messages.codec import DecodeError, decode_json
from messages.commands import parse_command
from messages.hedge import ResumeTrading
from messages.tasks import RemoveTask, TransferTaskKey
from messages.transfers import RunTransfers

__all__ = ["ACTIONS", "Action", "ActionError", "build_action"]


class ActionError(ValueError):
    """An action that cannot be built (unknown name, missing or wrong parameters)."""


@dataclass(frozen=True)
class Action:
    target: str
    help: str
    build: Callable[[Mapping[str, Any], str], Message]
    describe: Callable[[Mapping[str, Any]], str]


def _by_type(name: str, fields: Mapping[str, Any]) -> Message:
    try:
        return decode_json(msgspec.json.encode({**fields, "type": name}))
    except DecodeError as error:
        raise ActionError(f"{name}: {error}") from None


def _seed(cmd: str) -> Callable[[Mapping[str, Any], str], Message]:
    def build(params: Mapping[str, Any], operator: str) -> Message:
        try:
            return parse_command({"strategy": operator, **params, "cmd": cmd})
        except DecodeError as error:
            raise ActionError(f"{cmd}: {error}") from None

    return build


def _task_key(params: Mapping[str, Any]) -> TransferTaskKey:
    key = params.get("key")
    try:
        return msgspec.convert(key, TransferTaskKey)
    except (msgspec.ValidationError, TypeError) as error:
        raise ActionError(
            f"key must be [from_exchange, from_account, to_exchange, to_account, currency]: {error}"
        ) from None


def _money(params: Mapping[str, Any]) -> str:
    where = f"{params.get('exchange', '')}.{params.get('account', '')}".strip(".") or "the default account"
    return f"{params.get('amount')} {params.get('currency')} slot {params.get('index')} on {where}"


ACTIONS: dict[str, Action] = {
    "pause_hedge": Action(
        "hedge_a",
        "pause the hedge pair: params {reason}",
        lambda p, op: _by_type("PauseTrading", {"operator": op, **p}),
        lambda p: f"pause the hedge pair ({p.get('reason') or 'no reason given'})",
    ),
    "resume_hedge": Action(
        "hedge_a",
        "resume the hedge pair: params {retry_failed: true|false}",
        lambda p, op: ResumeTrading(operator=op, retry_failed=bool(p.get("retry_failed", True))),
        lambda p: "resume the hedge pair" + ("" if p.get("retry_failed", True) else ", failed hedges handled by hand"),
    ),
    "manual_hedge": Action(
        "hedge_a",
        "book a manual hedge: the fields of BookManualHedge",
        lambda p, op: _by_type("BookManualHedge", {"operator": op, **p}),
        lambda p: f"book a manual hedge {json_text(p)}",
    ),
    "retry_task": Action(
        "transfers",
        "retry the pending tasks now (a transfer run): params {key} (for the audit line)",
        lambda p, op: RunTransfers(reason=f"operator retry by {op}"),
        lambda p: f"retry task {p.get('key') or '(all pending)'} now",
    ),
    "cancel_task": Action(
        "tasks",
        "cancel a pending task: params {key: [from_exchange, from_account, to_exchange, to_account, currency]}",
        lambda p, op: RemoveTask(key=_task_key(p)),
        lambda p: f"cancel task {p.get('key')}",
    ),
    "allocate": Action(
        "gateway",
        "pool -> slot: params {currency, amount, index, exchange?, account?}",
        _seed("allocate"),
        lambda p: f"allocate {_money(p)}",
    ),
    "release": Action(
        "gateway",
        "slot -> pool: params {currency, amount, index, exchange?, account?}",
        _seed("release"),
        lambda p: f"release {_money(p)}",
    ),
}


def json_text(params: Mapping[str, Any]) -> str:
    return msgspec.json.encode(dict(params)).decode()


def build_action(name: str, params: Mapping[str, Any], operator: str) -> tuple[str, Message, str]:
    """(target actor, message, what it does in words) for action ``name``; `ActionError` if it cannot be built."""
    action = ACTIONS.get(name)
    if action is None:
        raise ActionError(f"no action {name!r}; actions: {', '.join(ACTIONS)}")
    return action.target, action.build(params, operator), action.describe(params)
