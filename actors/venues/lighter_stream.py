"""Order and fill status over Lighter's websocket, bridged to the actors' threads. On the venue's
event loop each subscribed account has a stream of ``account_all_trades`` and ``account_all_orders``
(subscribed with the account's auth token, as Lighter wants for private channels). Trades go to the
venue's `FillPoller`, which delivers each fill once (by trade id); order updates are kept, for
`create_order` to read what became of the order it sent. A dropped stream reconnects after a pause
doubling up to ``max_retry`` seconds; once it is subscribed again, what the gap held is asked by REST
from the last fill seen (``catch_up``), and only then is the stream live. While an account's stream is
not live, the poller's timer polls it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Callable
from typing import Any

from loguru import logger

from actors.venues.lighter_sdk import sdk

__all__ = ["LighterStream", "ws_url_of"]

CHANNELS = ("account_all_trades", "account_all_orders")
_UNSETTLED = ("pending", "in-progress")  # an order not yet through Lighter's matching engine
_KEPT = 1000  # order updates kept, the latest (create_order reads its own within seconds of sending)


def ws_url_of(url: str) -> str:
    """Lighter's websocket beside its REST ``url`` (``https://host`` -> ``wss://host/stream``)."""
    scheme, _, rest = url.rstrip("/").partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/stream"


class LighterStream:
    """The streams at ``url`` of the accounts `watch` names, run on ``loop`` (the venue's).
    ``index(account)`` is its Lighter account index, ``auth(account)`` a fresh auth token;
    ``on_trade(account, trade)`` takes one raw trade, ``catch_up(account)`` asks REST for what was
    missed (raising if it cannot: the stream is then dropped and opened again, and stays not live).
    `live` says whether an account's trades are streaming now; `close` stops every stream."""

    def __init__(
        self,
        label: str,
        url: str,
        loop: asyncio.AbstractEventLoop,
        *,
        index: Callable[[str], int],
        auth: Callable[[str], str],
        on_trade: Callable[[str, dict[str, Any]], object],
        catch_up: Callable[[str], object],
        retry: float = 0.2,
        max_retry: float = 30.0,
    ) -> None:
        self.url = url
        self._loop = loop
        self._index = index
        self._auth = auth
        self._on_trade = on_trade
        self._catch_up = catch_up
        self.retry = retry
        self.max_retry = max_retry
        self.connects = 0  # streams opened (a reconnection counts again)
        self.frames = 0  # update frames handled
        self.log = logger.bind(actor=label)
        self._tasks: dict[str, concurrent.futures.Future[None]] = {}
        self._running: set[asyncio.Task[Any]] = set()  # the streams' tasks, on the loop
        self._closed = False
        self._live: set[str] = set()
        self._orders: dict[tuple[str, int], dict[str, Any]] = {}  # (account, client order index) -> latest
        self._changed = threading.Condition()

    def watch(self, account: str) -> None:
        """Start the account's stream (nothing happens if it runs already)."""
        with self._changed:
            if account not in self._tasks and not self._closed:
                self._tasks[account] = asyncio.run_coroutine_threadsafe(self._watch(account), self._loop)

    def live(self, account: str) -> bool:
        """Whether the account's trades are streaming now (subscribed, not dropped)."""
        return account in self._live

    def settle(self, account: str, frames: int, timeout: float = 30.0) -> bool:
        """Wait until the account's stream is live and ``frames`` update frames have been handled
        in all (True), or ``timeout`` seconds (False): how a test knows the pushes are in."""
        with self._changed:
            return self._changed.wait_for(lambda: self.live(account) and self.frames >= frames, timeout)

    def wait_order(self, account: str, client_order_index: int, timeout: float) -> dict[str, Any] | None:
        """The account's order with ``client_order_index`` as the stream last told it, once it is
        through the matching engine (open, filled, canceled); None after ``timeout`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._settled(account, client_order_index) is not None, timeout)
            return self._settled(account, client_order_index)

    def _settled(self, account: str, client_order_index: int) -> dict[str, Any] | None:
        found = self._orders.get((account, client_order_index))
        return found if found is not None and found.get("status") not in _UNSETTLED else None

    async def _watch(self, account: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        with self._changed:
            if self._closed:
                return
            self._running.add(task)
        pause = self.retry
        while True:
            try:
                async with sdk().connect(self.url) as stream:
                    self.connects += 1
                    async for raw in stream:
                        if await self._handle(account, stream, json.loads(raw)):
                            pause = self.retry
                reason = "closed by Lighter"
            except asyncio.CancelledError:
                self._down(account)
                raise
            except Exception as error:  # noqa: BLE001 - a dropped or refused stream: reconnect, then catch up
                reason = f"{type(error).__name__}: {error}"
            self._down(account)
            self.log.warning("order and fill stream of {} down ({}); reconnecting in {:.1f} s", account, reason, pause)
            await asyncio.sleep(pause)
            pause = min(self.max_retry, pause * 2)

    def _down(self, account: str) -> None:
        with self._changed:
            self._live.discard(account)
            self._changed.notify_all()

    def wait_down(self, account: str, timeout: float = 30.0) -> bool:
        """Wait until the account's stream is known to be down (True), or ``timeout`` seconds (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: not self.live(account), timeout)

    async def _handle(self, account: str, stream: Any, message: dict[str, Any]) -> bool:
        """Act on one frame; True once the account's trades are subscribed."""
        kind = str(message.get("type", ""))
        if kind == "connected":
            for channel in CHANNELS:
                subscribe = {"type": "subscribe", "channel": f"{channel}/{self._index(account)}"}
                await stream.send(json.dumps({**subscribe, "auth": self._auth(account)}))
        elif kind == "ping":
            await stream.send(json.dumps({"type": "pong"}))
        elif kind.endswith("/account_all_trades"):
            for trade in _listed(message.get("trades")):
                self._on_trade(account, trade)
            subscribed = kind.startswith("subscribed/")
            if subscribed:  # the gap, by REST; only then is the stream live
                await self._loop.run_in_executor(None, self._catch_up, account)
            with self._changed:
                if subscribed:
                    self._live.add(account)
                else:
                    self.frames += 1
                self._changed.notify_all()
            return subscribed
        elif kind.endswith("/account_all_orders"):
            with self._changed:
                for order in _listed(message.get("orders")):
                    key = (account, int(order.get("client_order_index") or 0))
                    self._orders.pop(key, None)
                    self._orders[key] = order
                while len(self._orders) > _KEPT:
                    del self._orders[next(iter(self._orders))]
                self.frames += kind.startswith("update/")
                self._changed.notify_all()
        elif "error" in message:
            raise ConnectionError(f"Lighter refused the subscription: {message['error']}")
        return False

    def close(self) -> None:
        """Stop every stream and wait until each has (call before the venue's loop stops)."""
        with self._changed:
            self._closed = True  # a stream not started yet never starts
            started = bool(self._tasks)
        if started and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)

    async def _stop(self) -> None:
        tasks = list(self._running)
        for task in tasks:
            task.cancel()  # once: a second cancel would cut short the closing handshake
        await asyncio.gather(*tasks, return_exceptions=True)


def _listed(value: Any) -> list[dict[str, Any]]:
    """The entries of a frame's ``trades``/``orders``: a list, or lists (or single entries) by market."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        found: list[dict[str, Any]] = []
        for entries in value.values():
            found.extend(entries if isinstance(entries, list) else [entries])
        return found
    return []
