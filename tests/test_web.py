"""The dashboard's HTTP API and live stream, against the running demo (in-process System on the demo config)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from desk.cli import main
from desk.config import ConfigError, load_demo_config, parse_config
from desk.system import System
from desk.web import Dashboard
from desk.web.client import WebClient, WebClientError
from messages.common import Currencies, Exchanges
from supervisor.logs import configure_logging
from tests.webdemo import running_demo

ALLOCATE = {"exchange": "kraken", "account": "trade", "currency": "usd", "index": 5, "amount": 25.0}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, Dashboard]]:
    with running_demo(tmp_path_factory.mktemp("web-demo")) as running:
        yield running


@pytest.fixture
def api(demo: tuple[System, Dashboard]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo[1].url, timeout=10.0) as client:
        yield client


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy (the demo runs on real time)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def slot(status: dict[str, Any], account: str, currency: str, index: int) -> float:
    row = next(r for r in status["slots"] if f"{r['exchange']}.{r['account']}" == account and r["currency"] == currency)
    return next((s["amount"] for s in row["slots"] if s["index"] == index), 0.0)


def test_status_api_has_the_status_json_document_and_names_every_slot(api: httpx.Client) -> None:
    status = api.get("/api/status").json()
    for key in ("actors", "dead_letters", "balances", "tasks", "transfers", "chains", "hedge"):
        assert key in status
    names = {s["name"] for row in status["slots"] for s in row["slots"]}
    assert {"total", "pool", "strategy_a", "strategy_b"} <= names
    assert {a["name"] for a in status["actors"]} >= {"gateway", "alerts", "hedge_a", "scheduler"}
    assert status["hedge"]["market"] == "btc/usd"


def test_an_action_without_confirmation_changes_nothing_and_says_what_it_would_do(api: httpx.Client) -> None:
    before = slot(api.get("/api/status").json(), "kraken.trade", "usd", 6)
    answer = api.post("/api/actions/allocate", json={"params": {**ALLOCATE, "index": 6}})
    assert answer.status_code == 409
    assert "allocate 25.0 usd slot 6 on kraken.trade" in answer.json()["detail"]
    assert slot(api.get("/api/status").json(), "kraken.trade", "usd", 6) == before


def test_a_confirmed_allocate_moves_the_slot_and_writes_an_audit_line(api: httpx.Client) -> None:
    before = slot(api.get("/api/status").json(), "kraken.trade", "usd", 5)
    answer = api.post("/api/actions/allocate", json={"confirm": True, "operator": "alice", "params": ALLOCATE})
    assert answer.status_code == 200 and not answer.json()["rejected"]
    assert slot(api.get("/api/status").json(), "kraken.trade", "usd", 5) == pytest.approx(before + 25.0)
    audit = api.get("/api/audit").json()
    assert audit[0]["operator"] == "alice" and audit[0]["action"] == "allocate" and audit[0]["outcome"] == "ok"
    released = api.post("/api/actions/release", json={"confirm": True, "params": ALLOCATE})
    assert released.json()["answer"]["slots"][5] == pytest.approx(before)


def test_a_rejected_action_is_reported_and_audited_as_rejected(api: httpx.Client) -> None:
    answer = api.post("/api/actions/release", json={"confirm": True, "params": {**ALLOCATE, "amount": 1e12}})
    assert answer.status_code == 200 and answer.json()["rejected"]
    assert api.get("/api/audit").json()[0]["outcome"].startswith("rejected")


def test_send_takes_the_desk_json_command_and_any_message_by_type(api: httpx.Client) -> None:
    seed = {
        "strategy": "ops",
        "cmd": "allocate",
        "currency": "usd",
        "amount": 1,
        "index": 7,
        "exchange": "kraken",
        "account": "trade",
    }
    answer = api.post("/api/send/gateway", json=seed).json()
    assert answer["answer"]["type"] == "BalanceView" and answer["answer"]["slots"][7] >= 1
    api.post("/api/send/gateway", json={**seed, "cmd": "release"})
    assert api.post("/api/send/gateway", json={"type": "Reconcile"}).json()["answer"]["type"] == "Reconciled"
    bad = api.post("/api/send/gateway", json={"type": "NoSuchMessage"})
    assert bad.status_code == 400 and "unknown message type" in bad.json()["detail"]
    assert api.post("/api/send/nobody", json={"type": "Ping"}).status_code == 404


def test_an_action_by_message_type_name_that_does_not_exist_yet_is_a_clear_400(api: httpx.Client) -> None:
    answer = api.post("/api/actions/no_such_action", json={"confirm": True})
    assert answer.status_code == 400 and "pause_hedge" in answer.json()["detail"]


def test_server_sent_events_bring_newer_status_without_a_reload(demo: tuple[System, Dashboard]) -> None:
    seen: list[dict[str, Any]] = []
    with httpx.stream("GET", demo[1].url + "api/events", timeout=30.0) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if len(seen) == 3:
                    break
    assert seen[0]["at"] < seen[1]["at"] < seen[2]["at"]
    assert all("balances" in s and "hedge" in s for s in seen)


def test_transfers_history_pages_and_filters(api: httpx.Client) -> None:
    assert eventually(lambda: api.get("/api/transfers").json()["total"] >= 3)
    first = api.get("/api/transfers", params={"size": 2, "page": 1}).json()
    second = api.get("/api/transfers", params={"size": 2, "page": 2}).json()
    assert len(first["transfers"]) == 2 and second["transfers"]
    assert {t["client_id"] for t in first["transfers"]}.isdisjoint(t["client_id"] for t in second["transfers"])
    assert eventually(lambda: api.get("/api/transfers", params={"q": "mexc.main"}).json()["total"] >= 1)
    mexc = api.get("/api/transfers", params={"q": "mexc.main"}).json()
    assert mexc["total"] < api.get("/api/transfers").json()["total"] and all(
        "mexc.main" in t["route"] for t in mexc["transfers"]
    )
    done = api.get("/api/transfers", params={"status": "done"}).json()
    assert all(t["status"] == "done" for t in done["transfers"])


def test_history_feeds_the_plots_balances_hedge_and_latency(api: httpx.Client) -> None:
    assert eventually(lambda: api.get("/api/history").json()["latency"]["transfer"])
    history = api.get("/api/history", params={"minutes": 10}).json()
    assert any(k.startswith("kraken.trade usdc") for k in history["balances"])
    assert history["hedge"] and "net_exposure" in history["hedge"][0]


def test_metrics_parse_with_prometheus_own_parser(api: httpx.Client) -> None:
    assert eventually(lambda: "treasury_transfer_latency_seconds_count" in api.get("/metrics").text)
    families = {f.name: f for f in text_string_to_metric_families(api.get("/metrics").text)}
    restarts = {
        s.labels["actor"]: s.value for s in families["treasury_actor_restarts"].samples if s.name.endswith("_total")
    }
    assert restarts["gateway"] == 0 and "hedge_b" in restarts
    assert {s.labels["actor"] for s in families["treasury_actor_mailbox_depth"].samples} >= {"tasks", "chains"}
    assert "treasury_hedge_net_exposure" in families and "treasury_dead_letters" in families
    latency = families["treasury_transfer_latency_seconds"]
    assert next(s.value for s in latency.samples if s.name.endswith("_count")) >= 1
    assert any(
        s.labels.get("job") == "run_transfers" and s.value > 0 for s in families["treasury_scheduler_job_runs"].samples
    )
    assert "treasury_ledger_corrections" in families and "treasury_venue_errors" in families


def test_venue_errors_by_kind_and_ledger_corrections_reach_the_metrics(demo: tuple[System, Dashboard]) -> None:
    system, dashboard = demo
    with httpx.Client(base_url=dashboard.url, timeout=10.0) as api:
        system.venue.faults.reject_next(1, "fetch_balance")
        system.venue.external_adjust(Exchanges.KRAKEN, "main", Currencies.USDC, 1.5, note="a rebate nobody reported")
        api.post("/api/send/gateway", json={"type": "Reconcile"})  # refused once by the venue, then again
        api.post("/api/send/gateway", json={"type": "Reconcile"})

        def samples() -> dict[str, list[Any]]:
            text = api.get("/metrics").text
            return {f.name: f.samples for f in text_string_to_metric_families(text)}

        def seen() -> bool:
            found = samples()
            errors = {s.labels["kind"]: s.value for s in found.get("treasury_venue_errors", []) if "kind" in s.labels}
            fixed = [
                s for s in found.get("treasury_ledger_corrections", []) if s.labels.get("account") == "kraken.main"
            ]
            return errors.get("VenueRejected", 0) >= 1 and any(s.value >= 1 for s in fixed)

        assert eventually(seen)


def test_openapi_documents_the_api(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/api/status", "/api/events", "/api/send/{actor}", "/api/actions/{action}", "/metrics"} <= set(paths)


def test_the_page_is_served_without_anything_from_the_internet(api: httpx.Client) -> None:
    page = api.get("/").text
    assert "EventSource" in page and "Balances" in page
    assert "http://" not in page and "https://" not in page


def test_bin_run_status_and_send_reach_an_in_process_system_through_its_dashboard(
    demo: tuple[System, Dashboard], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(demo[0].deployment.folder)
    try:
        assert main(["status", "--json", "--runtime", folder]) == 0
        status = json.loads(capsys.readouterr().out)
        assert {a["name"] for a in status["actors"]} >= {"gateway", "alerts"}
        assert main(["send", "--runtime", folder, "gateway", '{"type": "Reconcile"}']) == 0
        assert json.loads(capsys.readouterr().out)["type"] == "Reconciled"
        too_much = (
            '{"cmd": "release", "currency": "usd", "amount": 1e12, "index": 2, "exchange": "kraken", '
            '"account": "trade"}'
        )
        assert main(["send", "--runtime", folder, "gateway", too_much]) == 1
    finally:
        configure_logging("DEBUG")


def test_a_token_is_required_on_every_request_when_one_is_configured(tmp_path: Path) -> None:
    with running_demo(tmp_path, token="s3cret-token") as (_, dashboard), httpx.Client(base_url=dashboard.url) as api:
        assert api.get("/api/status").status_code == 401
        assert api.get("/metrics").status_code == 401
        assert api.get("/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert api.get("/api/status", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        assert api.get("/", params={"token": "s3cret-token"}).status_code == 200
        assert WebClient(dashboard.url, token="s3cret-token").status()["actors"]
        with pytest.raises(WebClientError, match="401"):
            WebClient(dashboard.url, token="").status()


def test_a_bind_other_than_localhost_without_a_token_is_refused_at_config_time() -> None:
    demo = load_demo_config()
    data = {"accounts": [{"exchange": "kraken", "account": "main"}], "web": {"host": "0.0.0.0"}}
    with pytest.raises(ConfigError, match="web.token"):
        parse_config(data)
    assert parse_config({**data, "web": {"host": "0.0.0.0", "token": "long-enough"}}).web.token == "long-enough"
    assert demo.web.host == "127.0.0.1" and demo.web.enabled


def test_resume_from_the_api_reaches_hedge_a_and_cancel_task_needs_a_well_formed_key(api: httpx.Client) -> None:
    paused = api.post(
        "/api/actions/pause_hedge",
        json={"confirm": True, "operator": "alice", "params": {"reason": "checking the venue"}},
    ).json()
    assert paused["target"] == "hedge_a" and paused["answer"]["paused"] is True
    assert "alice" in paused["answer"]["pause_reason"] and "checking the venue" in paused["answer"]["pause_reason"]
    resumed = api.post("/api/actions/resume_hedge", json={"confirm": True, "params": {"retry_failed": True}}).json()
    assert resumed["target"] == "hedge_a" and resumed["answer"]["type"] == "HedgeReport"
    assert resumed["answer"]["paused"] is False
    bad = api.post("/api/actions/cancel_task", json={"confirm": True, "params": {"key": ["kraken"]}})
    assert bad.status_code == 400 and "key must be" in bad.json()["detail"]
    key = ["mexc", "trade", "kraken", "main", "usdc"]  # no such task: removing it changes nothing
    cancelled = api.post("/api/actions/cancel_task", json={"confirm": True, "params": {"key": key}})
    assert cancelled.status_code == 200 and cancelled.json()["target"] == "tasks"


def test_web_alerts_and_history_settings_are_checked_at_start() -> None:
    base = {"accounts": [{"exchange": "kraken", "account": "main"}]}
    for section, bad, key in (
        ("web", {"port": 70000}, "web.port"),
        ("web", {"token": "short"}, "web.token"),
        ("alerts", {"keep": 0}, "alerts.keep"),
        ("history", {"prices_days": 0}, "history.prices_days"),
        ("history", {"prune_cron": "every midnight"}, "history.prune_cron"),
    ):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            parse_config({**base, section: bad})


def test_the_report_endpoint_sums_the_history_of_the_last_hours(api: httpx.Client) -> None:
    assert eventually(lambda: api.get("/api/report").json()["transfers"])
    report = api.get("/api/report", params={"hours": 1}).json()
    assert sum(t["n"] for t in report["transfers"] if t["status"] == "done") >= 1
    assert report["hedges_done"] >= 0 and "max_abs_net_exposure" in report
