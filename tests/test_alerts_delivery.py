"""The alerts actor: one notice per incident and one when it is resolved, delivered to a real local webhook."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from actors.base import Actor
from desk.alerts import AlertBook, AlertsActor, AppriseSink
from desk.config import AlertSinkConfig, ConfigError, parse_config
from desk.system import System
from messages.alerts import Alert, AlertSeverity, GetAlerts
from messages.base import Message
from supervisor import ChildSpec, Runtime
from supervisor.clock import ManualClock


class RaiseIncident(Message, frozen=True):
    key: str
    resolved: bool = False


class Raiser(Actor):
    """Raises (or resolves) the incident it is told about, as any actor of the desk would."""

    def on_raise(self, message: RaiseIncident) -> bool:
        if message.resolved:
            self.resolve_alert(message.key, "back to normal")
        else:
            self.alert(message.key, "something needs a person", AlertSeverity.WARNING)
        return True


class Receiver:
    """A webhook receiver on a free local port: every JSON body posted to it lands in ``bodies``."""

    def __init__(self) -> None:
        self.bodies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.refuse = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.refuse.is_set():
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.bodies.put(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 20.0) -> dict[str, Any]:
        return self.bodies.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def desk(make_runtime: Callable[..., Runtime], receiver: Receiver) -> Runtime:
    sinks = [AlertSinkConfig(url=receiver.url)]
    return make_runtime([ChildSpec("alerts", lambda: AlertsActor(sinks, retry_every=5.0)), ChildSpec("raiser", Raiser)])


def test_an_incident_is_delivered_once_then_once_more_when_resolved(desk: Runtime, receiver: Receiver) -> None:
    for _ in range(3):
        assert desk.ask("raiser", RaiseIncident("transfer:stuck")) is True
    raised = receiver.next()
    assert raised["title"] == "WARNING transfer:stuck" and "from raiser" in raised["message"]
    desk.ask("raiser", RaiseIncident("transfer:stuck", resolved=True))
    resolved = receiver.next()
    assert resolved["title"] == "RESOLVED transfer:stuck" and resolved["type"] == "success"
    report = desk.ask("alerts", GetAlerts())
    assert report.open == [] and report.recent[0].count == 3 and report.recent[0].resolved_at is not None
    assert receiver.bodies.empty()  # the two repeats were not delivered


def test_a_refused_notice_is_kept_and_delivered_when_the_sink_is_back(
    desk: Runtime, receiver: Receiver, clock: ManualClock
) -> None:
    receiver.refuse.set()
    desk.ask("raiser", RaiseIncident("venue:down"))
    assert desk.ask("alerts", GetAlerts()).undelivered == 1
    receiver.refuse.clear()
    clock.advance(5.0)  # the actor's retry timer
    assert receiver.next()["title"] == "WARNING venue:down"
    assert desk.wait_until(lambda: desk.ask("alerts", GetAlerts()).undelivered == 0, timeout=20.0)


def test_a_sink_takes_only_alerts_at_or_above_its_severity(
    make_runtime: Callable[..., Runtime], receiver: Receiver
) -> None:
    sinks = [AlertSinkConfig(url=receiver.url, min_severity="critical")]
    rt = make_runtime([ChildSpec("alerts", lambda: AlertsActor(sinks))])
    rt.tell("alerts", Alert(key="a:warn", text="only a warning", severity=AlertSeverity.WARNING))
    rt.tell("alerts", Alert(key="a:crit", text="money at risk", severity=AlertSeverity.CRITICAL))
    assert receiver.next()["title"] == "CRITICAL a:crit"
    assert rt.ask("alerts", GetAlerts()).undelivered == 0 and receiver.bodies.empty()


def test_a_sink_url_apprise_does_not_understand_is_refused_before_the_desk_starts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="apprise does not understand"):
        AppriseSink(AlertSinkConfig(url="nonsense-scheme://x"))
    deployment = parse_config(
        {
            "accounts": [{"exchange": "kraken", "account": "main"}],
            "runtime": {"folder": str(tmp_path)},
            "alerts": {"sinks": [{"url": "json://127.0.0.1:9/ok"}, {"url": "nonsense-scheme://x"}]},
        }
    )
    with pytest.raises(ConfigError, match=r"alerts.sinks\[1\].url"):
        System(deployment)


def test_the_book_opens_an_incident_once_counts_repeats_and_ignores_resolving_nothing() -> None:
    book = AlertBook(keep=10)
    assert book.record(Alert(key="k", text="first", at=1.0)) is not None
    assert book.record(Alert(key="k", text="again", at=2.0)) is None
    assert book.record(Alert(key="other", text="fine", resolved=True, at=3.0)) is None
    assert book.open["k"].count == 2 and book.open["k"].text == "again"
    notice = book.record(Alert(key="k", text="ok now", resolved=True, at=4.0))
    assert notice is not None and notice.resolved
    assert [n.title for n in book.pending] == ["CRITICAL k", "RESOLVED k"]
    book.delivered(2)
    assert book.pending == [] and book.report().recent[0].delivered
    assert book.record(Alert(key="k", text="back", at=5.0)) is not None  # a new incident of the same key
