"""A live deployment against local fakes of Kraken, MEXC and Lighter: config with secrets from the
environment or a key file, `bin/run check-venue`, the start-up preflight, and dry_run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actors.venues.base import VenueTimeout
from actors.venues.counting import CountingVenue
from actors.venues.lighter_sdk import sdk
from actors.venues.paper import PaperVenue
from desk.check_venue import StartRefused, check_venues, main
from desk.config import ConfigError, parse_config
from desk.live_venues import live_venue
from desk.system import build_venue
from messages.common import Currencies, Exchanges
from messages.trading import OrderStatus, OrderType, Side
from messages.venue import TransferStatus
from supervisor.clock import ManualClock
from tests.fakes.kraken import FakeKraken
from tests.fakes.lighter import FakeLighter
from tests.fakes.lighter_ws import FakeLighterStream
from tests.fakes.mexc import FakeMexc


@dataclass
class Fakes:
    kraken: FakeKraken
    mexc: FakeMexc
    lighter: FakeLighter
    env: dict[str, str]
    lighter_ws: FakeLighterStream


@pytest.fixture
def fakes(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    kraken, mexc, lighter_fake = (
        FakeKraken(clock.now).start(),
        FakeMexc(clock.now).start(),
        FakeLighter(clock.now).start(),
    )
    env = {"KRAKEN_MAIN_KEY": "kraken-main-key", "MEXC_MAIN_KEY": "mexc-main-key"}
    env["KRAKEN_MAIN_SECRET"] = kraken.add_key(env["KRAKEN_MAIN_KEY"], {"ZUSD": 1000.0, "USDT": 300.0})
    env["MEXC_MAIN_SECRET"] = mexc.add_key(env["MEXC_MAIN_KEY"], {"USDT": 50.0})
    for name, index in (("A", 281), ("B", 282)):
        lighter_fake.add_account(index, 3, {"USDC": 5000.0})
        private_key, _, error = sdk().create_api_key()
        assert error is None
        env[f"LIGHTER_{name}_PRIVATE_KEY"] = private_key
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    lighter_ws = FakeLighterStream(lighter_fake).start()
    yield Fakes(kraken, mexc, lighter_fake, env, lighter_ws)
    for fake in (kraken, mexc, lighter_fake, lighter_ws):
        fake.stop()


def live_config(
    f: Fakes, *, dry_run: bool = False, hedge_market: str = "btc/usdc", **venue_overrides: Any
) -> dict[str, Any]:
    venues: dict[str, Any] = {
        "kraken": {
            "adapter": "kraken",
            "url": f.kraken.url,
            "markets": ["btc/usd"],
            "timeout": 3.0,
            "rate_limit_ms": 1,
            "accounts": {"main": {"key_env": "KRAKEN_MAIN_KEY", "secret_env": "KRAKEN_MAIN_SECRET"}},
        },
        "mexc": {
            "adapter": "mexc",
            "url": f.mexc.url,
            "markets": ["btc/usd"],
            "timeout": 3.0,
            "rate_limit_ms": 1,
            "accounts": {"main": {"key_env": "MEXC_MAIN_KEY", "secret_env": "MEXC_MAIN_SECRET"}},
        },
        "lighter": {
            "adapter": "lighter",
            "url": f.lighter.url,
            "ws_url": f.lighter_ws.url,
            "markets": ["btc/usdc"],
            "timeout": 3.0,
            "market_indexes": {"btc/usdc": 1},
            "accounts": {
                "hedge_a": {"secret_env": "LIGHTER_A_PRIVATE_KEY", "account_index": 281, "api_key_index": 3},
                "hedge_b": {"secret_env": "LIGHTER_B_PRIVATE_KEY", "account_index": 282, "api_key_index": 3},
            },
        },
    }
    venues.update(venue_overrides)
    return {
        "dry_run": dry_run,
        "accounts": [
            {"exchange": "kraken", "account": "main"},
            {"exchange": "mexc", "account": "main"},
            {"exchange": "lighter", "account": "hedge_a"},
            {"exchange": "lighter", "account": "hedge_b"},
        ],
        "venues": venues,
        "hedge": {
            "market": hedge_market,
            "quantity": 0.001,
            "a": {"exchange": "lighter", "account": "hedge_a"},
            "b": {"exchange": "lighter", "account": "hedge_b"},
        },
    }


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    """Just enough TOML for these configs (tables, arrays of tables, inline values)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + " }"
        return repr(v)

    path.write_text("\n".join(f"{k} = {value(v)}" for k, v in data.items()) + "\n")
    return path


def test_check_venue_passes_against_the_fakes_and_lists_what_it_read(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_toml(tmp_path / "live.toml", live_config(fakes))
    assert main(["--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "ok   kraken.main balances: usd 1000, usdt 300" in out
    assert "ok   lighter hedge market btc/usdc: bid 59990 ask 60010" in out
    assert "ok   lighter.hedge_a fill feed: websocket ws://127.0.0.1:" in out
    assert "ok   mexc.main fill feed: fetch_fills polled every 2 s" in out
    assert "ok   lighter btc/usdc hedge quantity: 0.001 fits" in out
    assert out.rstrip().endswith(": ready")


def test_check_venue_fails_naming_an_unreadable_account_and_a_missing_market(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fakes.mexc.fail_next(10_000, 503)
    fakes.lighter_ws.refuse_streams()
    config = write_toml(tmp_path / "live.toml", live_config(fakes))
    assert main(["--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "FAIL mexc.main balances: VenueUnavailable" in out
    assert "FAIL lighter.hedge_a fill feed: VenueUnavailable: lighter's websocket ws://127.0.0.1:" in out
    assert "NOT READY" in out
    checks = check_venues(
        parse_config({**live_config(fakes), "hedge": {**live_config(fakes)["hedge"], "quantity": 0.00001}})
    )
    assert any(not c.ok and "below the minimum" in c.detail for c in checks)


def test_a_missing_secret_is_a_config_error_naming_the_variable_not_a_value(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KRAKEN_MAIN_SECRET")
    checks = check_venues(parse_config(live_config(fakes)))
    failed = [c for c in checks if not c.ok]
    assert failed[0].what == "kraken: connect (kraken)"
    assert "KRAKEN_MAIN_SECRET is not set" in failed[0].detail


def test_secrets_never_appear_in_the_report_even_when_the_exchange_fails(
    fakes: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fakes.mexc.fail_next(10_000, 503)  # ccxt's error text carries the signed URL
    fakes.kraken.rate_limit_next(10_000)
    main(["--config", str(write_toml(tmp_path / "live.toml", live_config(fakes)))])
    out = capsys.readouterr().out
    assert "FAIL" in out
    for secret in fakes.env.values():
        assert secret not in out
    assert "signature=***" in out or "signature=" not in out


def test_a_key_file_others_can_read_is_refused_and_a_private_one_is_used(fakes: Fakes, tmp_path: Path) -> None:
    key_file = tmp_path / "mexc.toml"
    key_file.write_text(f'api_key = "{fakes.env["MEXC_MAIN_KEY"]}"\nsecret = "{fakes.env["MEXC_MAIN_SECRET"]}"\n')
    os.chmod(key_file, 0o644)
    mexc = {
        "adapter": "mexc",
        "url": fakes.mexc.url,
        "markets": ["btc/usd"],
        "rate_limit_ms": 1,
        "accounts": {"main": {"key_file": "mexc.toml"}},
    }
    deployment = parse_config(live_config(fakes, mexc=mexc), tmp_path)
    assert any("readable by others" in c.detail for c in check_venues(deployment))
    os.chmod(key_file, 0o600)
    assert all(c.ok for c in check_venues(deployment) if c.what.startswith("mexc"))


def test_config_refuses_a_venue_account_without_a_secret_source_or_an_unmapped_account(fakes: Fakes) -> None:
    data = live_config(fakes)
    data["venues"]["kraken"]["accounts"]["main"] = {}
    with pytest.raises(ConfigError, match=r"venues.kraken.accounts.main: give secret_env"):
        parse_config(data)
    data = live_config(fakes)
    data["accounts"].append({"exchange": "kraken", "account": "trade"})
    with pytest.raises(ConfigError, match="no API key mapped for the account 'trade'"):
        parse_config(data)


def test_start_refuses_when_balances_cannot_be_read_naming_the_account(fakes: Fakes, clock: ManualClock) -> None:
    fakes.kraken.fail_next(10_000, 502)
    with pytest.raises(StartRefused, match=r"balances of kraken.main cannot be read"):
        build_venue(parse_config(live_config(fakes)), clock)


def test_start_refuses_when_the_hedge_market_does_not_exist_naming_it(fakes: Fakes, clock: ManualClock) -> None:
    data = live_config(fakes, hedge_market="eth/usdc")
    data["venues"]["lighter"]["markets"] = ["btc/usdc", "eth/usdc"]
    data["venues"]["lighter"]["market_indexes"] = {"btc/usdc": 1, "eth/usdc": 2}
    with pytest.raises(StartRefused, match=r"hedge market eth/usdc does not answer on lighter"):
        build_venue(parse_config(data), clock)


def test_dry_run_reads_live_balances_and_prices_and_sends_nothing(fakes: Fakes, clock: ManualClock) -> None:
    venue = build_venue(parse_config(live_config(fakes, dry_run=True)), clock)
    try:
        assert isinstance(venue, CountingVenue) and isinstance(venue.venue, PaperVenue)  # paper, errors counted
        order = venue.create_order(
            Exchanges.LIGHTER, "hedge_a", "btc/usdc", Side.BUY, OrderType.MARKET, 0.01, None, "p1"
        )
        assert order.status is OrderStatus.FILLED and order.average_price == pytest.approx(60010.0)
        balances = venue.fetch_balance(Exchanges.LIGHTER, "hedge_a")
        assert balances[Currencies.BTC] == pytest.approx(0.01)
        assert balances[Currencies.USDC] == pytest.approx(5000.0 - 600.1 - 0.6001)
        result = venue.transfer("t1", Exchanges.KRAKEN, "main", Exchanges.MEXC, "main", Currencies.USDT, 100.0)
        assert result.client_id == "t1"
        assert venue.fetch_balance(Exchanges.KRAKEN, "main")[Currencies.USDT] == pytest.approx(200.0)
    finally:
        venue.close()
    assert not [r for r in fakes.lighter.requests if r.path.endswith("/sendTx")]
    assert not [r for r in fakes.kraken.requests if r.path.endswith(("/AddOrder", "/Withdraw"))]
    assert fakes.lighter.book.wallet("281").get("BTC", 0.0) == 0.0


def test_live_routes_orders_to_the_exchange_and_ids_find_their_way_back(fakes: Fakes, clock: ManualClock) -> None:
    venue = build_venue(parse_config(live_config(fakes)), clock)
    try:
        order = venue.create_order(
            Exchanges.LIGHTER, "hedge_b", "btc/usdc", Side.BUY, OrderType.LIMIT, 0.01, 50000.0, "r1"
        )
        assert order.order_id.startswith("lighter:") and order.status is OrderStatus.OPEN
        assert venue.cancel_order(order.order_id).status is OrderStatus.CANCELED
        assert [r for r in fakes.lighter.requests if r.path.endswith("/sendTx")]
    finally:
        venue.close()


def test_a_lighter_order_whose_answer_was_lost_is_found_by_its_client_id(fakes: Fakes, clock: ManualClock) -> None:
    venue = build_venue(parse_config(live_config(fakes)), clock)
    try:
        fakes.lighter.hang_after_next(1, "/sendTx")
        with pytest.raises(VenueTimeout):
            venue.create_order(Exchanges.LIGHTER, "hedge_a", "btc/usdc", Side.BUY, OrderType.MARKET, 0.01, None, "lost")
        found = venue.fetch_order_by_client_id(Exchanges.LIGHTER, "hedge_a", "lost")
        assert found is not None and found.status is OrderStatus.FILLED
    finally:
        venue.close()


def test_a_deployment_moves_money_between_kraken_subaccounts_through_the_master_named_in_config(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KRAKEN_TRADE_KEY", "kraken-trade-key")
    monkeypatch.setenv("KRAKEN_TRADE_SECRET", fakes.kraken.add_key("kraken-trade-key"))
    fakes.kraken.master = "kraken-main-key"
    fakes.kraken.iibans.update({"AA01": "kraken-main-key", "AA02": "kraken-trade-key"})
    data = live_config(fakes)
    data["accounts"].append({"exchange": "kraken", "account": "trade"})
    kraken = data["venues"]["kraken"]
    kraken["master"] = "main"
    kraken["accounts"]["main"]["sub_account"] = "AA01"
    kraken["accounts"]["trade"] = {
        "key_env": "KRAKEN_TRADE_KEY",
        "secret_env": "KRAKEN_TRADE_SECRET",
        "sub_account": "AA02",
    }
    deployment = parse_config(data, tmp_path)
    venue = live_venue(Exchanges.KRAKEN, deployment.venues[Exchanges.KRAKEN], ManualClock(), base=tmp_path)
    try:
        result = venue.transfer("cfg", Exchanges.KRAKEN, "main", Exchanges.KRAKEN, "trade", Currencies.USDT, 120.0)
        assert result.status is TransferStatus.OK
        assert venue.fetch_balance(Exchanges.KRAKEN, "trade")[Currencies.USDT] == pytest.approx(120.0)
    finally:
        venue.close()
    with pytest.raises(ConfigError, match="venues.kraken.master: 'nobody' is not one of its accounts"):
        parse_config({**data, "venues": {**data["venues"], "kraken": {**kraken, "master": "nobody"}}})
    twin = {**kraken["accounts"]["main"]}
    with pytest.raises(ConfigError, match="accounts.twin: same key and wallet as 'main'"):
        parse_config(
            {
                **data,
                "venues": {**data["venues"], "kraken": {**kraken, "accounts": {**kraken["accounts"], "twin": twin}}},
            }
        )
    futures = {**kraken["accounts"]["trade"], "wallet": "futures"}
    with pytest.raises(ConfigError, match="accounts.trade.wallet: Kraken's spot API reads the spot wallet only"):
        parse_config(
            {
                **data,
                "venues": {
                    **data["venues"],
                    "kraken": {**kraken, "accounts": {**kraken["accounts"], "trade": futures}},
                },
            }
        )


def test_a_simulated_only_system_never_imports_ccxt_the_lighter_sdk_or_websockets(tmp_path: Path) -> None:
    """ccxt costs about half a second to import, lighter-sdk two, websockets 0.1: a node without a real venue pays none."""
    import subprocess
    import sys

    script = f"""
import sys
from desk.config import parse_config
from desk.system import System
from supervisor.clock import ManualClock
deployment = parse_config({{"accounts": [{{"exchange": "kraken", "account": "main", "balances": {{"usdc": 1.0}}}}],
                           "runtime": {{"folder": {str(tmp_path / "run")!r}}}}})
System(deployment, ManualClock()).services.close()
print(sorted(name for name in ("ccxt", "ccxt.pro", "lighter", "websockets") if name in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
