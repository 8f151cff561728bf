"""Two bench actors for `bench/process_bench.py`: a driver that pings an echo in another node and times it.

A client tells the driver ``Ping(nonce=1)``; the driver then makes ``round_trips`` round trips to
``peer`` (each `Ping` carries its send time, ``time.perf_counter_ns``, which is the same clock in
every process of one host), then tells ``messages`` pings in one burst, writes the samples to
``out`` as JSON and tells the client ``Pong``. The echo answers a stamped `Ping` with a `Pong`
whose nonce is the one-way time it saw; it answers only the last ping of a burst (nonce -1).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from actors.base import Actor
from messages.system import Ping, Pong

WARM_UP = 200


class Echo(Actor):
    def on_ping(self, message: Ping) -> None:
        if message.nonce == 0:
            return  # one of a burst
        seen = time.perf_counter_ns()
        if self.sender:
            self.tell(self.sender, Pong(actor=self.name, nonce=seen - message.nonce if message.nonce > 0 else -1))


class Driver(Actor):
    def __init__(self, peer: str, out: str, round_trips: int = 3000, messages: int = 30000) -> None:
        super().__init__()
        self.peer, self.out = peer, Path(out)
        self.round_trips, self.messages = round_trips, messages
        self.requester = ""
        self.sent_at = 0
        self.count = 0
        self.round_trip_ns: list[int] = []
        self.one_way_ns: list[int] = []
        self.burst_started = 0.0

    def on_ping(self, message: Ping) -> None:
        self.requester = self.sender or ""
        self.count = 0
        self.round_trip_ns, self.one_way_ns = [], []
        self._next()

    def _next(self) -> None:
        self.sent_at = time.perf_counter_ns()
        self.tell(self.peer, Ping(nonce=self.sent_at))

    def on_pong(self, message: Pong) -> None:
        if message.nonce == -1:  # the burst's last ping was handled
            elapsed = time.perf_counter() - self.burst_started
            figures = {
                "round_trip_ns": self.round_trip_ns,
                "one_way_ns": self.one_way_ns,
                "throughput_per_s": round(self.messages / elapsed),
            }
            self.out.write_text(json.dumps(figures))
            self.tell(self.requester, Pong(actor=self.name, nonce=1))
            return
        now = time.perf_counter_ns()
        self.count += 1
        if self.count > WARM_UP:
            self.round_trip_ns.append(now - self.sent_at)
            self.one_way_ns.append(message.nonce)
        if self.count < WARM_UP + self.round_trips:
            self._next()
            return
        self.burst_started = time.perf_counter()
        for _ in range(self.messages - 1):
            self.tell(self.peer, Ping(nonce=0))
        self.tell(self.peer, Ping(nonce=-1))
