"""A node: one actor in its own OS process, linked to the hub by a ZeroMQ DEALER named after it.

`NodeLink` is the node's side of the wire. Mail for other actors leaves through the hub; mail
from the hub goes into the local runtime (which restarts the actor in-process if it raises,
keeping its mailbox); every delivery is acknowledged once the actor is done with it, so the
hub knows what a dead process was handling. Heartbeats are answered from the I/O thread.

    python -m supervisor.node --name gateway --connect ipc:///.../hub.sock [--config FILE] [--keys DIR]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from itertools import count
from typing import Any

import msgspec
import zmq
from loguru import logger

from messages.base import Message
from messages.codec import DecodeError, decode, encode
from supervisor.mailbox import Envelope, Reply
from supervisor.runtime import Runtime
from supervisor.wire import Header, WireError, decode_header, encode_header, error_frames

__all__ = ["NodeLink", "encode_answer", "main"]

log = logger.bind(actor="node")
_link_ids = count()


def encode_answer(value: Any) -> bytes:
    """An ask's answer for the wire: a message through the codec, plain data as plain MessagePack."""
    if isinstance(value, Message):
        return encode(value)
    return msgspec.msgpack.encode(value)


class NodeLink:
    """The node's link to the hub: a `supervisor.runtime.Remote` for the local runtime, and the I/O loop.

    Any thread may `tell`; only the I/O thread (`run`) touches the DEALER socket: other threads
    hand frames over through an inproc PUSH socket of their own.
    """

    def __init__(
        self,
        name: str,
        endpoint: str,
        names: Iterable[str],
        *,
        curve: tuple[bytes, bytes, bytes] | None = None,
        context: zmq.Context[Any] | None = None,
        incarnation: int | None = None,
        orphan_timeout: float | None = None,
    ) -> None:
        self.name = name
        self.orphan_timeout = orphan_timeout  # stop when the hub has been silent this long (None: never)
        self.incarnation = incarnation if incarnation is not None else os.getpid()
        self.endpoint = endpoint
        self.names = set(names) - {name}
        self.runtime: Runtime | None = None
        self._context = context or zmq.Context.instance()
        self._outbox = f"inproc://node-out-{os.getpid()}-{next(_link_ids)}"
        self._pull = self._context.socket(zmq.PULL)
        self._pull.bind(self._outbox)
        self._dealer = self._context.socket(zmq.DEALER)
        self._dealer.setsockopt(zmq.IDENTITY, name.encode())
        self._dealer.setsockopt(zmq.LINGER, 2000)
        if curve is not None:
            server_public, public, secret = curve
            self._dealer.curve_serverkey = server_public
            self._dealer.curve_publickey = public
            self._dealer.curve_secretkey = secret
        self._dealer.connect(endpoint)
        self._local = threading.local()
        self._pushes: list[zmq.Socket[Any]] = []
        self._pushes_lock = threading.Lock()
        self._done_seq = 0
        self._acked_seq = 0
        self._ack_wake = False  # an actor thread has woken the I/O thread to send an ack
        self._stop = threading.Event()
        self._graceful = True
        self.stop_reason = ""

    # ---- Remote (called from actor threads) ----------------------------------------------------

    def knows(self, name: str) -> bool:
        return name in self.names

    def tell(self, name: str, message: Any, sender: str | None) -> None:
        self._hand_over([encode_header(Header(kind="tell", to=name)), encode(message)])

    def _hand_over(self, frames: list[bytes]) -> None:
        push = getattr(self._local, "push", None)
        if push is None:
            push = self._context.socket(zmq.PUSH)
            push.setsockopt(zmq.LINGER, 1000)
            push.connect(self._outbox)
            self._local.push = push
            with self._pushes_lock:
                self._pushes.append(push)
        push.send_multipart(frames)

    # ---- the I/O loop --------------------------------------------------------------------------

    def request_stop(self, reason: str, graceful: bool = True) -> None:
        """Leave the I/O loop; ``graceful``: let the actor finish its mail and flush what it sent."""
        self.stop_reason = reason
        self._graceful = graceful
        self._stop.set()
        try:
            self._hand_over([b"wake", b""])
        except zmq.ZMQError:
            pass

    def run(self) -> None:
        """Say hello, then move frames both ways until `request_stop` or the runtime stops.

        On a requested stop the actor first finishes its mail (the runtime stops gracefully),
        then everything it sent meanwhile is flushed to the hub, then the last ack.
        """
        assert self.runtime is not None
        self._dealer.send_multipart([encode_header(Header(kind="hello", id=self.incarnation)), b""])
        poller = zmq.Poller()
        poller.register(self._dealer, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        heard = time.monotonic()  # the hub pings every heartbeat interval once it knows us
        while not self._stop.is_set() and not self.runtime.stopped:
            events = dict(poller.poll(200))
            if self._dealer in events:
                heard = time.monotonic()
            elif self.orphan_timeout is not None and time.monotonic() - heard > self.orphan_timeout:
                log.error("{}: no word from the hub for {:.0f}s - the supervisor is gone; stopping",
                          self.name, self.orphan_timeout)
                self.request_stop("the hub went silent")
                break
            if self._pull in events:
                for _ in range(1000):
                    try:
                        frames = self._pull.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    if frames[0] == b"wake":
                        continue
                    self._dealer.send_multipart(frames)
            if self._dealer in events:
                for _ in range(1000):
                    try:
                        frames = self._dealer.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._receive(frames)
            self._send_ack()
        if not self._graceful:
            return
        if not self.runtime.stopped:
            self.runtime.stop()  # the actor drains its mailbox; what it tells is queued in the outbox
        self._flush_outbox()
        self._send_ack()

    def _flush_outbox(self) -> None:
        while True:
            try:
                frames = self._pull.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if frames[0] != b"wake":
                self._dealer.send_multipart(frames)

    def _send_ack(self) -> None:
        self._ack_wake = False  # cleared before reading, so a later _done wakes us again
        done = self._done_seq
        if done > self._acked_seq:
            self._acked_seq = done
            self._dealer.send_multipart([encode_header(Header(kind="ack", seq=done)), b""])

    def _receive(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            log.warning("ignored a frame of {} parts from the hub", len(frames))
            return
        try:
            header = decode_header(frames[0])
        except WireError as error:
            log.warning("ignored a frame from the hub: {}", error)
            return
        kind = header.kind
        if kind == "ping":
            self._dealer.send_multipart([encode_header(Header(kind="pong")), b""])
        elif kind == "bye":
            self.request_stop("the supervisor asked this node to stop")
        elif kind in ("tell", "ask"):
            self._deliver(header, frames[1])
        elif kind == "error":
            failure: Any
            try:
                failure = decode(frames[1])
            except DecodeError:
                failure = frames[1]
            log.warning("the hub could not deliver a message from {}: {}", self.name, failure)
        else:
            log.warning("ignored a {!r} frame from the hub", kind)

    def _deliver(self, header: Header, body: bytes) -> None:
        assert self.runtime is not None
        seq = header.seq
        receipt = (lambda: self._done(seq)) if seq else None
        try:
            message = decode(body)
        except DecodeError as error:
            log.warning("undecodable message from {} to {}: {}", header.sender, self.name, error)
            if header.kind == "ask":
                self._dealer.send_multipart(error_frames(str(error), id=header.id, to=header.sender,
                                                         recipient=self.name))
            self.runtime.dead_letter(self.name, body, f"undecodable: {error}", header.sender)
            if receipt is not None:
                receipt()
            return
        reply = None
        if header.kind == "ask":
            asker, id = header.sender, header.id

            def answer(value: Any, error: BaseException | None) -> None:
                # Runs in the actor's thread after its handler: it must never raise there.
                try:
                    if error is not None:
                        frames = error_frames(f"{type(error).__name__}: {error}", id=id, to=asker,
                                              recipient=self.name, message_type=type(message).__name__)
                    else:
                        frames = [encode_header(Header(kind="reply", to=asker, id=id)), encode_answer(value)]
                    self._hand_over(frames)
                except Exception:
                    log.exception("could not send the answer to {} back to {}", type(message).__name__, asker)

            reply = Reply(on_done=answer)
        # Only an actor of the deployment can be answered by tell; an outside client's tell has
        # no sender here (an ask is answered through its reply instead).
        sender = header.sender if header.sender in self.names else None
        self.runtime.deliver(self.name, Envelope(message, sender, reply, receipt))

    def _done(self, seq: int) -> None:
        if seq > self._done_seq:
            self._done_seq = seq
        if not self._ack_wake:  # one wake-up per burst of finished messages
            self._ack_wake = True
            self._hand_over([b"wake", b""])

    def close(self) -> None:
        with self._pushes_lock:
            for push in self._pushes:
                push.close(0)
            self._pushes.clear()
        self._pull.close(0)
        self._dealer.close()


def _load_curve(keys: str | None) -> tuple[bytes, bytes, bytes] | None:
    if keys is None:
        return None
    from supervisor.keys import client_curve

    return client_curve(keys)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one actor of a deployment as a node; exit code 0 on a requested stop."""
    parser = argparse.ArgumentParser(prog="python -m supervisor.node", description="Run one actor as a node.")
    parser.add_argument("--name", required=True, help="the actor to run (its name in the deployment)")
    parser.add_argument("--connect", required=True, help="the hub's endpoint (ipc://... or tcp://...)")
    parser.add_argument("--config", help="the deployment file (default: the one saved in the runtime folder)")
    parser.add_argument("--runtime", help="the runtime folder (default: the deployment's)")
    parser.add_argument("--keys", help="CurveZMQ keys folder (required for tcp://)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    from pathlib import Path

    from desk.config import Deployment, load_config, load_demo_config, load_saved_deployment
    from supervisor.logs import configure_logging
    from supervisor.processes import ask_system_info, node_services
    from supervisor.spec import Supervisor
    from desk.system import ActorFactory

    configure_logging(args.log_level)
    saved = load_saved_deployment(Path(args.runtime)) if args.runtime else None
    info = None
    if args.config:
        deployment = load_config(args.config)
    elif saved is not None:
        deployment = saved
    elif args.connect.startswith("tcp://") and not args.runtime:  # joining from another host: the hub says what to run
        info = ask_system_info(args.connect, args.keys)
        deployment = msgspec.json.decode(info.deployment_json, type=Deployment)
    else:
        deployment = load_demo_config()
    services = node_services(deployment, args.name, args.runtime, args.connect, args.keys, info)
    factory = ActorFactory(deployment, services)
    link = NodeLink(args.name, args.connect, [*factory.names, "runtime"], curve=_load_curve(args.keys),
                    orphan_timeout=max(deployment.runtime.hang_timeout, 5 * deployment.runtime.heartbeat_interval))
    s = deployment.supervisor
    runtime = Runtime(
        Supervisor([factory.child_spec(args.name)], strategy="one_for_one", intensity=s.intensity, period=s.period,
                   backoff=s.backoff),
        clock=services.clock,
        heartbeat_interval=deployment.runtime.heartbeat_interval,
        hang_timeout=deployment.runtime.hang_timeout,
        remote=link,
    )
    link.runtime = runtime
    signal.signal(signal.SIGTERM, lambda *_: link.request_stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: link.request_stop("SIGINT"))
    try:
        runtime.start()
        link.run()
    finally:
        runtime.stop()  # "stopped by request" unless the runtime already stopped by itself
        link.close()
        services.close()
    failed = runtime.stop_reason != "stopped by request" or link.stop_reason == "the hub went silent"
    if failed:
        log.error("node {} stops: {}", args.name, runtime.stop_reason)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
