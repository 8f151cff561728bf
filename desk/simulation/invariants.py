"""What must hold after every settled step of a simulated desk, read from the venue, the journal and the board.

Each check returns the violations it found, as sentences; none reads anything but its arguments,
so a check is tested with hand-made data. `World` gathers the arguments from a running desk.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.stores.journal import TransferIntent
from actors.venues.simulated import Movement, MovementKind
from desk.status import ledger_mismatches
from messages.alerts import Alert
from messages.balances import BalanceView
from messages.common import AccountRef

__all__ = [
    "AlertLog",
    "HedgeFigures",
    "check_chains",
    "check_conservation",
    "check_hedge",
    "check_ledgers",
    "check_tasks",
    "check_withdrawals",
    "hedge_figures",
]

CENT = 0.005
QUANTITY = 1e-8
_TWICE = "a second order for one fill"
_HEDGERS = ("hedge_a", "hedge_b")


@dataclass
class AlertLog:
    """The alerts raised and resolved so far, latest state per key."""

    open: dict[str, Alert] = field(default_factory=dict)
    raised: int = 0

    def add(self, alert: Alert) -> None:
        if alert.resolved:
            self.open.pop(alert.key, None)
        else:
            self.open[alert.key] = alert
            self.raised += 1

    def naming(self, quantity: float, sources: Iterable[str]) -> Alert | None:
        """An open alert from one of ``sources`` whose text names ``quantity`` (any number in it equal to it)."""
        wanted = set(sources)
        for alert in self.open.values():
            if alert.source in wanted and any(abs(abs(float(n)) - quantity) <= 1e-6 for n in _numbers(alert.text)):
                return alert
        return None


def _numbers(text: str) -> list[str]:
    return re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)


def check_conservation(errors: Mapping[Any, float]) -> list[str]:
    """Funds conserved to the cent: the venue created and lost nothing."""
    return [f"funds not conserved: {c} off by {e:.8f}" for c, e in errors.items() if abs(e) >= CENT]


def check_ledgers(
    views: Iterable[BalanceView], venue: Mapping[tuple[Any, str], Mapping[Any, float]], skip: set[tuple[Any, str]]
) -> list[str]:
    """Every ledger adds up (slot 0 is the sum of the others) and, unless its account is in motion
    (``skip``), equals the venue to the cent."""
    wrong = []
    views = list(views)
    for view in views:
        if abs(view.slots[0] - sum(view.slots[1:])) > 1e-6 * max(1.0, abs(view.slots[0])):
            where = f"{view.exchange}.{view.account} {view.currency}"
            wrong.append(f"ledger {where} does not add up: {view.slots}")
    return wrong + [f"ledger differs from the venue: {m}" for m in ledger_mismatches(views, venue, skip)]


def _paid(audit: Iterable[Movement]) -> Counter[str]:
    return Counter(m.client_id for m in audit if m.kind is MovementKind.DEBIT and m.client_id)


def check_tasks(
    intents: Iterable[TransferIntent],
    audit: list[Movement],
    pending: Mapping[Any, int],
    instances: set[tuple[Any, int]],
    final: bool,
) -> list[str]:
    """No client id pays twice; no task instance pays twice; at the end each is paid once or still pending.

    ``pending``: task key -> the pending instance's timestamp; ``instances``: every (key, timestamp)
    the task manager ever acknowledged.
    """
    paid = _paid(audit)
    wrong = [f"client id {c} paid {n} times" for c, n in paid.items() if n > 1]
    by_instance: dict[tuple[Any, int], list[str]] = defaultdict(list)
    for intent in intents:
        if paid.get(intent.client_id):
            by_instance[(intent.key, intent.task_timestamp)].append(intent.client_id)
    for (key, stamp), ids in by_instance.items():
        if len(ids) > 1:
            wrong.append(f"task {_describe(key)} (instance {stamp}) paid {len(ids)} times: {ids}")
    if final:
        for key, stamp in sorted(instances, key=lambda i: (str(i[0]), i[1])):
            was_paid = bool(by_instance.get((key, stamp)))
            still = pending.get(key) == stamp
            if was_paid and still:
                wrong.append(f"task {_describe(key)} (instance {stamp}) was paid but is still pending")
            if not was_paid and not still:
                wrong.append(f"task {_describe(key)} (instance {stamp}) was neither paid nor kept pending: lost")
    return wrong


def check_chains(
    chains: Mapping[str, Mapping[str, Any]],
    intents: Iterable[TransferIntent],
    audit: list[Movement],
    pending: Mapping[Any, int],
    final: bool,
) -> list[str]:
    """No chain hop pays twice; at the end every chain is completed or says where its money is."""
    paid = _paid(audit)
    per_hop: dict[str, list[str]] = defaultdict(list)
    for intent in intents:
        if intent.extra and intent.extra.startswith("chain:") and paid.get(intent.client_id):
            per_hop[intent.extra].append(intent.client_id)
    wrong = [f"chain hop {extra} paid {len(ids)} times: {ids}" for extra, ids in per_hop.items() if len(ids) > 1]
    if not final:
        return wrong
    for chain_id, chain in sorted(chains.items()):
        if chain["status"] == "completed":
            continue
        hop = chain["hop"]
        (source_ex, source_acct), (dest_ex, dest_acct) = (
            (h["exchange"], h["account"])
            for h in chain["hops"][hop : hop + 2]  # the chain's saved record
        )
        if chain["status"] == "submitted":
            keys = [
                k
                for k in pending
                if (k.from_exchange, k.from_account, k.to_exchange, k.to_account)
                == (source_ex, source_acct, dest_ex, dest_acct)
            ]
            if not keys:
                wrong.append(
                    f"chain {chain_id} is on hop {hop} ({source_ex}.{source_acct} -> {dest_ex}.{dest_acct}) "
                    "with no task pending for it: its money's whereabouts are unknown"
                )
        else:
            watched = chain.get("client_id")
            paid_by = [i for i in per_hop.get(f"chain:{chain_id}:{hop}", []) if i != watched]
            why = (
                f"; it watches {watched}, never paid, while {paid_by[0]} paid the hop"
                if paid_by and not paid.get(watched or "")
                else ""
            )
            wrong.append(f"chain {chain_id} hop {hop} still {chain['status']} ({watched}) after the quiet rounds{why}")
    return wrong


@dataclass(frozen=True)
class HedgeFigures:
    """The venue's truth about the hedge pair, in the base currency."""

    a_bought: float
    a_sold: float
    b_bought: float
    b_sold: float

    @property
    def net(self) -> float:
        return round(self.a_bought - self.a_sold + self.b_bought - self.b_sold, 8)


def hedge_figures(audit: Iterable[Movement], a: AccountRef, b: AccountRef, base: Any) -> HedgeFigures:
    """What A and B bought and sold of ``base`` at the venue (from its audit of trades)."""
    totals: dict[tuple[AccountRef, bool], float] = defaultdict(float)
    for m in audit:
        if m.kind is MovementKind.TRADE and m.currency == base:
            where = AccountRef(m.exchange, m.account)
            if where in (a, b):
                totals[(where, m.delta > 0)] += abs(m.delta)
    return HedgeFigures(totals[(a, True)], totals[(a, False)], totals[(b, True)], totals[(b, False)])


def check_hedge(
    figures: HedgeFigures,
    quantity: float,
    paused: bool,
    alerts: AlertLog | None,
    exposed_for: float,
    alert_after: float,
    final: bool,
) -> list[str]:
    """B never hedges one fill twice; exposure is 0 once settled, at most one order while a hedge is in
    flight, or A is paused with an alert naming the residual (or, after an operator resumed past it,
    running with that alert still open); no exposure lasts without an alert.

    ``alerts`` None: a pause is enough (alerts are not required: a switch for a desk without them).
    """
    wrong = []
    if figures.b_sold > figures.a_bought + QUANTITY:
        wrong.append(f"B sold {figures.b_sold:.8f} against A's buys of {figures.a_bought:.8f}: {_TWICE}")
    if figures.b_bought > figures.a_sold + QUANTITY:
        wrong.append(f"B bought {figures.b_bought:.8f} against A's sells of {figures.a_sold:.8f}: {_TWICE}")
    net = abs(figures.net)
    if net <= QUANTITY:
        return wrong
    named = alerts is not None and alerts.naming(net, ("hedge_a", "hedge_b")) is not None
    if paused and (alerts is None or named):
        return wrong
    if named and final:  # an operator resumed past it without retrying or booking: open, alerted, visible
        return wrong
    if final:
        wrong.append(
            f"net exposure {figures.net:+.8f} after the quiet rounds"
            + (" (A paused, but no alert names it)" if paused else " and A is not paused")
        )
    elif net > quantity + QUANTITY:
        wrong.append(
            f"net exposure {figures.net:+.8f} is more than one order ({quantity})"
            + (" (A paused, but no alert names it)" if paused else "")
        )
    elif exposed_for > alert_after and not any(a.source in _HEDGERS for a in (alerts or AlertLog()).open.values()):
        wrong.append(
            f"net exposure {figures.net:+.8f} unhedged for {exposed_for:.0f} s with no alert"
            + (" (A paused)" if paused else " (A not paused)")
        )
    return wrong


def check_withdrawals(
    intents: list[TransferIntent],
    made: list[tuple[AccountRef, AccountRef, float, tuple[Any, str]]],
    claims: Mapping[tuple[Any, str], str],
    final: bool,
) -> list[str]:
    """Nothing paid twice, no payment reported failed, none lost, counted from the fakes' side:
    per (source, destination, amount) the fakes made no more withdrawals than the desk has
    transfers that may have left (sending, in doubt, in flight, done); once settled exactly as
    many as left (in flight, done), each claimed by one client id.

    ``made``: every withdrawal the exchanges made, as (source, destination, gross amount, (exchange,
    its id)); ``claims``: (exchange, its id) -> the client id the adapter matched it to.
    """
    wrong = []
    made_count: Counter[tuple[AccountRef, AccountRef, float]] = Counter(m[:3] for m in made)
    may: Counter[tuple[AccountRef, AccountRef, float]] = Counter()
    left: Counter[tuple[AccountRef, AccountRef, float]] = Counter()
    for i in intents:
        group = (
            AccountRef(i.key.from_exchange, i.key.from_account),
            AccountRef(i.key.to_exchange, i.key.to_account),
            round(i.amount, 6),
        )
        if i.status != "failed":
            may[group] += 1
        if i.status in ("in_flight", "done"):
            left[group] += 1
    for group, n in sorted(made_count.items(), key=str):
        source, destination, amount = group
        what = f"{amount} usdc {source} -> {destination}"
        if n > may[group]:
            wrong.append(f"the exchange made {n} withdrawals of {what}, the desk sent {may[group]}: paid twice")
        elif final and n != left[group]:
            wrong.append(f"the exchange made {n} withdrawals of {what}, the desk counts {left[group]} as sent")
    if final:
        for source, destination, amount, ident in made:
            if ident not in claims:
                wrong.append(f"withdrawal {ident[1]} of {amount} usdc {source} -> {destination} is no transfer's")
    return wrong


def _describe(key: Any) -> str:
    source, destination = f"{key.from_exchange}.{key.from_account}", f"{key.to_exchange}.{key.to_account}"
    return f"{key.currency} {source} -> {destination}"
