"""Fill pushes over ccxt.pro's websockets (`watch_my_trades`), bridged to the actors' threads: an
asyncio loop on a thread of its own watches each subscribed account and hands every trade to the
venue's `FillPoller` (which delivers each fill once). A dropped stream is reconnected after a pause
that doubles up to ``max_retry`` seconds; shortly after the new stream opens, what the gap held is
fetched by REST (`FillPoller.poll`). The venue's periodic poll stays on as the safety net."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Mapping
from typing import Any

from loguru import logger

from messages.trading import Fill

__all__ = ["FillStream"]


class FillStream:
    """Watches ``clients[account]`` (a ccxt.pro exchange holding that account's key) for trades;
    ``to_fill(account, trade)`` converts one, ``push(account, fill)`` delivers it, ``catch_up()``
    asks REST for anything missed. Start watching an account with `watch`; `close` stops all."""

    def __init__(
        self,
        label: str,
        clients: Mapping[str, Any],
        *,
        to_fill: Callable[[str, dict[str, Any]], Fill],
        push: Callable[[str, Fill], object],
        catch_up: Callable[[], object],
        retry: float = 0.2,
        max_retry: float = 30.0,
    ) -> None:
        self.clients = dict(clients)
        self._to_fill = to_fill
        self._push = push
        self._catch_up = catch_up
        self.retry = retry
        self.max_retry = max_retry
        self.connects = 0  # streams opened (a reconnection counts again)
        self.log = logger.bind(actor=label)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{label}-stream", daemon=True)
        self._thread.start()
        self._tasks: dict[str, concurrent.futures.Future[None]] = {}
        self._catching_up: asyncio.Future[None] | None = None
        self._lock = threading.Lock()

    def watch(self, account: str) -> None:
        """Start the account's stream (nothing happens if it runs or the account has no client)."""
        with self._lock:
            if account in self._tasks or account not in self.clients:
                return
            self._tasks[account] = asyncio.run_coroutine_threadsafe(self._watch(account), self._loop)

    async def _watch(self, account: str) -> None:
        client = self.clients[account]
        pause = self.retry
        while True:
            pending: asyncio.Future[Any] | None = None
            try:
                self.connects += 1
                pending = asyncio.ensure_future(client.watch_my_trades())
                if self.connects > 1:  # back after a drop: the gap comes by REST once the stream is up again
                    self._catching_up = asyncio.ensure_future(self._catch_up_soon())
                while True:
                    trades = await pending
                    pause = self.retry
                    for trade in trades:
                        self._push(account, self._to_fill(account, trade))
                    pending = asyncio.ensure_future(client.watch_my_trades())
            except asyncio.CancelledError:
                if pending is not None:
                    pending.cancel()
                raise
            except Exception as error:  # noqa: BLE001 - a dropped stream: reconnect, then catch up
                self.log.warning(
                    "fill stream of {} dropped ({}: {}); reconnecting in {:.1f} s",
                    account,
                    type(error).__name__,
                    error,
                    pause,
                )
            if pending is not None and not pending.done():
                pending.cancel()
            await asyncio.sleep(pause)
            pause = min(self.max_retry, pause * 2)

    async def _catch_up_soon(self) -> None:
        """Ask REST for the fills of the gap, ``retry`` seconds into the new stream (time for its
        subscription to reach the exchange; a fill in between arrives from one or the other, once)."""
        await asyncio.sleep(self.retry)
        await self._loop.run_in_executor(None, self._catch_up)

    def close(self) -> None:
        async def shut() -> None:
            for task in list(self._tasks.values()):
                task.cancel()
            for client in self.clients.values():
                await client.close()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
