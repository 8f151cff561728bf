"""A fake Kraken websocket v2 (docs.kraken.com/api/docs/websocket-v2/executions): a client sends
``{"method": "subscribe", "params": {"channel": "executions", "token": ...}}`` with a token from
REST ``GetWebSocketsToken``; every later trade of that key is pushed as an ``executions`` update.
Faults as every fake stream has them (`FakeStreamServer`: `drop_streams`, ...)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.fakes.book import FakeTrade
from tests.fakes.kraken import _ASSETS, FakeKraken, _s
from tests.fakes.ws import FakeStreamServer


class FakeKrakenStream(FakeStreamServer):
    """The websocket side of ``rest`` (a started `FakeKraken`), on 127.0.0.1:``port``."""

    path = "/v2"

    def __init__(self, rest: FakeKraken) -> None:
        super().__init__("fake-kraken-ws")
        self.rest = rest
        rest.book.on_trade.append(self._on_trade)

    def start(self) -> FakeKrakenStream:
        super().start()
        return self

    async def serve(self, connection: ServerConnection) -> None:
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
                    self.subscribed(connection, str(key))
        except ConnectionClosed:
            pass

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
        self.push(trade.key, json.dumps(update))


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
