"""A fake Lighter websocket (apidocs.lighter.xyz/docs/websocket-reference) at ``/stream``: it greets
with ``{"type": "connected"}``, answers ``{"type": "ping"}`` with a pong, and takes
``{"type": "subscribe", "channel": "account_all_trades/<account>", "auth": <token>}`` (and
``account_all_orders/<account>``) with the account's auth token; every later trade or order change of
that account is pushed as ``update/account_all_trades`` / ``update/account_all_orders``, keyed by
market index. Faults as every fake stream has them (`FakeStreamServer`: `drop_streams`, ...)."""

from __future__ import annotations

import json

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.fakes.book import FakeOrder, FakeTrade
from tests.fakes.lighter import FakeLighter
from tests.fakes.ws import FakeStreamServer

CHANNELS = ("account_all_trades", "account_all_orders")


class FakeLighterStream(FakeStreamServer):
    """The websocket side of ``rest`` (a started `FakeLighter`), on 127.0.0.1:``port``."""

    path = "/stream"

    def __init__(self, rest: FakeLighter) -> None:
        super().__init__("fake-lighter-ws")
        self.rest = rest
        self.frames = 0  # update frames pushed to a stream (a duplicated one counts once)
        rest.book.on_trade.append(self._on_trade)
        rest.book.on_order.append(self._on_order)

    def start(self) -> FakeLighterStream:
        super().start()
        return self

    async def serve(self, connection: ServerConnection) -> None:
        try:
            await connection.send(json.dumps({"session_id": f"s{id(connection)}", "type": "connected"}))
            async for raw in connection:
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await connection.send(json.dumps({"type": "pong"}))
                elif message.get("type") == "subscribe":
                    await self._subscribe(connection, message)
        except ConnectionClosed:
            pass

    async def _subscribe(self, connection: ServerConnection, message: dict[str, str]) -> None:
        channel, _, account = str(message.get("channel", "")).partition("/")
        if channel not in CHANNELS or not account.isdigit() or not self._authorised(int(account), message.get("auth")):
            await connection.send(json.dumps({"error": {"code": 30003, "message": f"invalid subscription {channel}"}}))
            return
        empty = {"trades": [], "total_volume": 0.0, "monthly_volume": 0.0, "weekly_volume": 0.0, "daily_volume": 0.0}
        snapshot = empty if channel == "account_all_trades" else {"orders": {}}
        await connection.send(
            json.dumps({"channel": f"{channel}:{account}", **snapshot, "type": f"subscribed/{channel}"})
        )
        self.subscribed(connection, f"{channel}:{account}")

    def _authorised(self, account: int, token: str | None) -> bool:
        """Lighter's private channels want the account's own auth token (as its REST reads do)."""
        api_key = self.rest.api_keys.get(account)
        return api_key is not None and token is not None and token.split(":")[1:3] == [str(account), str(api_key)]

    def _on_trade(self, trade: FakeTrade) -> None:
        """Called by the book (any thread) after each trade: push it to its account's streams."""
        self._push("account_all_trades", trade.key, {"trades": {trade.symbol: [self.rest._trade(trade)]}})

    def _on_order(self, order: FakeOrder) -> None:
        self._push("account_all_orders", order.key, {"orders": {order.symbol: [self.rest._order(order)]}})

    def _push(self, channel: str, account: str, body: dict[str, object]) -> None:
        text = json.dumps({"channel": f"{channel}:{account}", **body, "type": f"update/{channel}"})
        if self.push(f"{channel}:{account}", text):
            self.frames += 1
