"""Deployment configuration: a TOML file parsed into typed, validated settings (`Deployment`).

The TOML is converted by msgspec into the Structs below (unknown keys refused), then checked
for meaning (accounts the hedge names exist, job targets are actors, import paths resolve).
Every problem raises `ConfigError` naming the key, at start, before anything runs.

(About 560 lines, over the usual 400: every config struct of a deployment and the checks that
span several sections, in one place so each default and each check is written once.)
"""

from __future__ import annotations

import importlib
import inspect
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from croniter import croniter

from messages.codec import DecodeError, decode_json
from messages.common import Currency, Exchange
from messages.trading import split_market

__all__ = [
    "AccountConfig",
    "ActorConfig",
    "ConfigError",
    "Deployment",
    "HedgeConfig",
    "JobConfig",
    "load_config",
    "parse_config",
    "resolve_import",
]

_STRICT = {"forbid_unknown_fields": True, "frozen": True, "kw_only": True}


class ConfigError(ValueError):
    """A deployment file that cannot be run; the text names the key."""


_FINITE = sys.float_info.max  # `le` the largest float: inf refused (msgspec's bounds must be finite)
Positive = Annotated[float, msgspec.Meta(gt=0, le=_FINITE)]
NonNegative = Annotated[float, msgspec.Meta(ge=0, le=_FINITE)]


class RouteConfig(msgspec.Struct, **_STRICT):
    """An on-chain route between two exchanges (one direction)."""

    from_exchange: Exchange = msgspec.field(name="from")
    to_exchange: Exchange = msgspec.field(name="to")
    delay: NonNegative = 60.0
    fee: NonNegative = 1.0
    jitter: NonNegative = 0.0


class DefaultRouteConfig(msgspec.Struct, **_STRICT):
    delay: NonNegative = 60.0
    fee: NonNegative = 1.0
    jitter: NonNegative = 0.0


class MarketConfig(msgspec.Struct, **_STRICT):
    """A simulated market's seeded price path (see `actors.venues.simulated.MarketSpec`)."""

    price: Positive
    volatility: NonNegative = 0.001
    tick: Positive = 1.0
    spread: NonNegative = 0.0005
    depth: Positive = 1.0
    slippage_bps: NonNegative = 5.0
    fee_bps: NonNegative = 10.0


class FaultsConfig(msgspec.Struct, **_STRICT):
    """Faults injected into the simulated venue at start (for drills and demos)."""

    reject_transfers: Annotated[int, msgspec.Meta(ge=0)] = 0
    timeout_after_move: Annotated[int, msgspec.Meta(ge=0)] = 0
    reject_orders: Annotated[int, msgspec.Meta(ge=0)] = 0
    latency: NonNegative = 0.0


class VenueConfig(msgspec.Struct, **_STRICT):
    kind: Literal["simulated"] = "simulated"
    seed: int = 0
    default_route: DefaultRouteConfig = msgspec.field(default_factory=DefaultRouteConfig)
    routes: list[RouteConfig] = msgspec.field(default_factory=list)
    markets: dict[str, MarketConfig] = msgspec.field(default_factory=dict)
    faults: FaultsConfig = msgspec.field(default_factory=FaultsConfig)


class LiveAccountConfig(msgspec.Struct, **_STRICT):
    """A desk account on a real exchange and where its secrets come from: environment variables
    (``key_env``/``secret_env``) or a key file (TOML with ``api_key``/``secret``, or
    ``private_key`` for Lighter) named here, never the secrets themselves."""

    key_env: str | None = None
    secret_env: str | None = None
    key_file: str | None = None  # relative to the config file
    wallet: str = "spot"  # ccxt account type (transfers between wallets of one key)
    sub_account: str | None = None  # its name in transfers between keys: Kraken its IIBAN, MEXC the sub-account name
    account_index: int | None = None  # Lighter
    api_key_index: int | None = None  # Lighter


class WithdrawalConfig(msgspec.Struct, **_STRICT):
    """Where a withdrawal of ``currency`` to the desk account ``to`` (``"mexc.main"``) goes."""

    currency: Currency
    to: str
    address: str
    network: str | None = None
    tag: str | None = None  # memo / destination tag
    key: str | None = None  # the exchange's name for a whitelisted address (Kraken)
    fee: NonNegative = 0.0  # what the exchange charges, in ``currency``


class LiveVenueConfig(msgspec.Struct, **_STRICT):
    """``[venues.<exchange>]``: that exchange served by a real adapter instead of the simulated venue."""

    adapter: Literal["kraken", "mexc", "lighter"]
    accounts: dict[str, LiveAccountConfig]
    markets: list[str] = msgspec.field(default_factory=list)  # desk markets traded there ("btc/usd")
    market_indexes: dict[str, int] = msgspec.field(default_factory=dict)  # Lighter: market -> market index
    withdrawals: list[WithdrawalConfig] = msgspec.field(default_factory=list)
    url: str | None = None  # another API base URL (a testnet, or a local fake); None: the exchange's own
    stream: bool = False  # Kraken: fills pushed over its websocket (ccxt.pro), polling kept as the safety net
    ws_url: str | None = None  # another websocket URL (a local fake); None: the exchange's own (Lighter: url's /stream)
    timeout: Positive = 10.0
    rate_limit_ms: Annotated[int, msgspec.Meta(ge=0)] | None = None  # least ms between two calls; None: ccxt's figure
    poll_every: Positive = 2.0  # seconds between fill polls (Lighter: only while an account's stream is down)
    resolve_within: Positive = 600.0  # seconds a timed-out withdrawal is searched in the history
    slippage: NonNegative = 0.01  # Lighter: a market order's worst price beyond the touch
    master: str | None = None  # Kraken, MEXC: the account whose key is the master's (moves money between keys)
    clock_skew: NonNegative = 1.0  # seconds the exchange's clock may be off the desk's (widens each snapshot's window)


class DryRunConfig(msgspec.Struct, **_STRICT):
    """Paper trading on live data: orders fill locally at the live touch, transfers move locally."""

    fee_bps: NonNegative = 10.0
    transfer_delay: NonNegative = 60.0
    transfer_fee: NonNegative = 0.0


class AccountConfig(msgspec.Struct, **_STRICT):
    """An exchange account the gateway keeps (and, simulated, its opening balances)."""

    exchange: Exchange
    account: str
    strategy_count: Annotated[int, msgspec.Meta(ge=2, le=64)] = 8
    balances: dict[Currency, NonNegative] = msgspec.field(default_factory=dict)
    credit_limits: dict[Currency, NonNegative] = msgspec.field(default_factory=dict)
    currencies: list[Currency] = msgspec.field(default_factory=list)


class GatewayConfig(msgspec.Struct, **_STRICT):
    strategies: dict[int, str] = msgspec.field(default_factory=dict)  # slot index -> actor told LedgerReset
    retry_delay: Positive = 5.0


class TasksConfig(msgspec.Struct, **_STRICT):
    default_expire_seconds: Positive = 120.0


class TransfersConfig(msgspec.Struct, **_STRICT):
    follow_ups: dict[str, str] = msgspec.field(default_factory=dict)  # extra name -> "module:function"
    overdue_after: Positive = 3600.0  # seconds a transfer may be in flight (left, not arrived) before an alert


class HedgeSideConfig(msgspec.Struct, **_STRICT):
    exchange: Exchange
    account: str


class HedgeConfig(msgspec.Struct, **_STRICT):
    """The hedge pair: A trades ``quantity`` of ``market`` with limit orders, B hedges with market orders."""

    market: str
    quantity: Positive
    a: HedgeSideConfig
    b: HedgeSideConfig
    offset_bps: float = 0.0  # how far from the touch A's limit price sits, in basis points
    retries: Annotated[int, msgspec.Meta(ge=0, le=100)] = 3  # B's retries after a failed first attempt
    timeout: Positive = 60.0
    remind_every: Positive = 10.0
    continue_after_hedge: bool = True  # A opens the next round as soon as B answered
    exposure_limit: Annotated[float, msgspec.Meta(gt=0)] = 120.0  # seconds unhedged/unconfirmed before A pauses
    cancel_on_stop: bool = True  # stopping the desk cancels A's resting order
    enabled: bool = True


class JobConfig(msgspec.Struct, **_STRICT):
    """Send ``message`` (a message type name, with ``params`` as its fields) to ``target`` on a trigger."""

    name: str
    target: str
    message: str
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    every: Positive | None = None
    cron: str | None = None


class SchedulerConfig(msgspec.Struct, **_STRICT):
    timezone: str = "UTC"
    jobs: list[JobConfig] | None = None  # None: the default jobs
    extra_jobs: list[JobConfig] = msgspec.field(default_factory=list)
    health_watch: list[str] | None = None  # None: every actor


class SupervisorConfig(msgspec.Struct, **_STRICT):
    strategy: Literal["one_for_one", "one_for_all", "rest_for_one"] = "one_for_one"
    intensity: Annotated[int, msgspec.Meta(ge=0)] = 5
    period: Positive = 10.0
    backoff: tuple[NonNegative, NonNegative] = (0.1, 5.0)


class RuntimeConfig(msgspec.Struct, **_STRICT):
    folder: str = "run"  # journal and sockets live here (relative to the config file)
    journal: str = "journal.sqlite"
    heartbeat_interval: Positive = 1.0
    hang_timeout: Positive = 30.0


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")  # the binds that may go without a web token


class WebConfig(msgspec.Struct, **_STRICT):
    """The operator's dashboard and HTTP API (desk/web): on by default, on 127.0.0.1 only.

    Any ``host`` not in `LOCAL_HOSTS` needs a ``token``; requests without it are refused.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8765  # 0: any free port (the URL printed says which)
    token: Annotated[str, msgspec.Meta(min_length=8)] | None = None
    refresh: Annotated[float, msgspec.Meta(gt=0)] = 1.0  # seconds between samples (live updates, history, metrics)


class AlertSinkConfig(msgspec.Struct, **_STRICT):
    """Where alerts go: an apprise URL (``json://host/path`` webhook, ``tgram://token/chat``, ``slack://...``)."""

    url: str
    min_severity: Literal["warning", "critical"] = "warning"


class AlertsConfig(msgspec.Struct, **_STRICT):
    """The "alerts" actor (desk/alerts.py): one message per incident, then one when it is resolved."""

    enabled: bool = True
    sinks: list[AlertSinkConfig] = msgspec.field(default_factory=list)
    keep: Annotated[int, msgspec.Meta(ge=1)] = 200  # recent alerts kept for the dashboard
    watch: bool = True  # the dashboard also raises alarms it reads in the status (desk/watch.py)
    stuck_after: Annotated[float, msgspec.Meta(gt=0)] = 300.0  # seconds a task or chain hop may wait: "stuck"
    exposure_after: Annotated[float, msgspec.Meta(gt=0)] = 30.0  # seconds the hedge pair may stay exposed


class HistoryConfig(msgspec.Struct, **_STRICT):
    """The history the dashboard's plots read (desk/history.py), pruned daily at ``prune_cron``."""

    prices_days: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    trades_days: Annotated[float, msgspec.Meta(gt=0)] = 90.0  # fills, transfers, hedges
    balances_days: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    prune_cron: str = "0 0 * * *"  # checked at start (croniter)
    every: Annotated[float, msgspec.Meta(ge=0)] = 5.0  # a series is written when it changed, at most this often
    unchanged_every: Annotated[float, msgspec.Meta(gt=0)] = 300.0  # ... and this often when it did not


class ActorConfig(msgspec.Struct, **_STRICT):
    """An extra actor (a desk's own strategy): ``class = "package.module:ClassName"`` built with ``params``."""

    name: str
    class_path: str = msgspec.field(name="class")
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    restart: Literal["permanent", "transient", "temporary"] = "permanent"
    shutdown_timeout: NonNegative = 5.0  # 0: no wait for the stop
    external: bool = False  # process mode: runs on another host (bin/run node); the supervisor does not start it


class Deployment(msgspec.Struct, **_STRICT):
    """A whole deployment, as read from TOML."""

    accounts: list[AccountConfig]
    runtime: RuntimeConfig = msgspec.field(default_factory=RuntimeConfig)
    supervisor: SupervisorConfig = msgspec.field(default_factory=SupervisorConfig)
    venue: VenueConfig = msgspec.field(default_factory=VenueConfig)
    gateway: GatewayConfig = msgspec.field(default_factory=GatewayConfig)
    tasks: TasksConfig = msgspec.field(default_factory=TasksConfig)
    transfers: TransfersConfig = msgspec.field(default_factory=TransfersConfig)
    hedge: HedgeConfig | None = None
    scheduler: SchedulerConfig = msgspec.field(default_factory=SchedulerConfig)
    actors: list[ActorConfig] = msgspec.field(default_factory=list)
    venues: dict[Exchange, LiveVenueConfig] = msgspec.field(default_factory=dict)  # real exchanges
    dry_run: bool = False  # with venues: live data, orders and transfers simulated locally
    paper: DryRunConfig = msgspec.field(default_factory=DryRunConfig)
    web: WebConfig = msgspec.field(default_factory=WebConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    history: HistoryConfig = msgspec.field(default_factory=HistoryConfig)
    base_folder: str = "."  # where the file was read from; relative paths are resolved against it

    @property
    def folder(self) -> Path:
        folder = Path(self.runtime.folder)
        return folder if folder.is_absolute() else Path(self.base_folder) / folder

    @property
    def journal_path(self) -> Path:
        return self.folder / self.runtime.journal


# The built-in actors and their names (every deployment has them).
BUILTIN_NAMES = ("gateway", "tasks", "transfers", "chains", "prices", "health", "report", "scheduler")
HEDGE_NAMES = ("hedge_a", "hedge_b")
ALERTS_NAME = "alerts"  # the alerts actor (desk/alerts.py), unless alerts.enabled is false


def default_jobs() -> list[JobConfig]:
    """The scheduler's jobs when the config names none (issue 4's defaults)."""
    return [
        JobConfig(name="update_prices", target="prices", message="UpdatePrices", every=10.0),
        JobConfig(name="reconcile", target="gateway", message="Reconcile", every=60.0),
        JobConfig(name="run_transfers", target="transfers", message="RunTransfers", every=5.0),
        JobConfig(name="advance_chains", target="chains", message="AdvanceChains", every=10.0),
        JobConfig(name="clean_expired_tasks", target="tasks", message="CleanExpiredTasks", every=60.0),
        JobConfig(name="health_check", target="health", message="CheckHealth", every=60.0),
        JobConfig(name="daily_report", target="report", message="DailyReport", cron="0 8 * * *"),
    ]


def resolve_import(path: str, what: str) -> Any:
    """The object at ``"package.module:Name"``; `ConfigError` naming ``what`` if it is not there."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"{what}: import path must look like 'package.module:Name', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"{what}: cannot import module {module_name!r} ({error})") from None
    try:
        found = module
        for part in attribute.split("."):
            found = getattr(found, part)
    except AttributeError:
        raise ConfigError(f"{what}: module {module_name!r} has no {attribute!r}") from None
    return found


def _explain(error: msgspec.ValidationError) -> ConfigError:
    text = str(error)
    message, _, where = text.partition(" - at `$")
    key = where.rstrip("`").lstrip(".") or "(top level)"
    unknown = message.startswith("Object contains unknown field")
    if unknown:
        field = message.split("`")[1]
        key = f"{key}.{field}" if key != "(top level)" else field
        return ConfigError(f"config error at {key}: unknown key (a typo?)")
    if message.startswith("Object missing required field"):
        field = message.split("`")[1]
        key = f"{key}.{field}" if key != "(top level)" else field
        return ConfigError(f"config error at {key}: required key is missing")
    message = message.replace(f"Expected `float` <= {_FINITE!r}", "Expected a finite `float`")
    return ConfigError(f"config error at {key}: {message}")


def parse_config(data: Mapping[str, Any], base_folder: str | Path = ".") -> Deployment:
    """A `Deployment` from TOML data (already parsed); `ConfigError` naming the first bad key."""
    try:
        deployment = msgspec.convert({**data, "base_folder": str(base_folder)}, Deployment, strict=False)
    except msgspec.ValidationError as error:
        raise _explain(error) from None
    _check(deployment)
    return deployment


def load_config(path: str | Path) -> Deployment:
    """Read and check a deployment file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {error}") from None
    return parse_config(data, path.resolve().parent)


DEMO_CONFIG = Path(__file__).with_name("demo.toml")


def load_demo_config() -> Deployment:
    """The built-in demo deployment; its runtime folder is relative to the working directory."""
    return parse_config(tomllib.loads(DEMO_CONFIG.read_text()), Path.cwd())


DEPLOYMENT_RECORD = "deployment.json"


def save_deployment(deployment: Deployment, folder: Path) -> Path:
    """Write ``deployment`` into a runtime folder, where the nodes of process mode read it."""
    path = folder / DEPLOYMENT_RECORD
    path.write_bytes(msgspec.json.encode(deployment))
    return path


def load_saved_deployment(folder: Path) -> Deployment | None:
    """The deployment a supervisor process saved in ``folder`` (None if there is none)."""
    try:
        return msgspec.json.decode((folder / DEPLOYMENT_RECORD).read_bytes(), type=Deployment)
    except FileNotFoundError:
        return None


def external_names(deployment: Deployment) -> list[str]:
    """Actors that join from another host in process mode (the supervisor does not start them)."""
    return [a.name for a in deployment.actors if a.external]


def actor_names(deployment: Deployment) -> list[str]:
    """Every actor the deployment runs, in start order."""
    names = list(BUILTIN_NAMES[:1])
    if deployment.alerts.enabled:
        names.append(ALERTS_NAME)  # early, so that it is there for the alerts others raise as they start
    names += BUILTIN_NAMES[1:-1]
    if deployment.hedge is not None and deployment.hedge.enabled:
        names += HEDGE_NAMES
    names += [a.name for a in deployment.actors]
    names.append("scheduler")
    return names


def _check(d: Deployment) -> None:
    """The meaning checks msgspec cannot do; each error names its key."""
    if not d.accounts:
        raise ConfigError("config error at accounts: at least one account is needed")
    seen: set[tuple[Exchange, str]] = set()
    for i, account in enumerate(d.accounts):
        key = (account.exchange, account.account)
        if key in seen:
            raise ConfigError(f"config error at accounts[{i}]: {account.exchange}.{account.account} is listed twice")
        seen.add(key)
    for name in d.venue.markets:
        try:
            split_market(name)
        except ValueError as error:
            raise ConfigError(f"config error at venue.markets.{name}: {error}") from None
    low, high = d.supervisor.backoff
    if not low <= high:
        raise ConfigError(
            f"config error at supervisor.backoff: must be [min, max] with 0 <= min <= max, got {[low, high]}"
        )
    names = actor_names(d)
    extra = [a.name for a in d.actors]
    for i, actor in enumerate(d.actors):
        if actor.name in (*BUILTIN_NAMES, *HEDGE_NAMES, ALERTS_NAME) or extra.count(actor.name) > 1:
            raise ConfigError(f"config error at actors[{i}].name: {actor.name!r} is already used")
        factory = resolve_import(actor.class_path, f"config error at actors[{i}].class")
        try:
            inspect.signature(factory).bind(**actor.params)
        except TypeError as error:
            raise ConfigError(f"config error at actors[{i}].params: {actor.class_path}: {error}") from None
        except ValueError:  # no signature to check (a builtin): the start will say
            pass
    for index, name in d.gateway.strategies.items():
        if name not in names:
            raise ConfigError(f"config error at gateway.strategies.{index}: no actor named {name!r}")
    for extra_name, path in d.transfers.follow_ups.items():
        if not callable(resolve_import(path, f"config error at transfers.follow_ups.{extra_name}")):
            raise ConfigError(f"config error at transfers.follow_ups.{extra_name}: {path!r} is not callable")
    if d.hedge is not None and d.hedge.enabled:
        h = d.hedge
        live_markets = {m for v in d.venues.values() for m in [*v.markets, *v.market_indexes]}
        if h.market not in d.venue.markets and h.market not in live_markets:
            raise ConfigError(
                f"config error at hedge.market: {h.market!r} is not one of venue.markets or venues.*.markets"
            )
        for side in ("a", "b"):
            ref = getattr(h, side)
            if (ref.exchange, ref.account) not in seen:
                raise ConfigError(
                    f"config error at hedge.{side}: {ref.exchange}.{ref.account} is not one of the accounts"
                )
    jobs = (d.scheduler.jobs if d.scheduler.jobs is not None else default_jobs()) + d.scheduler.extra_jobs

    for job in jobs:
        where = f"scheduler.jobs[{job.name}]"
        if job.target not in names:
            raise ConfigError(f"config error at {where}.target: no actor named {job.target!r}")
        if (job.every is None) == (job.cron is None):
            raise ConfigError(f"config error at {where}: give exactly one of every or cron")
        if job.cron is not None and not croniter.is_valid(job.cron):
            raise ConfigError(f"config error at {where}.cron: not a cron expression: {job.cron!r}")
        try:
            decode_json(msgspec.json.encode({**job.params, "type": job.message}))
        except DecodeError as error:
            raise ConfigError(f"config error at {where}.message: {error}") from None
    _check_live_venues(d, seen)
    if d.web.host not in LOCAL_HOSTS and not d.web.token:
        raise ConfigError(f"config error at web.token: binding to {d.web.host!r} requires a token")
    if not croniter.is_valid(d.history.prune_cron):
        raise ConfigError(f"config error at history.prune_cron: not a cron expression: {d.history.prune_cron!r}")
    watch = d.scheduler.health_watch or []
    for name in watch:
        if name not in names:
            raise ConfigError(f"config error at scheduler.health_watch: no actor named {name!r}")


def _check_live_venues(d: Deployment, accounts: set[tuple[Exchange, str]]) -> None:
    """Each ``[venues.<exchange>]``: its accounts have one source of secrets, the desk's accounts on
    that exchange are mapped, withdrawals name known accounts, Lighter accounts have their indexes."""
    for exchange, venue in d.venues.items():
        where = f"venues.{exchange}"
        for name, account in venue.accounts.items():
            has_env = account.secret_env is not None
            if has_env == (account.key_file is not None):
                raise ConfigError(f"config error at {where}.accounts.{name}: give secret_env (and key_env) or key_file")
            if venue.adapter != "lighter" and has_env and account.key_env is None:
                raise ConfigError(f"config error at {where}.accounts.{name}.key_env: required with secret_env")
            if venue.adapter == "kraken" and account.wallet != "spot":
                raise ConfigError(
                    f"config error at {where}.accounts.{name}.wallet: Kraken's spot API reads the spot wallet only "
                    "(its wallet transfer goes to Kraken Futures, another API): map desk accounts to subaccounts"
                )
            if venue.adapter == "lighter" and (account.account_index is None or account.api_key_index is None):
                raise ConfigError(
                    f"config error at {where}.accounts.{name}: Lighter needs account_index and api_key_index"
                )
        seen: dict[tuple[str | None, ...], str] = {}  # a ccxt account's key and wallet -> its name
        for name, account in venue.accounts.items() if venue.adapter != "lighter" else ():
            source = (account.key_file, account.key_env, account.secret_env, account.wallet)
            if source in seen:
                raise ConfigError(
                    f"config error at {where}.accounts.{name}: same key and wallet as {seen[source]!r}, "
                    "so both would read the same balances (give it another key, or another wallet)"
                )
            seen[source] = name
        if venue.master is not None and venue.master not in venue.accounts:
            raise ConfigError(f"config error at {where}.master: {venue.master!r} is not one of its accounts")
        for key_exchange, key_account in sorted(accounts):
            if key_exchange == exchange and key_account not in venue.accounts:
                raise ConfigError(
                    f"config error at {where}.accounts: no API key mapped for the account {key_account!r}"
                )
        if venue.adapter == "lighter":
            missing = [m for m in venue.markets if m not in venue.market_indexes]
            if missing:
                raise ConfigError(f"config error at {where}.market_indexes: no market index for {missing}")
        for i, route in enumerate(venue.withdrawals):
            to_exchange, _, to_account = route.to.partition(".")
            if (to_exchange, to_account) not in {(e, a) for e, a in accounts}:
                raise ConfigError(
                    f"config error at {where}.withdrawals[{i}].to: {route.to!r} is not one of the accounts"
                )
