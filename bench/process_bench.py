"""Process-mode benchmark: actor to actor between two node processes, beside raw ZeroMQ and Redis, in one run.

Prints one JSON document (``ratios`` against baselines measured in the same run):
- actor to actor: a driver actor in one node process tells an echo actor in another
  (`bench/pingpong.py`): round trip and one-way latency (each ping carries its send time;
  ``time.perf_counter_ns`` is CLOCK_MONOTONIC, shared by the processes of one host), and the
  pipelined throughput of a burst of tells;
- raw ZeroMQ: two processes, DEALER -> ROUTER over ipc, the same three figures;
- a raw Unix stream socket between two processes, the same three figures: the floor of a direct
  link, which runs on one (not a goal's baseline; shown so the distance to the floor is seen);
- Redis pub/sub as the desk runs it today: redis-py, a `pubsub.run_in_thread` listener on each
  side (a redis-server on a free port, started by the bench when it is on PATH and redis-py is
  installed, ``pip install -e .[bench]``; the JSON says when it is not);
- a client through the hub (client -> hub -> node -> hub -> client), round trip and
  throughput, and ``hub_alone_round_trip`` (a client asking the hub's own "runtime");
- board read from another process beside a raw seqlock read (``bench/board_bench.py``).
Goals: actor round trip <= 0.7x Redis and <= 1.6x raw ZeroMQ, one-way <= 0.6x Redis,
throughput >= 0.5x raw ZeroMQ, board read <= 3x raw.

    .venv/bin/python bench/process_bench.py [--round-trips 3000] [--messages 30000] [--no-board]
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
    import sys, time, zmq
    endpoint, round_trips, messages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = zmq.Context().socket(zmq.ROUTER); s.bind(endpoint)
    for _ in range(round_trips):  # each frame carries its send time: answer the one-way time
        identity, stamp = s.recv_multipart()
        seen = time.perf_counter_ns()
        s.send_multipart([identity, str(seen - int(stamp)).encode()])
    for _ in range(messages):
        identity, _ = s.recv_multipart()
    s.send_multipart([identity, b"done"])
""")


def raw_zmq(folder: Path, round_trips: int, messages: int) -> dict[str, Any]:
    """Two processes, DEALER -> ROUTER over ipc, no framing of ours: the floor for any transport."""
    import msgspec
    import zmq

    endpoint = f"ipc://{folder / 'raw.sock'}"
    server = subprocess.Popen([PYTHON, "-c", RAW_SERVER, endpoint, str(round_trips + 200), str(messages)])
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.connect(endpoint)
    samples, one_way = [], []
    for i in range(round_trips + 200):
        t0 = time.perf_counter_ns()
        s.send(str(t0).encode())
        answer = s.recv()
        if i >= 200:  # warm up first
            samples.append(time.perf_counter_ns() - t0)
            one_way.append(int(answer))
    payload = msgspec.msgpack.encode({"type": "Ping", "nonce": 0})  # the size of a small message
    t0f = time.perf_counter()
    for _ in range(messages):
        s.send(payload)
    s.recv()
    elapsed = time.perf_counter() - t0f
    s.close(0)
    server.wait(30)
    return {
        "round_trip": percentiles(samples),
        "one_way": percentiles(one_way),
        "throughput_per_s": round(messages / elapsed),
    }


RAW_UNIX_SERVER = textwrap.dedent("""
    import os, socket, sys, time
    path, round_trips, messages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); listener.bind(path); listener.listen(1)
    print("ready", flush=True)
    s, _ = listener.accept()
    for _ in range(round_trips):  # each message carries its send time: answer the one-way time
        stamp = s.recv(64)
        seen = time.perf_counter_ns()
        s.sendall(str(seen - int(stamp)).encode())
    need, buffer = messages, b""
    while need:  # length-prefixed frames, as a direct link sends them
        buffer += s.recv(1 << 18)
        while len(buffer) >= 4 and len(buffer) >= 4 + int.from_bytes(buffer[:4], "little"):
            buffer = buffer[4 + int.from_bytes(buffer[:4], "little"):]
            need -= 1
    s.sendall(b"done")
""")


def raw_unix(folder: Path, round_trips: int, messages: int) -> dict[str, Any]:
    """Two processes over a plain Unix stream socket (what a direct link runs on): its floor."""
    import msgspec

    path = str(folder / "raw-unix.sock")
    server = subprocess.Popen(
        [PYTHON, "-c", RAW_UNIX_SERVER, path, str(round_trips + 200), str(messages)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    samples, one_way = [], []
    for i in range(round_trips + 200):
        t0 = time.perf_counter_ns()
        s.sendall(str(t0).encode())
        answer = s.recv(64)
        if i >= 200:  # warm up first
            samples.append(time.perf_counter_ns() - t0)
            one_way.append(int(answer))
    payload = msgspec.msgpack.encode({"type": "Ping", "nonce": 0})
    frame = len(payload).to_bytes(4, "little") + payload
    t0f = time.perf_counter()
    for _ in range(messages):
        s.sendall(frame)
    s.recv(64)
    elapsed = time.perf_counter() - t0f
    s.close()
    server.wait(30)
    return {
        "round_trip": percentiles(samples),
        "one_way": percentiles(one_way),
        "throughput_per_s": round(messages / elapsed),
    }


# ---- Redis pub/sub between two processes, redis-py with a listener thread per side ----------------

REDIS_RESPONDER = textwrap.dedent("""
    import sys, time, redis
    port, count = int(sys.argv[1]), int(sys.argv[2])
    client = redis.Redis(port=port)
    def on_request(message):
        seen = time.perf_counter_ns()
        client.publish("resp", str(seen - int(message["data"])))
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(req=on_request)
    listener = pubsub.run_in_thread(sleep_time=1.0, daemon=True)
    print("ready", flush=True)
    sys.stdin.readline()  # until the requester is done
    listener.stop()
""")

REDIS_REQUESTER = textwrap.dedent("""
    import json, queue, sys, time, redis
    port, count = int(sys.argv[1]), int(sys.argv[2])
    client = redis.Redis(port=port)
    answers = queue.SimpleQueue()
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(resp=lambda message: answers.put(message["data"]))
    listener = pubsub.run_in_thread(sleep_time=1.0, daemon=True)
    while client.pubsub_numsub("req")[0][1] == 0:
        time.sleep(0.01)
    samples, one_way = [], []
    for i in range(count + 200):
        t0 = time.perf_counter_ns()
        client.publish("req", str(t0))
        answer = answers.get(timeout=10)
        if i >= 200:
            samples.append(time.perf_counter_ns() - t0)
            one_way.append(int(answer))
    listener.stop()
    print(json.dumps({"samples": samples, "one_way": one_way}))
""")


def redis(round_trips: int) -> dict[str, Any]:
    """The shape the desk's Redis deployment runs: publish, and a redis-py listener thread per side."""
    server_binary = shutil.which("redis-server")
    if server_binary is None:
        return {"available": False, "note": "redis-server is not on PATH: no Redis figures in this run"}
    try:
        import redis as _redis  # noqa: F401 - only to say whether the bench extra is installed
    except ImportError:
        return {"available": False, "note": "redis-py is not installed (pip install -e .[bench]): no Redis figures"}
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
            [PYTHON, "-c", REDIS_RESPONDER, str(port), str(round_trips)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert responder.stdout is not None and responder.stdin is not None
        assert responder.stdout.readline().strip() == "ready"
        done = subprocess.run(
            [PYTHON, "-c", REDIS_REQUESTER, str(port), str(round_trips)], capture_output=True, text=True, timeout=600
        )
        responder.stdin.write("done\n")
        responder.stdin.close()
        responder.wait(30)
        if done.returncode != 0:
            return {"available": False, "note": f"the Redis requester failed: {done.stderr[-300:]}"}
        figures = json.loads(done.stdout)
    finally:
        server.terminate()
        server.wait(10)
    return {
        "available": True,
        "shape": "redis-py pubsub.run_in_thread listener on each side",
        "round_trip": percentiles(figures["samples"]),
        "one_way": percentiles(figures["one_way"]),
    }


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
class = "bench.pingpong:Echo"

[[actors]]
name = "driver"
class = "bench.pingpong:Driver"
"""

TRIGGER = textwrap.dedent("""
    import sys
    from messages.system import Ping, Pong
    from supervisor.transport.client import Client
    with Client(sys.argv[1], timeout=600) as client:
        client.tell("driver", Ping(nonce=1))
        while True:  # the driver tells us Pong when its run is written
            if client._socket.poll(600_000) == 0:
                raise SystemExit("the driver did not finish")
            header, body = client._socket.recv_multipart()
            if b"Pong" in body:
                break
    print("{}")
""")


def processes(folder: Path, round_trips: int, messages: int) -> dict[str, Any]:
    """One ProcessSystem: actor to actor between two node processes, and a client through the hub."""
    from loguru import logger

    from desk.config import parse_config
    from desk.processes import ProcessSystem

    logger.remove()
    data = tomllib.loads(SMALL_DESK)
    out = folder / "actors.json"
    data["actors"][1]["params"] = {
        "peer": "echo",
        "out": str(out),
        "round_trips": round_trips,
        "messages": messages,
    }
    data["runtime"] = {"folder": str(folder / "desk")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])  # bench.pingpong
    system = ProcessSystem(parse_config(data, folder))
    system.start()
    try:
        run_json(TRIGGER, system.endpoint)
        actors = json.loads(out.read_text())
        figures = run_json(HUB_PEER, system.endpoint, str(round_trips), str(messages), "echo")
        alone = run_json(HUB_PEER, system.endpoint, str(round_trips), "1", "runtime")
        dead = len(system.hub.dead_letters) if system.hub else -1
    finally:
        system.stop()
    return {
        "actor_to_actor": {
            "round_trip": percentiles(actors["round_trip_ns"]),
            "one_way": percentiles(actors["one_way_ns"]),
            "throughput_per_s": actors["throughput_per_s"],
        },
        "client_through_hub": {
            "round_trip": percentiles(figures["samples"]),
            "throughput_per_s": figures["throughput_per_s"],
            "hub_alone_round_trip": percentiles(alone["samples"]),
        },
        "hub_dead_letters": dead,
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
    parser.add_argument("--no-board", action="store_true", help="skip the board figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pb-", dir="/tmp") as tmp:
        folder = Path(tmp)
        raw = raw_zmq(folder, args.round_trips, args.messages)
        unix = raw_unix(folder, args.round_trips, args.messages)
        measured = processes(folder, args.round_trips, args.messages)
    red = redis(args.round_trips)
    board_figures = {} if args.no_board else board(args.board_reads)
    actors, hub = measured["actor_to_actor"], measured["client_through_hub"]

    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else float("nan")

    ratios: dict[str, Any] = {
        "actor_round_trip_p50_vs_raw_zmq": ratio(actors["round_trip"]["p50_us"], raw["round_trip"]["p50_us"]),
        "actor_one_way_p50_vs_raw_zmq": ratio(actors["one_way"]["p50_us"], raw["one_way"]["p50_us"]),
        "actor_throughput_vs_raw_zmq": round(actors["throughput_per_s"] / raw["throughput_per_s"], 3),
        "hub_round_trip_p50_vs_raw_zmq": ratio(hub["round_trip"]["p50_us"], raw["round_trip"]["p50_us"]),
        "hub_throughput_vs_raw_zmq": round(hub["throughput_per_s"] / raw["throughput_per_s"], 3),
        "actor_round_trip_p50_vs_raw_unix_socket": ratio(actors["round_trip"]["p50_us"], unix["round_trip"]["p50_us"]),
    }
    if red.get("available"):
        ratios["actor_round_trip_p50_vs_redis_listener"] = ratio(
            actors["round_trip"]["p50_us"], red["round_trip"]["p50_us"]
        )
        ratios["actor_one_way_p50_vs_redis_listener"] = ratio(actors["one_way"]["p50_us"], red["one_way"]["p50_us"])
        ratios["hub_round_trip_p50_vs_redis_listener"] = ratio(hub["round_trip"]["p50_us"], red["round_trip"]["p50_us"])
    figures = {
        "benchmark": "process_bench",
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "round_trips": args.round_trips,
        "messages": args.messages,
        "actor_to_actor": actors,
        "client_through_hub": hub,
        "hub_dead_letters": measured["hub_dead_letters"],
        "raw_zmq": raw,
        "raw_unix_socket": unix,
        "redis_listener": red,
        "ratios": ratios,
        "board": board_figures,
        "goals": {
            "actor_round_trip_p50_vs_redis_listener": "<= 0.7",
            "actor_round_trip_p50_vs_raw_zmq": "<= 1.6",
            "actor_one_way_p50_vs_redis_listener": "<= 0.6",
            "actor_throughput_vs_raw_zmq": ">= 0.5",
            "board_read_vs_raw": "<= 3",
        },
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
