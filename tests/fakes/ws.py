"""A fake exchange's websocket server on 127.0.0.1, on an asyncio loop of its own, with the faults
a real stream has: `drop_streams` (every connection closed), `refuse_streams` (new connections
turned away until `accept_streams`), `duplicate_next` (frames sent twice). A dialect gives `serve`."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response


class FakeStreamServer:
    """Serves `serve` (one connection, in the dialect's terms) on 127.0.0.1:``port`` at ``path``.
    A dialect files each subscribed connection with `subscribed` (under the key it streams) and
    pushes with `push`; tests wait on `wait_subscriptions`. `start`/`stop`."""

    path = "/"

    def __init__(self, name: str) -> None:
        self.port = 0
        self.subscriptions = 0  # subscriptions made in all (a reconnection counts again)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._server: Server | None = None
        self._streams: dict[ServerConnection, set[str]] = {}  # connection -> what it streams (API keys, channels)
        self._subscribed = threading.Condition()
        self._refusing = False
        self._duplicates = 0

    # --- to be given by a dialect ---------------------------------------------------------------

    async def serve(self, connection: ServerConnection) -> None:
        raise NotImplementedError

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.path}"

    def start(self) -> FakeStreamServer:
        self._thread.start()

        async def open_server() -> Server:
            return await serve(self._serve, "127.0.0.1", 0, process_request=self._admit)

        self._server = asyncio.run_coroutine_threadsafe(open_server(), self._loop).result(10)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    def stop(self) -> None:
        async def shut() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        if self._server is not None:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
            self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # --- faults -----------------------------------------------------------------------------------

    def drop_streams(self) -> None:
        """Close every open stream, as a network drop would."""

        async def drop() -> None:
            for connection in list(self._streams):
                self._streams.pop(connection, None)  # no push reaches (or is counted for) it from now on
                await connection.close(code=1011, reason="dropped")

        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(10)

    def refuse_streams(self) -> None:
        """Turn new connections away (HTTP 503) until `accept_streams`; open ones stay open."""
        self._refusing = True

    def accept_streams(self) -> None:
        self._refusing = False

    def duplicate_next(self, n: int = 1) -> None:
        """Send each of the next ``n`` pushed frames twice (an exchange replaying after a hiccup)."""
        self._duplicates += n

    # --- for a dialect --------------------------------------------------------------------------

    def wait_subscriptions(self, n: int, timeout: float = 30.0) -> bool:
        """Wait until ``n`` subscriptions have been made in all (True), or ``timeout`` seconds (False)."""
        with self._subscribed:
            return self._subscribed.wait_for(lambda: self.subscriptions >= n, timeout)

    def subscribed(self, connection: ServerConnection, key: str) -> None:
        """``connection`` now streams what is filed under ``key`` too."""
        self._streams.setdefault(connection, set()).add(key)
        with self._subscribed:
            self.subscriptions += 1
            self._subscribed.notify_all()

    def push(self, key: str, text: str) -> int:
        """Send ``text`` to every stream of ``key`` (from any thread; a closed stream misses it);
        returns to how many."""
        times = 1
        if self._duplicates > 0:
            self._duplicates -= 1
            times = 2
        to = [connection for connection, streamed in list(self._streams.items()) if key in streamed]
        for connection in to:
            for _ in range(times):
                asyncio.run_coroutine_threadsafe(send(connection, text), self._loop)
        return len(to)

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        return connection.respond(503, "streams are down\n") if self._refusing else None

    async def _serve(self, connection: ServerConnection) -> None:
        try:
            await self.serve(connection)
        finally:
            self._streams.pop(connection, None)


async def send(connection: ServerConnection, text: Any) -> None:
    """Send, ignoring a stream that closed meanwhile (its client catches up by REST)."""
    try:
        await connection.send(text)
    except Exception:  # noqa: BLE001 - a closed stream
        pass
