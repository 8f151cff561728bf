"""A fake exchange's HTTP server on 127.0.0.1 with the faults a real one has: 5xx answers,
rate-limit answers, and timeouts after the action (the request is done, the answer never comes)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    body: str
    raw_query: str = ""


@dataclass
class _Fault:
    kind: str  # "status" | "rate_limit" | "hang_after" | "hang_before" | "drop_after"
    path: str | None
    remaining: int
    status: int = 500


class FakeHttpExchange:
    """Serves `handle` (a dialect's answer: status, JSON body) on 127.0.0.1:``port``.

    `start`/`stop` (idempotent; also a context manager). Faults are consumed by the requests
    they match (``path`` ends with the given text, or any request), in order. A hung request is
    answered never: its connection is held until `stop` (the client times out).
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._faults: list[_Fault] = []
        self.fired: Counter[str] = Counter()  # faults that met their request, by kind
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- to be given by a dialect ---------------------------------------------------------

    def handle(self, request: Request) -> tuple[int, Any]:
        raise NotImplementedError

    def rate_limit_answer(self) -> tuple[int, Any]:
        return 429, {"error": "too many requests"}

    # --- faults -------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 503, path: str | None = None) -> None:
        """The next ``n`` matching requests get HTTP ``status`` and nothing happens."""
        with self._lock:
            self._faults.append(_Fault("status", path, n, status))

    def rate_limit_next(self, n: int = 1, path: str | None = None) -> None:
        """The next ``n`` matching requests get the exchange's rate-limit answer; nothing happens."""
        with self._lock:
            self._faults.append(_Fault("rate_limit", path, n))

    def hang_after_next(self, n: int = 1, path: str | None = None) -> None:
        """The next ``n`` matching requests are carried out, then never answered."""
        with self._lock:
            self._faults.append(_Fault("hang_after", path, n))

    def hang_before_next(self, n: int = 1, path: str | None = None) -> None:
        """The next ``n`` matching requests are never carried out and never answered (lost on the way)."""
        with self._lock:
            self._faults.append(_Fault("hang_before", path, n))

    def drop_next(self, n: int = 1, path: str | None = None) -> None:
        """The next ``n`` matching requests are carried out, then the connection is closed unanswered."""
        with self._lock:
            self._faults.append(_Fault("drop_after", path, n))

    def clear_faults(self) -> None:
        """Forget every fault not yet met (an outage ends, a quiet period begins)."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or path.endswith(fault.path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    self.fired[fault.kind] += 1
                    return fault
        return None

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> FakeHttpExchange:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHttpExchange:
        if self._server is not None:
            return self
        exchange = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                exchange._serve(self)

            def do_POST(self) -> None:
                exchange._serve(self)

            def do_DELETE(self) -> None:
                exchange._serve(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-exchange", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._server, self._thread = None, None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        content_type = handler.headers.get("Content-Type") or ""
        form = dict(parse_qsl(body)) if body and "json" not in content_type else {}
        if body and "json" in content_type:
            form = {k: str(v) for k, v in json.loads(body).items()}
        request = Request(
            handler.command, parts.path, dict(parse_qsl(parts.query)), form, dict(handler.headers), body, parts.query
        )
        self.requests.append(request)
        fault = self._take_fault(parts.path)
        if fault is not None and fault.kind == "status":  # what a load balancer in front answers
            self._send(handler, fault.status, f"<html><body><h1>{fault.status} Service Unavailable</h1></body></html>")
            return
        if fault is not None and fault.kind == "rate_limit":
            self._send(handler, *self.rate_limit_answer())
            return
        if fault is not None and fault.kind == "hang_before":
            self._release.wait(30)
            return
        status, answer = self.handle(request)
        if fault is not None and fault.kind == "hang_after":
            self._release.wait(30)
            return
        if fault is not None and fault.kind == "drop_after":
            handler.close_connection = True
            return
        self._send(handler, status, answer)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, answer: Any) -> None:
        data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "text/html" if isinstance(answer, str) else "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


Handler = Callable[[Request], tuple[int, Any]]
