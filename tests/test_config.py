"""Deployment configuration: the demo loads, and every kind of bad config fails naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from desk.config import DEMO_CONFIG, ConfigError, load_config, load_demo_config, parse_config

MINIMAL = """
[[accounts]]
exchange = "kraken"
account = "main"
balances = { usdc = 100.0 }
"""


def config(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def test_the_built_in_demo_is_a_valid_deployment() -> None:
    demo = load_demo_config()
    assert demo.hedge is not None and demo.hedge.market == "btc/usd"
    assert [a.name for a in demo.actors] == ["strategy_a", "strategy_b", "treasurer"]
    assert demo.folder == Path.cwd() / "run" / "demo"


def test_a_minimal_deployment_gets_the_default_jobs_and_paths(tmp_path: Path) -> None:
    path = tmp_path / "desk.toml"
    path.write_text(MINIMAL)
    deployment = load_config(path)
    assert deployment.journal_path == tmp_path / "run" / "journal.sqlite"
    assert deployment.hedge is None and deployment.scheduler.jobs is None


def test_extra_actors_are_loaded_by_import_path() -> None:
    deployment = parse_config(
        config(
            MINIMAL
            + """
[[actors]]
name = "mine"
class = "actors.demo:DemoStrategy"
params = { slot = 2, exchange = "kraken", account = "main", currency = "usdc", amount = 1.0 }
"""
        )
    )
    assert deployment.actors[0].class_path == "actors.demo:DemoStrategy"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[hedge]\nmarket = "btc/usd"\nquantity = "lots"\na = { exchange = "kraken", account = "main" }\n'
            'b = { exchange = "kraken", account = "main" }',
            "config error at hedge.quantity: Expected `float`, got `str`",
        ),
        ("[runtime]\nhang_timout = 3", "config error at runtime.hang_timout: unknown key"),
        ('[[accounts]]\nexchange = "Nasdaq!"\naccount = "x"', "config error at accounts[1].exchange"),
        ('[[accounts]]\nexchange = "kraken"\naccount = "main"', "accounts[1]: kraken.main is listed twice"),
        ("[supervisor]\nbackoff = [5.0, 1.0]", "config error at supervisor.backoff"),
        ('[supervisor]\nstrategy = "all_for_none"', "config error at supervisor.strategy"),
        ('[[actors]]\nname = "x"\nclass = "nowhere.module:Thing"', "config error at actors[0].class: cannot import"),
        ('[[actors]]\nname = "x"\nclass = "actors.demo:NoSuchThing"', "config error at actors[0].class: module"),
        (
            '[[actors]]\nname = "gateway"\nclass = "actors.demo:DemoStrategy"',
            "actors[0].name: 'gateway' is already used",
        ),
        ('[gateway]\nstrategies = { 2 = "ghost" }', "config error at gateway.strategies.2: no actor named 'ghost'"),
        (
            '[hedge]\nmarket = "btc/usd"\nquantity = 1.0\na = { exchange = "kraken", account = "main" }\n'
            'b = { exchange = "kraken", account = "main" }',
            "config error at hedge.market",
        ),
        (
            '[venue.markets."btc/usd"]\nprice = 1.0\n[hedge]\nmarket = "btc/usd"\nquantity = 1.0\n'
            'a = { exchange = "kraken", account = "main" }\nb = { exchange = "mexc", account = "hedge" }',
            "config error at hedge.b: mexc.hedge is not one of the accounts",
        ),
        (
            '[scheduler]\njobs = [{ name = "r", target = "nobody", message = "Reconcile", every = 1.0 }]',
            "scheduler.jobs[r].target: no actor named 'nobody'",
        ),
        (
            '[scheduler]\njobs = [{ name = "r", target = "gateway", message = "Reconcile" }]',
            "scheduler.jobs[r]: give exactly one of every or cron",
        ),
        (
            '[scheduler]\njobs = [{ name = "r", target = "gateway", message = "Reconsile", every = 1.0 }]',
            "scheduler.jobs[r].message: unknown message type 'Reconsile'",
        ),
        ("[tasks]\ndefault_expire_seconds = -1", "config error at tasks.default_expire_seconds"),
        ("[tasks]\ndefault_expire_seconds = inf", "tasks.default_expire_seconds: Expected a finite `float`"),
        ("[runtime]\nhang_timeout = nan", "config error at runtime.hang_timeout: Expected `float` > 0.0"),
        ("[venue.default_route]\ndelay = -1.0", "config error at venue.default_route.delay: Expected `float` >= 0.0"),
        (
            '[[accounts]]\nexchange = "mexc"\naccount = "x"\nstrategy_count = 65',
            "config error at accounts[1].strategy_count: Expected `int` <= 64",
        ),
        (
            '[[accounts]]\nexchange = "mexc"\naccount = "x"\nbalances = { usdc = -5.0 }',
            "config error at accounts[1].balances[...]: Expected `float` >= 0.0",
        ),
        (
            '[scheduler]\njobs = [{ name = "r", target = "gateway", message = "Reconcile", every = 0.0 }]',
            "config error at scheduler.jobs[0].every: Expected `float` > 0.0",
        ),
        (
            '[scheduler]\njobs = [{ name = "r", target = "gateway", message = "Reconcile", cron = "99 * * * *" }]',
            "config error at scheduler.jobs[r].cron: not a cron expression: '99 * * * *'",
        ),
        (
            '[[actors]]\nname = "x"\nclass = "actors.demo:DemoStrategy"\n'
            'params = { slot = 2, exchange = "kraken", account = "main", currency = "usdc", amount = 1.0, nonsense = 1 }',
            "config error at actors[0].params: actors.demo:DemoStrategy: got an unexpected keyword argument 'nonsense'",
        ),
    ],
)
def test_bad_config_fails_at_start_naming_the_key(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config(MINIMAL + "\n" + extra))
    assert message in str(caught.value)


def test_a_missing_required_key_is_named() -> None:
    with pytest.raises(ConfigError, match="config error at accounts: required key is missing"):
        parse_config({})


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[accounts\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_the_demo_file_ships_with_the_package() -> None:
    assert DEMO_CONFIG.exists() and DEMO_CONFIG.name == "demo.toml"
