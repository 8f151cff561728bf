"""The dashboard's FastAPI application: the page, the JSON API, server-sent events, operator actions, /metrics.

Every read and every command goes to the actors as messages (asks from outside the tree). Every
command is written as an audit line (log and history); operator actions need ``confirm: true``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Annotated, Any

import msgspec
from fastapi import Body, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from loguru import logger
from pydantic import BaseModel, Field

from desk.history import HistoryStore
from desk.metrics import DeskMetrics
from desk.web.actions import ACTIONS, ActionError, build_action
from desk.web.sampler import Sampler
from desk.web.snapshot import Snapshots
from messages.base import Message
from messages.codec import DecodeError
from messages.commands import parse_command
from messages.system import Rejected
from supervisor.errors import AskTimeoutError, UnknownActorError

__all__ = ["ActionRequest", "create_app"]

log = logger.bind(actor="web")


class ActionRequest(BaseModel):
    """An operator action: nothing happens unless ``confirm`` is true."""

    confirm: bool = False
    operator: str = Field(default="operator", max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


def _plain(answer: Any) -> Any:
    return msgspec.to_builtins(answer) if isinstance(answer, Message) else answer


def create_app(
    snapshots: Snapshots,
    sampler: Sampler,
    history: HistoryStore,
    metrics: DeskMetrics,
    now: Callable[[], float],
    token: str | None = None,
) -> FastAPI:
    """The application for one running system; ``token`` (when set) is required on every request."""
    app = FastAPI(
        title="treasury-actors",
        version="0.1.0",
        description="The operator's dashboard and API of a running treasury-actors desk: the same data as "
        "`bin/run status --json`, the same commands as `bin/run send`, operator actions with a "
        "confirmation and an audit line, live updates (SSE) and Prometheus metrics.",
    )
    source = snapshots.source

    @app.middleware("http")
    async def require_token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if token is not None:
            given = request.query_params.get("token") or ""
            header = request.headers.get("authorization", "")
            if header.lower().startswith("bearer "):
                given = header[7:]
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse(
                    {"detail": "a valid token is required (Authorization: Bearer TOKEN)"}, status_code=401
                )
        return await call_next(request)

    def audit(operator: str, action: str, target: str, detail: Any, outcome: str) -> None:
        text = json.dumps(detail, default=str, sort_keys=True)
        log.bind(audit=True).warning("AUDIT {} {} -> {} {}: {}", operator, action, target, text, outcome)
        history.record_audit(now(), operator, action, target, text, outcome)

    def ask(target: str, message: Message) -> Any:
        try:
            return source.ask(target, message, timeout=5.0)
        except UnknownActorError as error:
            raise HTTPException(404, str(error)) from None
        except AskTimeoutError as error:
            raise HTTPException(504, str(error)) from None
        except Exception as error:  # crashed, stopped, hub unreachable: the caller gets the reason
            raise HTTPException(502, f"{type(error).__name__}: {error}") from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("desk.web").joinpath("static/dashboard.html").read_text()

    @app.get("/api/status", summary="The status document (`bin/run status --json`, plus the dashboard's extras)")
    def status() -> dict[str, Any]:
        return snapshots.take(now())

    @app.get("/api/events", summary="Server-sent events: one `status` event per sample")
    async def events(request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            version = -1
            while not sampler.stopped and not await request.is_disconnected():
                newer = await asyncio.to_thread(sampler.wait_newer, version, 10.0)
                if newer == version:
                    yield ": keep-alive\n\n"
                    continue
                version = newer
                yield f"id: {version}\nevent: status\ndata: {json.dumps(sampler.latest, default=str)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/api/transfers", summary="Transfers history, newest first, with paging and a filter")
    def transfers(
        page: int = Query(1, ge=1), size: int = Query(20, ge=1, le=500), q: str = "", status: str = ""
    ) -> dict[str, Any]:
        rows, total = history.transfers(page, size, q, status)
        return {"page": page, "size": size, "total": total, "transfers": rows}

    @app.get("/api/history", summary="Series for the plots: balances, hedge exposure and PnL, latencies")
    def series(minutes: float = Query(60.0, gt=0)) -> dict[str, Any]:
        since = now() - minutes * 60
        return {
            "balances": history.balances(since),
            "hedge": history.hedges(since),
            "latency": history.latencies(since),
            "fills": history.fills(since),
        }

    @app.get("/api/report", summary="What the history says about the last `hours` (the daily report's figures)")
    def report(hours: float = Query(24.0, gt=0)) -> dict[str, Any]:
        return history.summary(now() - hours * 3600)

    @app.get("/api/audit", summary="The last operator commands and actions")
    def audit_lines(limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
        return history.audit(limit)

    @app.post(
        "/api/send/{actor}",
        summary="Send a command to an actor (like `bin/run send`) and return its answer",
        description='The body is the desk\'s JSON command (`{"strategy": "a", "cmd": "allocate", '
        '"currency": "usd", "amount": 100, "index": 2}`) or any message by type '
        '(`{"type": "Reconcile"}`).',
    )
    def send(actor: str, command: Annotated[dict[str, Any], Body()], operator: str = "api") -> dict[str, Any]:
        try:
            message = parse_command(command)
        except DecodeError as error:
            raise HTTPException(400, f"not a command: {error}") from None
        answer = ask(actor, message)
        audit(operator, "send", actor, command, "rejected" if isinstance(answer, Rejected) else "ok")
        return {"answer": _plain(answer), "rejected": isinstance(answer, Rejected)}

    @app.get("/api/actions", summary="The operator actions and what each needs")
    def actions() -> dict[str, str]:
        return {name: action.help for name, action in ACTIONS.items()}

    @app.post(
        "/api/actions/{action}",
        summary="An operator action, with a confirmation and an audit line",
        responses={409: {"description": "not confirmed: the body says what would be done"}},
    )
    def act(action: str, request: ActionRequest) -> dict[str, Any]:
        try:
            target, message, summary = build_action(action, request.params, request.operator)
        except ActionError as error:
            raise HTTPException(400, str(error)) from None
        if not request.confirm:
            raise HTTPException(409, f"confirmation required: {summary} (send again with confirm: true)")
        answer = ask(target, message)
        outcome = f"rejected: {answer.reason}" if isinstance(answer, Rejected) else "ok"
        audit(request.operator, action, target, request.params, outcome)
        return {
            "action": action,
            "target": target,
            "summary": summary,
            "answer": _plain(answer),
            "rejected": isinstance(answer, Rejected),
        }

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def prometheus() -> Response:
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
