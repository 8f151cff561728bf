"""`VenueServer`: one venue served to many processes over ZeroMQ (calls on a ROUTER socket, fills
published on a PUB socket), answering every method of the wire table (`actors.venues.remote.wire`)."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import zmq
from loguru import logger

from actors.venues.base import FillSubscription, TradingVenue, VenueError
from actors.venues.remote.wire import (
    WIRE,
    FillsReady,
    Reply,
    encoder,
    failure,
    ipc_path,
    request_decoder,
    topic,
)
from messages.codec import encode
from messages.common import Exchange
from supervisor.transport.keys import allow_clients, curve_server

__all__ = ["VenueServer"]


class VenueServer:
    """Serves ``venue`` (every `TradingVenue` call and the simulated venue's operator helpers) to
    `RemoteVenue` clients: calls on a ROUTER socket at ``rpc_endpoint``, fills published at
    ``fills_endpoint``.

    One server thread answers the calls one at a time, in arrival order. A malformed request
    gets an error answer and never stops the server. `start` and `stop` are idempotent; the
    server is a context manager. `stop` closes its sockets and removes its ``ipc://`` files;
    it leaves ``venue`` open (closing the venue is its owner's job).
    """

    def __init__(
        self,
        venue: TradingVenue,
        rpc_endpoint: str,
        fills_endpoint: str,
        *,
        context: zmq.Context[Any] | None = None,
        keys: str | os.PathLike[str] | None = None,
    ) -> None:
        if (rpc_endpoint.startswith("tcp://") or fills_endpoint.startswith("tcp://")) and keys is None:
            raise ValueError("a tcp:// venue server needs CurveZMQ keys (see supervisor.transport.keys)")
        self.venue = venue
        self.rpc_endpoint = rpc_endpoint
        self.fills_endpoint = fills_endpoint
        self.keys = keys
        # Its own context when it checks keys: one authenticator per context.
        self._context = context or (zmq.Context() if keys is not None else zmq.Context.instance())
        self._authenticator: Any = None
        self._lock = threading.Lock()  # start / stop
        self._thread: threading.Thread | None = None
        self._wake: zmq.Socket[bytes] | None = None  # stop() -> server thread
        self._publisher: zmq.Socket[bytes] | None = None  # used by any thread, always under _publisher_lock
        self._publisher_lock = threading.Lock()
        self._feeds: dict[
            tuple[Exchange, str], FillSubscription
        ] = {}  # touched by the server thread only while it runs

    def __enter__(self) -> VenueServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> VenueServer:
        """Bind both endpoints and start answering (nothing happens if it is already running)."""
        with self._lock:
            if self._thread is not None:
                return self
            wake_address = f"inproc://venue-server-{uuid.uuid4().hex}"
            sockets: list[zmq.Socket[bytes]] = []
            try:
                router = self._context.socket(zmq.ROUTER)
                sockets.append(router)
                router.linger = 0
                publisher = self._context.socket(zmq.PUB)
                sockets.append(publisher)
                publisher.linger = 0
                if self.keys is not None:
                    if self._authenticator is None:
                        self._authenticator = allow_clients(self._context, self.keys)
                    curve_server(router, self.keys)
                    curve_server(publisher, self.keys)
                router.bind(self.rpc_endpoint)
                publisher.bind(self.fills_endpoint)
                woken = self._context.socket(zmq.PAIR)
                sockets.append(woken)
                woken.bind(wake_address)
                wake = self._context.socket(zmq.PAIR)
                sockets.append(wake)
                wake.connect(wake_address)
            except zmq.ZMQError:
                for socket in sockets:
                    socket.close(linger=0)
                raise
            with self._publisher_lock:
                self._publisher = publisher
            self._wake = wake
            self._thread = threading.Thread(target=self._serve, args=(router, woken), name="venue-server", daemon=True)
            self._thread.start()
        logger.info("venue server: calls on {}, fills on {}", self.rpc_endpoint, self.fills_endpoint)
        return self

    def stop(self) -> None:
        """Stop answering, stop the fill feeds, close the sockets (nothing happens if it is stopped)."""
        with self._lock:
            if self._thread is None or self._wake is None:
                return
            with contextlib.suppress(zmq.Again):  # a server thread that died is not listening
                self._wake.send(b"stop", zmq.NOBLOCK)
            self._thread.join()
            self._wake.close(linger=0)
            self._thread, self._wake = None, None
            for feed in self._feeds.values():
                feed.cancel()
            self._feeds.clear()
            with self._publisher_lock:
                if self._publisher is not None:
                    self._publisher.close(linger=0)
                self._publisher = None
            for endpoint in (self.rpc_endpoint, self.fills_endpoint):
                path = ipc_path(endpoint)
                if path:  # libzmq leaves the socket file behind
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
            if self._authenticator is not None:
                self._authenticator.stop()
                self._authenticator = None
        logger.info("venue server on {} stopped", self.rpc_endpoint)

    def _serve(self, router: zmq.Socket[bytes], woken: zmq.Socket[bytes]) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(woken, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if woken in ready:
                    return
                frames = router.recv_multipart()
                try:
                    router.send_multipart([*frames[:-1], self._answer(frames[-1])])
                except Exception:  # the server outlives any one request
                    logger.exception("venue server: could not answer a request")
        finally:
            router.close(linger=0)
            woken.close(linger=0)

    def _answer(self, payload: bytes) -> bytes:
        """The reply to one request frame (never raises for a bad request or a failing venue)."""
        try:
            request = request_decoder.decode(payload)
        except msgspec.DecodeError as error:
            logger.warning("venue server: malformed request ({})", error)
            return failure(None, VenueError.__name__, f"malformed request: {error}")
        wire = WIRE.get(request.method)
        handler = self._handler(request.method) if wire else None
        if wire is None or handler is None:
            logger.warning("venue server: unknown method {!r}", request.method)
            return failure(request.id, VenueError.__name__, f"unknown method {request.method!r}")
        try:
            args = msgspec.msgpack.decode(request.args, type=wire.args)
        except msgspec.DecodeError as error:
            logger.warning("venue server: bad arguments to {} ({})", request.method, error)
            return failure(request.id, VenueError.__name__, f"bad arguments to {request.method}: {error}")
        try:
            result = handler(**msgspec.structs.asdict(args))
            return encoder.encode(Reply(id=request.id, result=msgspec.Raw(encoder.encode(result))))
        except VenueError as error:
            return failure(request.id, type(error).__name__, str(error))
        except Exception as error:
            logger.exception("venue server: {} failed", request.method)
            return failure(request.id, VenueError.__name__, f"{type(error).__name__}: {error}")

    def _handler(self, method: str) -> Callable[..., Any] | None:
        if method == "subscribe_fills":
            return self._subscribe_fills
        if method == "fills_ready":
            return self._fills_ready
        handler: Callable[..., Any] | None = getattr(self.venue, method, None)
        return handler

    def _subscribe_fills(self, exchange: Exchange, account: str) -> None:
        """Publish the account's fills (the venue's call, so its refusals and faults reach the client)."""
        feed = topic(exchange, account)
        subscription = self.venue.subscribe_fills(exchange, account, lambda fill: self._publish(feed, encode(fill)))
        if (exchange, account) in self._feeds:
            subscription.cancel()  # already published: one copy of each fill is enough
        else:
            self._feeds[(exchange, account)] = subscription
            logger.info("venue server: publishing the fills of {}", feed.decode())

    def _fills_ready(self, exchange: Exchange, account: str, nonce: str) -> None:
        """Publish a ready mark on the account's topic."""
        self._publish(topic(exchange, account), encoder.encode(FillsReady(nonce)))

    def _publish(self, topic: bytes, payload: bytes) -> None:
        with self._publisher_lock:
            if self._publisher is None:
                logger.debug("venue server stopped: not publishing on {}", topic.decode())
                return
            try:
                self._publisher.send_multipart([topic, payload], zmq.NOBLOCK)
            except zmq.Again:
                logger.warning("venue server: fill feed {} is full; a push was dropped", topic.decode())
