"""`RemoteVenue`: the `TradingVenue` an actor in another process calls instead of the venue itself;
its methods are made from the wire table (`actors.venues.remote.wire`), so they follow the protocol."""

from __future__ import annotations

import contextlib
import inspect
import itertools
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import zmq
from loguru import logger

from actors.venues.base import (
    FillSubscription,
    Subscription,
    TradingVenue,
    VenueError,
    VenueTimeout,
    VenueUnavailable,
)
from actors.venues.remote.wire import (
    WIRE,
    FillsReady,
    Request,
    encoder,
    feed_decoder,
    reply_decoder,
    topic,
    venue_error,
)
from actors.venues.simulated import SimulatedVenue
from messages.common import Exchange
from messages.trading import Fill
from supervisor.transport.keys import curve_client

__all__ = ["RemoteVenue"]

_MARK_RETRY = 0.05  # seconds between asks for a fill feed's ready mark


class _FillListener:
    """A `RemoteVenue`'s SUB socket and the one thread that hands each fill to its topic's callbacks.

    Other threads never touch the SUB socket: they send commands (subscribe, unsubscribe, stop)
    through an inproc PUSH socket guarded by a lock.
    """

    def __init__(self, context: zmq.Context[Any], endpoint: str, keys: str | os.PathLike[str] | None = None) -> None:
        address = f"inproc://remote-venue-fills-{uuid.uuid4().hex}"
        self._feed = context.socket(zmq.SUB)
        self._feed.linger = 0
        if keys is not None:
            curve_client(self._feed, keys)
        self._feed.connect(endpoint)
        self._inbox = context.socket(zmq.PULL)
        self._inbox.linger = 0
        self._inbox.bind(address)
        self._commands = context.socket(zmq.PUSH)
        self._commands.linger = 0
        self._commands.connect(address)
        self._commands_lock = threading.Lock()
        self._lock = threading.Lock()
        self._subscriptions: dict[bytes, list[Subscription[bytes]]] = {}
        self._marks: dict[str, threading.Event] = {}
        self._thread = threading.Thread(target=self._listen, name="remote-venue-fills", daemon=True)
        self._thread.start()

    def add(self, topic: bytes, callback: Callable[[Fill], None]) -> Subscription[bytes]:
        subscription: Subscription[bytes] = Subscription(topic, topic.decode(), callback, self.remove)
        with self._lock:
            first = topic not in self._subscriptions
            self._subscriptions.setdefault(topic, []).append(subscription)
        if first:
            self._command(b"subscribe", topic)
        return subscription

    def remove(self, subscription: Subscription[bytes]) -> None:
        with self._lock:
            subscriptions = self._subscriptions.get(subscription.key, [])
            if subscription in subscriptions:
                subscriptions.remove(subscription)
            last = not subscriptions and self._subscriptions.pop(subscription.key, None) is not None
        if last:
            self._command(b"unsubscribe", subscription.key)

    @contextlib.contextmanager
    def expecting(self, nonce: str) -> Iterator[threading.Event]:
        """An event set when the ready mark ``nonce`` arrives."""
        event = threading.Event()
        with self._lock:
            self._marks[nonce] = event
        try:
            yield event
        finally:
            with self._lock:
                self._marks.pop(nonce, None)

    def stop(self) -> None:
        """Stop the thread (it closes its sockets) and close the command socket."""
        self._command(b"stop")
        if threading.current_thread() is not self._thread:
            self._thread.join()
        with self._commands_lock:
            self._commands.close(linger=0)

    def _command(self, *frames: bytes) -> None:
        with self._commands_lock:
            if self._commands.closed:
                return
            try:
                self._commands.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:  # only if the listener thread has died
                logger.warning("remote venue: the fill listener is not taking commands ({!r} lost)", frames[0])

    def _listen(self) -> None:
        poller = zmq.Poller()
        poller.register(self._inbox, zmq.POLLIN)
        poller.register(self._feed, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if self._inbox in ready:
                    command, *topic = self._inbox.recv_multipart()
                    if command == b"stop":
                        return
                    if command == b"subscribe":
                        self._feed.subscribe(topic[0])
                    elif command == b"unsubscribe":
                        self._feed.unsubscribe(topic[0])
                if self._feed in ready:
                    self._dispatch(self._feed.recv_multipart())
        finally:
            self._feed.close(linger=0)
            self._inbox.close(linger=0)

    def _dispatch(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            logger.warning("remote venue: ignored a fill feed message of {} frames", len(frames))
            return
        topic, payload = frames
        try:
            item = feed_decoder.decode(payload)
        except msgspec.DecodeError as error:
            logger.warning("remote venue: ignored a malformed push on {} ({})", topic.decode(errors="replace"), error)
            return
        with self._lock:
            if isinstance(item, FillsReady):
                mark = self._marks.get(item.nonce)
                if mark is not None:
                    mark.set()
                return
            subscriptions = list(self._subscriptions.get(topic, ()))
        for subscription in subscriptions:
            subscription.deliver(item)


class RemoteVenue:
    """A `TradingVenue` (plus the simulated venue's operator helpers) whose calls go to a `VenueServer`.

    Safe to call from many threads: each calling thread gets its own socket. A call with no
    answer within ``timeout`` seconds raises `VenueTimeout` - the call may or may not have taken
    effect, exactly as with the venue itself: ask again by client id - and that thread's socket
    is replaced, so a late answer cannot be taken for the next call's. The venue's errors are
    raised again as the same `VenueError` subclass. Fill callbacks run on one listener thread:
    keep them quick (send a message), and do not call `subscribe_fills` from inside one.
    Call `close` (or use it as a context manager) when no call is in flight; nothing is left open.
    """

    def __init__(
        self,
        rpc_endpoint: str,
        fills_endpoint: str,
        *,
        timeout: float = 5.0,
        context: zmq.Context[Any] | None = None,
        keys: str | os.PathLike[str] | None = None,
    ) -> None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.rpc_endpoint = rpc_endpoint
        self.fills_endpoint = fills_endpoint
        self.keys = keys
        self.timeout = timeout
        self._context = context or zmq.Context.instance()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sockets: dict[threading.Thread, zmq.Socket[bytes]] = {}  # every open call socket, by its thread
        self._listener: _FillListener | None = None
        self._ids = itertools.count(1)
        self._closed = False

    def __enter__(self) -> RemoteVenue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every socket this client opened and stop its fill listener (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sockets, self._sockets = list(self._sockets.values()), {}
            listener, self._listener = self._listener, None
        for socket in sockets:
            socket.close(linger=0)
        if listener is not None:
            listener.stop()

    def subscribe_fills(self, exchange: Exchange, account: str, callback: Callable[[Fill], None]) -> FillSubscription:
        """Push every later fill of the account to ``callback`` (on the listener thread).

        Returns once the server publishes the account's fills and this client's subscription has
        reached it, so no fill after the return is missed.
        """
        feed = topic(exchange, account)
        with self._lock:
            if self._closed:
                raise RuntimeError("this RemoteVenue is closed")
            if self._listener is None:
                self._listener = _FillListener(self._context, self.fills_endpoint, self.keys)
            listener = self._listener
        subscription = listener.add(feed, callback)
        try:
            self._call("subscribe_fills", exchange=exchange, account=account)
            self._await_ready_mark(listener, exchange, account)
        except BaseException:
            subscription.cancel()
            raise
        return subscription

    # --- the wire ---------------------------------------------------------------------------

    def _call(self, method: str, **args: Any) -> Any:
        """Send one request on this thread's socket and wait for its reply (or raise)."""
        call_id = next(self._ids)
        request = encoder.encode(Request(id=call_id, method=method, args=msgspec.Raw(encoder.encode(args))))
        socket = self._socket()
        try:
            socket.send(request, zmq.NOBLOCK)
        except zmq.Again:
            raise VenueUnavailable(f"{method} not sent: the venue at {self.rpc_endpoint} cannot take it") from None
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not socket.poll(math.ceil(remaining * 1000)):
                self._drop_socket(socket)
                raise VenueTimeout(
                    f"no answer to {method} from the venue at {self.rpc_endpoint} within {self.timeout} s"
                )
            try:
                reply = reply_decoder.decode(socket.recv())
            except msgspec.DecodeError as error:
                raise VenueError(f"malformed reply to {method}: {error}") from None
            if reply.id == call_id:
                break
            logger.warning(
                "remote venue: dropped a reply to call {} while waiting for {} ({})", reply.id, call_id, method
            )
        if reply.error is not None:
            raise venue_error(reply.error, reply.message)
        if isinstance(reply.result, msgspec.UnsetType):
            raise VenueError(f"the reply to {method} has neither a result nor an error")
        try:
            return WIRE[method].result.decode(reply.result)
        except msgspec.DecodeError as error:
            raise VenueError(f"malformed result of {method}: {error}") from None

    def _socket(self) -> zmq.Socket[bytes]:
        socket: zmq.Socket[bytes] | None = getattr(self._local, "socket", None)
        if socket is not None and not socket.closed:
            return socket
        with self._lock:
            if self._closed:
                raise RuntimeError("this RemoteVenue is closed")
            for thread in [thread for thread in self._sockets if not thread.is_alive()]:
                self._sockets.pop(thread).close(linger=0)  # its thread is gone: nobody uses it
            socket = self._context.socket(zmq.DEALER)
            socket.linger = 0
            if self.keys is not None:
                curve_client(socket, self.keys)
            socket.connect(self.rpc_endpoint)
            self._sockets[threading.current_thread()] = socket
        self._local.socket = socket
        return socket

    def _drop_socket(self, socket: zmq.Socket[bytes]) -> None:
        """Close this thread's socket, so a late reply to its call reaches nobody."""
        with self._lock:
            if self._sockets.get(threading.current_thread()) is socket:
                del self._sockets[threading.current_thread()]
        socket.close(linger=0)
        self._local.socket = None

    def _await_ready_mark(self, listener: _FillListener, exchange: Exchange, account: str) -> None:
        """Ask the server for ready marks on the account's topic until one arrives (zguide's
        answer to the slow-joiner problem): from then on no published fill is missed."""
        nonce = uuid.uuid4().hex
        deadline = time.monotonic() + self.timeout
        with listener.expecting(nonce) as marked:
            while True:
                self._call("fills_ready", exchange=exchange, account=account, nonce=nonce)
                if marked.wait(min(_MARK_RETRY, max(0.0, deadline - time.monotonic()))):
                    return
                if time.monotonic() >= deadline:
                    name = topic(exchange, account).decode()
                    raise VenueTimeout(f"the fills of {name} did not reach this client within {self.timeout} s")

    def __getattr__(self, name: str) -> Any:  # for type checkers: the wire methods are set below
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _remote_method(name: str) -> Callable[..., Any]:
    """The client method for wire method ``name``: same signature and docstring as the venue's."""
    source = getattr(TradingVenue, name, None) or getattr(SimulatedVenue, name)
    signature = inspect.signature(source)

    def call(self: RemoteVenue, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        return self._call(name, **{k: v for k, v in bound.arguments.items() if k != "self"})

    call.__name__ = call.__qualname__ = name
    call.__doc__ = source.__doc__
    call.__signature__ = signature  # type: ignore[attr-defined]
    return call


for _name in WIRE:
    if _name not in ("subscribe_fills", "fills_ready"):
        setattr(RemoteVenue, _name, _remote_method(_name))
