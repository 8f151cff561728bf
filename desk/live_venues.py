"""The real venues a deployment names in ``[venues.<exchange>]``: their secrets read from the
environment or a key file, each adapter built, all of them behind one `VenueRouter` (the
simulated venue serving the exchanges left simulated), under `PaperVenue` when ``dry_run``."""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actors.venues.base import TradingVenue
from actors.venues.ccxt_venue import CcxtAccount, CcxtVenue, WithdrawRoute
from actors.venues.kraken import KrakenVenue, kraken_client, kraken_stream_client
from actors.venues.lighter import LighterAccount, LighterVenue
from actors.venues.mexc import MexcVenue, mexc_client
from actors.venues.paper import PaperVenue
from actors.venues.router import VenueRouter
from actors.venues.sent import StateStore
from desk.config import ConfigError, Deployment, LiveAccountConfig, LiveVenueConfig
from messages.common import Exchange, exchange_name
from supervisor.clock import Clock

__all__ = ["build_live_venues", "live_venue", "read_secrets"]


def read_secrets(account: LiveAccountConfig, base: Path, where: str) -> tuple[str, str]:
    """(API key, secret) of an account, from its environment variables or its key file. Errors
    name the variable or the file, never a value. A key file others can read is refused."""
    if account.key_file is not None:
        path = Path(account.key_file) if Path(account.key_file).is_absolute() else base / account.key_file
        try:
            mode = path.stat().st_mode
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config error at {where}.key_file: {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError:
            raise ConfigError(f"config error at {where}.key_file: {str(path)!r} is not valid TOML") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"config error at {where}.key_file: {str(path)!r} is readable by others (chmod 600 it)")
        secret = data.get("secret") or data.get("private_key")
        if not isinstance(secret, str) or not secret:
            raise ConfigError(f"config error at {where}.key_file: {str(path)!r} has no secret (or private_key)")
        return str(data.get("api_key", "")), secret
    values = []
    for name in (account.key_env, account.secret_env):
        value = os.environ.get(name, "") if name else ""
        if name and not value:
            raise ConfigError(f"config error at {where}: the environment variable {name} is not set")
        values.append(value)
    return values[0], values[1]


def live_venue(
    exchange: Exchange,
    config: LiveVenueConfig,
    clock: Clock,
    *,
    base: Path,
    state: StateStore | None = None,
    peers: Sequence[Exchange] = (),
) -> CcxtVenue | LighterVenue:
    """The adapter ``config`` describes for ``exchange``; ``peers``: the exchanges whose
    withdrawals may arrive here (their sent records, in ``state``, name its deposits)."""
    where = f"venues.{exchange}"
    secrets = {name: read_secrets(a, base, f"{where}.accounts.{name}") for name, a in config.accounts.items()}
    if config.adapter == "lighter":
        accounts = {
            name: LighterAccount(a.account_index or 0, a.api_key_index or 0, secrets[name][1])
            for name, a in config.accounts.items()
        }
        url = config.url or "https://mainnet.zklighter.elliot.ai"
        return LighterVenue(
            url,
            accounts,
            markets=config.market_indexes,
            clock=clock,
            exchange=exchange,
            timeout=config.timeout,
            poll_every=config.poll_every,
            slippage=config.slippage,
            ws_url=config.ws_url,
            clock_skew=config.clock_skew,
        )
    make_client = kraken_client if config.adapter == "kraken" else mexc_client
    cls: type[CcxtVenue] = KrakenVenue if config.adapter == "kraken" else MexcVenue
    clients: dict[tuple[str, str], Any] = {}  # one client per API key: accounts sharing a key share it
    accounts_ = {}
    for name, account in config.accounts.items():
        key = secrets[name]
        if key not in clients:
            clients[key] = make_client(key[0], key[1], url=config.url, timeout=config.timeout)
            if config.rate_limit_ms is not None:
                clients[key].rateLimit = config.rate_limit_ms
        accounts_[name] = CcxtAccount(clients[key], account.wallet, account.sub_account)
    streams = (
        {name: kraken_stream_client(*secrets[name], url=config.url, ws_url=config.ws_url) for name in config.accounts}
        if config.stream and config.adapter == "kraken"
        else None
    )
    routes = [
        WithdrawRoute(
            r.currency,
            exchange_name(r.to.partition(".")[0]),
            r.to.partition(".")[2],
            r.address,
            network=r.network,
            tag=r.tag,
            key=r.key,
            fee=r.fee,
        )
        for r in config.withdrawals
    ]
    return cls(
        exchange,
        accounts_,
        clock=clock,
        markets=config.markets,
        withdrawals=routes,
        state=state,
        resolve_within=config.resolve_within,
        poll_every=config.poll_every,
        streams=streams,
        master=config.master,
        clock_skew=config.clock_skew,
        peers=peers,
    )


def build_live_venues(
    deployment: Deployment, clock: Clock, simulated: TradingVenue | None, state: StateStore | None = None
) -> TradingVenue:
    """One venue for the actors: the real adapters by exchange, ``simulated`` for the rest, all
    under paper trading when the deployment is a ``dry_run``."""
    base = Path(deployment.base_folder)
    venues = {
        exchange: live_venue(exchange, config, clock, base=base, state=state, peers=list(deployment.venues))
        for exchange, config in deployment.venues.items()
    }
    tickers = {
        market: exchange
        for exchange, config in deployment.venues.items()
        for market in [*config.markets, *config.market_indexes]
    }
    router = VenueRouter(venues, default=simulated, tickers=tickers)
    if not deployment.dry_run:
        return router
    p = deployment.paper
    return PaperVenue(router, clock, fee_bps=p.fee_bps, delay=p.transfer_delay, fee=p.transfer_fee)
