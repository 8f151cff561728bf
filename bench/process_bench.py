"""Process-mode benchmark: the hub against raw ZeroMQ and Redis pub/sub, measured in the same run.

Prints one JSON document:
- round trip: a peer process asks an actor in a node process through the hub (peer -> hub ->
  node -> hub -> peer), beside raw two-process ZeroMQ REQ/REP and beside Redis pub/sub (a
  request channel and a reply channel between two processes) when ``redis-server`` is on PATH;
- pipelined throughput: a peer process tells an actor N messages through the hub (then one
  ask to know they were all handled), beside raw two-process ZeroMQ DEALER -> ROUTER;
- board read from another process beside a raw seqlock read (from ``bench/board_bench.py``).
Goals: round trip <= 0.7x Redis pub/sub, throughput >= 0.4x raw ZeroMQ, board read <= 3x raw.
``hub.hub_alone_round_trip`` is a peer asking the hub's own process ("runtime"): the cost of the
two Python hops to and from the hub, without any node.

    .venv/bin/python bench/process_bench.py [--round-trips 3000] [--messages 30000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PYTHON = sys.executable


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    samples_ns.sort()
    return {
        "p50_us": round(samples_ns[len(samples_ns) // 2] / 1000, 1),
        "p99_us": round(samples_ns[int(len(samples_ns) * 0.99)] / 1000, 1),
    }


def run_json(script: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    done = subprocess.run([PYTHON, "-c", script, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ---- raw ZeroMQ between two processes -----------------------------------------------------------

RAW_SERVER = textwrap.dedent("""
    import sys, zmq
    mode, endpoint, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ctx = zmq.Context()
    if mode == "rep":
        s = ctx.socket(zmq.REP); s.bind(endpoint)
        for _ in range(count):
            s.send(s.recv())
    else:
        s = ctx.socket(zmq.ROUTER); s.bind(endpoint)
        seen = 0
        while seen < count:
            identity, _ = s.recv_multipart(); seen += 1
        s.send_multipart([identity, b"done"])
""")


def raw_zmq(folder: Path, round_trips: int, messages: int) -> dict[str, Any]:
    import msgpack
    import zmq

    payload = msgpack.packb({"type": "Ping", "nonce": 1})
    endpoint = f"ipc://{folder / 'raw.sock'}"
    server = subprocess.Popen([PYTHON, "-c", RAW_SERVER, "rep", endpoint, str(round_trips)])
    s = zmq.Context.instance().socket(zmq.REQ)
    s.connect(endpoint)
    samples = []
    for _ in range(round_trips):
        t0 = time.perf_counter_ns()
        s.send(payload)
        s.recv()
        samples.append(time.perf_counter_ns() - t0)
    s.close(0)
    server.wait(30)
    endpoint = f"ipc://{folder / 'raw2.sock'}"
    server = subprocess.Popen([PYTHON, "-c", RAW_SERVER, "router", endpoint, str(messages)])
    d = zmq.Context.instance().socket(zmq.DEALER)
    d.connect(endpoint)
    d.send(payload)  # warm the connection, then time the burst
    t0 = time.perf_counter()
    for _ in range(messages - 1):
        d.send(payload)
    d.recv()
    elapsed = time.perf_counter() - t0
    d.close(0)
    server.wait(30)
    return {"round_trip": percentiles(samples), "throughput_per_s": round((messages - 1) / elapsed)}


# ---- Redis pub/sub between two processes (plain RESP over a socket) ------------------------------

RESP = textwrap.dedent("""
    import socket
    def command(*parts):
        out = [f"*{len(parts)}\\r\\n".encode()]
        for p in parts:
            p = p if isinstance(p, bytes) else str(p).encode()
            out.append(f"${len(p)}\\r\\n".encode() + p + b"\\r\\n")
        return b"".join(out)
    class Conn:
        def __init__(self, port):
            self.s = socket.create_connection(("127.0.0.1", port)); self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.f = self.s.makefile("rb")
        def send(self, *parts): self.s.sendall(command(*parts))
        def reply(self):
            line = self.f.readline()
            kind, rest = line[:1], line[1:-2]
            if kind == b"*": return [self.reply() for _ in range(int(rest))]
            if kind == b"$": data = self.f.read(int(rest) + 2); return data[:-2]
            return rest
""")

REDIS_RESPONDER = RESP + textwrap.dedent("""
    import sys
    port, count = int(sys.argv[1]), int(sys.argv[2])
    sub, pub = Conn(port), Conn(port)
    sub.send("SUBSCRIBE", "req"); sub.reply()
    print("ready", flush=True)
    for _ in range(count):
        message = sub.reply()
        pub.send("PUBLISH", "resp", message[2]); pub.reply()
""")

REDIS_REQUESTER = RESP + textwrap.dedent("""
    import json, sys, time
    port, count = int(sys.argv[1]), int(sys.argv[2])
    sub, pub = Conn(port), Conn(port)
    sub.send("SUBSCRIBE", "resp"); sub.reply()
    samples = []
    for i in range(count):
        t0 = time.perf_counter_ns()
        pub.send("PUBLISH", "req", b"ping"); pub.reply()
        sub.reply()
        samples.append(time.perf_counter_ns() - t0)
    print(json.dumps(samples))
""")


def redis(round_trips: int) -> dict[str, Any]:
    server_binary = shutil.which("redis-server")
    if server_binary is None:
        return {"available": False, "note": "redis-server is not on PATH: no Redis figures in this run"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [server_binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.02)  # a benchmark waiting for a server process to listen
        responder = subprocess.Popen(
            [PYTHON, "-c", REDIS_RESPONDER, str(port), str(round_trips)], stdout=subprocess.PIPE, text=True
        )
        assert responder.stdout is not None and responder.stdout.readline().strip() == "ready"
        done = subprocess.run(
            [PYTHON, "-c", REDIS_REQUESTER, str(port), str(round_trips)], capture_output=True, text=True, timeout=600
        )
        responder.wait(30)
        samples = json.loads(done.stdout)
    finally:
        server.terminate()
        server.wait(10)
    return {"available": True, "round_trip": percentiles(samples)}


# ---- through the hub -----------------------------------------------------------------------------

HUB_PEER = textwrap.dedent("""
    import json, sys, time, zmq, msgpack
    endpoint, round_trips, messages, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    s = zmq.Context().socket(zmq.DEALER); s.connect(endpoint)
    ping = msgpack.packb({"type": "Ping", "nonce": 1})
    def ask(i):
        s.send_multipart([msgpack.packb({"kind": "ask", "to": target, "id": i}), ping])
        while True:
            header, body = s.recv_multipart()
            if msgpack.unpackb(header).get("id") == i:
                return
    for i in range(1, 200):
        ask(i)  # warm up
    samples = []
    for i in range(200, 200 + round_trips):
        t0 = time.perf_counter_ns(); ask(i); samples.append(time.perf_counter_ns() - t0)
    tell = msgpack.packb({"kind": "tell", "to": target})
    t0 = time.perf_counter()
    for _ in range(messages):
        s.send_multipart([tell, ping])
    ask(10**9)
    elapsed = time.perf_counter() - t0
    print(json.dumps({"samples": samples, "throughput_per_s": round(messages / elapsed)}))
""")

SMALL_DESK = """
[[accounts]]
exchange = "kraken"
account = "main"
balances = { usdc = 1000.0 }

[scheduler]
jobs = [{ name = "reconcile", target = "gateway", message = "Reconcile", every = 60.0 }]

[[actors]]
name = "echo"
class = "actors.health:HealthMonitor"
params = { watched = [] }
"""


def through_hub(folder: Path, round_trips: int, messages: int) -> dict[str, Any]:
    from loguru import logger

    from desk.config import parse_config
    from desk.processes import ProcessSystem

    logger.remove()
    data = tomllib.loads(SMALL_DESK)
    data["runtime"] = {"folder": str(folder / "desk")}
    system = ProcessSystem(parse_config(data, folder))
    system.start()
    try:
        figures = run_json(HUB_PEER, system.endpoint, str(round_trips), str(messages), "echo")
        alone = run_json(HUB_PEER, system.endpoint, str(round_trips), "1", "runtime")
    finally:
        system.stop()
    return {
        "round_trip": percentiles(figures["samples"]),
        "throughput_per_s": figures["throughput_per_s"],
        "hub_alone_round_trip": percentiles(alone["samples"]),
    }


def board(reads: int) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, str(REPO / "bench" / "board_bench.py"), "--reads", str(reads)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    if done.returncode != 0:
        return {"error": done.stderr[-500:]}
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=3000)
    parser.add_argument("--messages", type=int, default=30000)
    parser.add_argument("--board-reads", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pb-", dir="/tmp") as tmp:
        folder = Path(tmp)
        raw = raw_zmq(folder, args.round_trips, args.messages)
        hub = through_hub(folder, args.round_trips, args.messages)
    red = redis(args.round_trips)
    board_figures = board(args.board_reads)
    ratios: dict[str, Any] = {
        "round_trip_p50_vs_raw_zmq": round(hub["round_trip"]["p50_us"] / raw["round_trip"]["p50_us"], 2),
        "throughput_vs_raw_zmq": round(hub["throughput_per_s"] / raw["throughput_per_s"], 3),
    }
    if red.get("available"):
        ratios["round_trip_p50_vs_redis_pubsub"] = round(hub["round_trip"]["p50_us"] / red["round_trip"]["p50_us"], 2)
    full_speed = next(iter(board_figures.get("scenarios", [])), None) if isinstance(board_figures, dict) else None
    figures = {
        "benchmark": "process_bench",
        "cpus": os.cpu_count(),
        "round_trips": args.round_trips,
        "messages": args.messages,
        "hub": hub,
        "raw_zmq": raw,
        "redis_pubsub": red,
        "ratios": ratios,
        "board": board_figures if full_speed is None else board_figures,
        "goals": {
            "round_trip_vs_redis_pubsub": "<= 0.7",
            "throughput_vs_raw_zmq": ">= 0.4",
            "board_read_vs_raw": "<= 3",
        },
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
