"""A fake Kraken websocket v2 (docs.kraken.com/api/docs/websocket-v2/executions): a client sends
``{"method": "subscribe", "params": {"channel": "executions", "token": ...}}`` with a token from
REST ``GetWebSocketsToken``; every later trade of that key is pushed as an ``executions`` update.
`drop_streams` closes every connection (a dropped stream)."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.fakes.book import FakeTrade
from tests.fakes.kraken import _ASSETS, FakeKraken, _s


class FakeKrakenStream:
    """The websocket side of ``rest`` (a started `FakeKraken`), on 127.0.0.1:``port``."""

    def __init__(self, rest: FakeKraken) -> None:
        self.rest = rest
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-kraken-ws", daemon=True)
        self._server: Server | None = None
        self._streams: dict[ServerConnection, str] = {}  # connection -> API key
        self.subscriptions = 0
        self._subscribed = threading.Condition()
        rest.book.on_trade.append(self._on_trade)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v2"

    def start(self) -> FakeKrakenStream:
        self._thread.start()

        async def open_server() -> Server:
            return await serve(self._serve, "127.0.0.1", 0)

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

    def wait_subscriptions(self, n: int, timeout: float = 30.0) -> bool:
        """Wait until ``n`` subscriptions have been made in all (True), or ``timeout`` seconds (False)."""
        with self._subscribed:
            return self._subscribed.wait_for(lambda: self.subscriptions >= n, timeout)

    def drop_streams(self) -> None:
        """Close every open stream, as a network drop would."""

        async def drop() -> None:
            for connection in list(self._streams):
                await connection.close(code=1011, reason="dropped")

        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(10)

    async def _serve(self, connection: ServerConnection) -> None:
        try:
            async for raw in connection:
                message = json.loads(raw)
                if "ping" in (message.get("method"), message.get("event")):
                    await connection.send(
                        json.dumps(
                            {"method": "pong", "req_id": message.get("req_id"), "time_in": _iso(self.rest.book.now())}
                        )
                    )
                    continue
                params = message.get("params") or {}
                key = self.rest.ws_tokens.get(params.get("token", ""))
                ok = message.get("method") == "subscribe" and params.get("channel") == "executions" and key
                await connection.send(
                    json.dumps(
                        {
                            "method": "subscribe",
                            "req_id": message.get("req_id"),
                            "success": bool(ok),
                            "result": {"channel": "executions", "snapshot": False},
                            **({} if ok else {"error": "EGeneral:Invalid arguments"}),
                            "time_in": _iso(self.rest.book.now()),
                            "time_out": _iso(self.rest.book.now()),
                        }
                    )
                )
                if ok:
                    self._streams[connection] = str(key)
                    with self._subscribed:
                        self.subscriptions += 1
                        self._subscribed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self._streams.pop(connection, None)

    def _on_trade(self, trade: FakeTrade) -> None:
        """Called by the book (any thread) after each trade: push it to its key's streams."""
        m = self.rest.book.markets[trade.symbol]
        update = {
            "channel": "executions",
            "type": "update",
            "data": [
                {
                    "exec_type": "trade",
                    "exec_id": trade.id,
                    "order_id": trade.order_id,
                    "trade_id": int(trade.id[1:]),
                    "symbol": f"{_ASSETS[m.base][0].replace('XBT', 'BTC')}/{_ASSETS[m.quote][0]}",
                    "side": trade.side,
                    "last_qty": float(_s(trade.amount)),
                    "last_price": trade.price,
                    "liquidity_ind": "t",
                    "cost": trade.amount * trade.price,
                    "order_userref": 0,
                    "order_status": "filled",
                    "order_type": self.rest.book.orders[trade.order_id].type,
                    "timestamp": _iso(trade.time),
                    "fees": [{"asset": _ASSETS[m.quote][0], "qty": trade.fee}],
                    "fee_usd_equiv": trade.fee,
                }
            ],
        }
        for connection, key in list(self._streams.items()):
            if key == trade.key:
                asyncio.run_coroutine_threadsafe(_send(connection, json.dumps(update)), self._loop)


async def _send(connection: ServerConnection, text: str) -> None:
    try:
        await connection.send(text)
    except Exception:  # noqa: BLE001 - a closed stream: the client catches up by REST
        pass


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
