"""`bin/run check-venue --config live.toml`: a read-only round against each real venue of a
deployment (balances, open orders, deposits and withdrawals in flight, each account's fill feed, the
hedge markets with their precision and minimums), printed as a report, non-zero exit on any problem; and `preflight`, the
part of it a live start insists on (balances readable, hedge markets present)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from actors.venues.base import MarketRules, TradingVenue, VenueError
from desk.config import ConfigError, Deployment, load_config
from desk.live_venues import live_venue
from messages.common import Exchange
from supervisor.clock import Clock, SystemClock
from supervisor.logs import configure_logging

__all__ = ["Check", "StartRefused", "check_venues", "main", "preflight"]


class StartRefused(ConfigError):
    """A live deployment that must not trade: a venue's balances cannot be read, or a hedge market
    does not exist there. The text names the account or the market, and why."""


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it is fine, what was seen."""

    what: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.what}: {self.detail}"


def _accounts(deployment: Deployment, exchange: Exchange) -> list[str]:
    return [a.account for a in deployment.accounts if a.exchange == exchange]


def _hedge_markets(deployment: Deployment) -> dict[Exchange, list[tuple[str, str]]]:
    """The hedge pair's (market, side account) on each exchange it trades."""
    found: dict[Exchange, list[tuple[str, str]]] = {}
    h = deployment.hedge
    if h is not None and h.enabled:
        for side in (h.a, h.b):
            found.setdefault(side.exchange, []).append((h.market, side.account))
    return found


def preflight(venue: TradingVenue, deployment: Deployment) -> None:
    """Refuse (`StartRefused`) a live start whose balances cannot be read or whose hedge market is missing."""
    for exchange in deployment.venues:
        for account in _accounts(deployment, exchange):
            try:
                venue.fetch_balance(exchange, account)
            except VenueError as error:
                raise StartRefused(
                    f"refusing to start: the balances of {exchange}.{account} cannot be read "
                    f"({type(error).__name__}: {error})"
                ) from None
    for exchange, markets in _hedge_markets(deployment).items():
        if exchange not in deployment.venues:
            continue
        for market, _account in markets:
            try:
                venue.fetch_ticker(market)
            except VenueError as error:
                raise StartRefused(
                    f"refusing to start: the hedge market {market} does not answer on {exchange} "
                    f"({type(error).__name__}: {error})"
                ) from None


def _probe(checks: list[Check], what: str, call: Callable[[], Any], describe: Callable[[Any], str]) -> Any:
    try:
        result = call()
    except (VenueError, ConfigError) as error:
        checks.append(Check(what, False, f"{type(error).__name__}: {error}"))
        return None
    checks.append(Check(what, True, describe(result)))
    return result


def _same(text: str, _result: object) -> str:
    return text


def _rules_problem(rules: MarketRules, quantity: float) -> str:
    if rules.min_quantity is not None and quantity < rules.min_quantity:
        return f"the hedge quantity {quantity} is below the minimum {rules.min_quantity}"
    if rules.quantity_step and abs(round(quantity / rules.quantity_step) * rules.quantity_step - quantity) > 1e-12:
        return f"the hedge quantity {quantity} is not a multiple of the step {rules.quantity_step}"
    return ""


def check_venues(deployment: Deployment, clock: Clock | None = None) -> list[Check]:
    """Every read-only check against every ``[venues.*]`` of ``deployment`` (nothing is sent)."""
    clock = clock or SystemClock()
    checks: list[Check] = []
    hedge = _hedge_markets(deployment)
    for exchange, config in deployment.venues.items():
        where = config.url or "the exchange's own API"
        venue = _probe(
            checks,
            f"{exchange}: connect ({config.adapter})",
            partial(live_venue, exchange, config, clock, base=Path(deployment.base_folder)),
            partial(_same, where),
        )
        if venue is None:
            continue
        try:
            for account in _accounts(deployment, exchange):
                where = f"{exchange}.{account}"
                _probe(
                    checks,
                    f"{where} balances",
                    partial(venue.fetch_balance, exchange, account),
                    lambda b: ", ".join(f"{c} {v:g}" for c, v in sorted(b.items())) or "empty",
                )
                _probe(
                    checks,
                    f"{where} open orders",
                    partial(venue.fetch_open_orders, exchange, account),
                    lambda orders: (
                        f"{len(orders)} open"
                        + "".join(f"; {o.order_id} {o.side} {o.quantity} {o.market}" for o in orders[:5])
                    ),
                )
                _probe(
                    checks,
                    f"{where} deposits",
                    partial(venue.fetch_deposits, exchange, account),
                    lambda deposits: f"{len(deposits)} credited",
                )
                _probe(checks, f"{where} fill feed", partial(venue.fill_feed, account), lambda feed: str(feed))
                _probe(
                    checks,
                    f"{where} withdrawals in flight",
                    partial(venue.withdrawals_in_flight, account),
                    lambda pending: f"{len(pending)} pending" + "".join(f"; {p}" for p in pending[:5]),
                )
            for market, _account in hedge.get(exchange, []):
                _probe(
                    checks,
                    f"{exchange} hedge market {market}",
                    partial(venue.fetch_ticker, market),
                    lambda t: f"bid {t.bid:g} ask {t.ask:g}",
                )
                rules = _probe(
                    checks,
                    f"{exchange} {market} precision and minimums",
                    partial(venue.market_rules, market),
                    lambda r: (
                        f"min quantity {r.min_quantity}, step {r.quantity_step}, "
                        f"price step {r.price_step}, min value {r.min_cost}"
                    ),
                )
                if rules is not None and deployment.hedge is not None:
                    problem = _rules_problem(rules, deployment.hedge.quantity)
                    checks.append(
                        Check(
                            f"{exchange} {market} hedge quantity",
                            not problem,
                            problem or f"{deployment.hedge.quantity} fits",
                        )
                    )
        finally:
            venue.close()
    if not deployment.venues:
        checks.append(Check("venues", False, "the deployment names no [venues.<exchange>]: nothing real to check"))
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    """Print the report; 0 when every check passed, 1 otherwise, 2 for a config error."""
    parser = argparse.ArgumentParser(prog="bin/run check-venue", description=__doc__)
    parser.add_argument("--config", required=True, help="the live deployment TOML file")
    parser.add_argument("--log-level", default="ERROR")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    configure_logging(args.log_level)
    try:
        deployment = load_config(args.config)
    except ConfigError as error:
        print(f"bin/run check-venue: {error}", file=sys.stderr)
        return 2
    checks = check_venues(deployment)
    for check in checks:
        print(check.line(), flush=True)
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed" + (": NOT READY" if failed else ": ready"))
    return 1 if failed else 0
