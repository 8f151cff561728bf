"""A small HTTP client of the dashboard's API: how `bin/run status` and `send` reach an in-process system.

from desk.web.client import WebClient, find_dashboard
status = WebClient(find_dashboard("run/demo")).status()
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from desk.web.server import read_web_record

__all__ = ["WebClient", "WebClientError", "find_dashboard"]

TOKEN_VARIABLE = "TREASURY_WEB_TOKEN"


class WebClientError(RuntimeError):
    """The dashboard could not be reached, or refused the request (the text says why)."""


def find_dashboard(runtime_folder: str | Path | None = None) -> str | None:
    """The URL of the dashboard of the system running in ``runtime_folder`` (default ``$TREASURY_RUNTIME`` or run/demo)."""
    folder = Path(runtime_folder or os.environ.get("TREASURY_RUNTIME") or "run/demo")
    record = read_web_record(folder)
    return str(record["url"]) if record else None


class WebClient:
    """Reads the status and sends commands through the API at ``url`` (token from ``$TREASURY_WEB_TOKEN``)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/") + "/"
        self.token = token if token is not None else os.environ.get(TOKEN_VARIABLE)
        self.timeout = timeout

    def _call(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method="GET" if data is None else "POST")
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read()).get("detail", error.reason)
            except ValueError:
                detail = error.reason
            raise WebClientError(f"{error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            raise WebClientError(f"the dashboard at {self.url} did not answer: {error}") from None

    def status(self) -> dict[str, Any]:
        """The status document (`bin/run status --json`)."""
        return self._call("api/status")  # type: ignore[no-any-return]

    def send(self, actor: str, command: str | dict[str, Any], operator: str = "cli") -> dict[str, Any]:
        """Send a JSON command to ``actor``: ``{"answer": ..., "rejected": bool}``."""
        body = json.loads(command) if isinstance(command, str) else command
        return self._call(f"api/send/{urllib.parse.quote(actor)}?operator={urllib.parse.quote(operator)}", body)  # type: ignore[no-any-return]
