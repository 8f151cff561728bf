"""One venue shared by many processes: `VenueServer` serves a venue over ZeroMQ and `RemoteVenue`
is the `TradingVenue` an actor in another process calls instead (a REST + websocket API).

The wire, all MessagePack (any MessagePack client can speak it):

- **Calls** go to the server's ROUTER socket, one frame per request (a REQ client's empty
  delimiter frame is kept and echoed): ``{"id": 7, "method": "transfer", "args": {...}}``, the
  arguments by name as in `TradingVenue` (enums as their string values). The answer is one
  frame, ``{"id": 7, "result": ...}`` (a message result is its codec form, with its ``type``), or
  ``{"id": 7, "error": "VenueRejected", "message": "..."}``: ``error`` names the `VenueError`
  class to raise. Any other exception on the server comes back as ``"VenueError"`` with a
  message naming it; a request that cannot be read gets ``"id": null``.
- **Fills** are published on the server's PUB socket as two frames, the topic
  ``b"kraken.main"`` (exchange.account) and the `Fill` in its codec form. The same topic also
  carries ``{"type": "FillsReady", "nonce": "..."}``: the mark a client asks for (method
  ``fills_ready``) to learn that its subscription has reached the server.
"""

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
from dataclasses import dataclass
from typing import Any, get_type_hints

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
from actors.venues.simulated import Movement
from messages.codec import encode
from messages.common import AccountRef, Currency, Exchange
from messages.trading import Fill, Order, OrderType, Side, Ticker
from messages.venue import Deposit, TransferResult
from supervisor.transport.keys import allow_clients, curve_client, curve_server

__all__ = ["RemoteVenue", "VenueServer"]

_MARK_RETRY = 0.05  # seconds between asks for a fill feed's ready mark


class _Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One call: ``method`` with its ``args`` by name, answered by a `_Reply` with the same ``id``."""

    id: int
    method: str
    args: msgspec.Raw


class _Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The answer to one call: its ``result``, or the ``error`` class name and ``message``."""

    id: int | None
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    error: str | None = None
    message: str = ""


class _FillsReady(msgspec.Struct, frozen=True, tag="FillsReady"):
    """Published on a fill topic when a client asks, so it knows its subscription reached the server."""

    nonce: str


_encoder = msgspec.msgpack.Encoder()
_request_decoder = msgspec.msgpack.Decoder(_Request)
_reply_decoder = msgspec.msgpack.Decoder(_Reply)
_feed_decoder = msgspec.msgpack.Decoder(Fill | _FillsReady)


def _topic(exchange: Exchange, account: str) -> bytes:
    return str(AccountRef(Exchange(exchange), account)).encode()


def _ipc_path(endpoint: str) -> str | None:
    return endpoint.removeprefix("ipc://") if endpoint.startswith("ipc://") else None


def _failure(call_id: int | None, error: str, message: str) -> bytes:
    return _encoder.encode(_Reply(id=call_id, error=error, message=message))


def _venue_error(name: str, message: str) -> VenueError:
    """The `VenueError` subclass called ``name`` with ``message``, or a plain `VenueError` naming it."""
    classes: list[type[VenueError]] = [VenueError]
    while classes:
        cls = classes.pop()
        if cls.__name__ == name:
            return cls(message)
        classes.extend(cls.__subclasses__())
    return VenueError(f"{name}: {message}")


class VenueServer:
    """Serves ``venue`` (every `TradingVenue` call and the simulated venue's operator helpers) to
    `RemoteVenue` clients: calls on a ROUTER socket at ``rpc_endpoint``, fills published at
    ``fills_endpoint``.

    One server thread answers the calls one at a time, in arrival order. A malformed request
    gets an error answer and never stops the server. `start` and `stop` are idempotent; the
    server is a context manager. `stop` closes its sockets and removes its ``ipc://`` files;
    it leaves ``venue`` open (closing the venue is its owner's job).
    """

    def __init__(self, venue: TradingVenue, rpc_endpoint: str, fills_endpoint: str, *,
                 context: zmq.Context[Any] | None = None, keys: str | os.PathLike[str] | None = None) -> None:
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
        self._feeds: dict[tuple[Exchange, str], FillSubscription] = {}  # touched by the server thread only while it runs

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
                path = _ipc_path(endpoint)
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
            request = _request_decoder.decode(payload)
        except msgspec.DecodeError as error:
            logger.warning("venue server: malformed request ({})", error)
            return _failure(None, VenueError.__name__, f"malformed request: {error}")
        wire = _WIRE.get(request.method)
        handler = self._handler(request.method) if wire else None
        if wire is None or handler is None:
            logger.warning("venue server: unknown method {!r}", request.method)
            return _failure(request.id, VenueError.__name__, f"unknown method {request.method!r}")
        try:
            args = msgspec.msgpack.decode(request.args, type=wire.args)
        except msgspec.DecodeError as error:
            logger.warning("venue server: bad arguments to {} ({})", request.method, error)
            return _failure(request.id, VenueError.__name__, f"bad arguments to {request.method}: {error}")
        try:
            result = handler(**msgspec.structs.asdict(args))
            return _encoder.encode(_Reply(id=request.id, result=msgspec.Raw(_encoder.encode(result))))
        except VenueError as error:
            return _failure(request.id, type(error).__name__, str(error))
        except Exception as error:
            logger.exception("venue server: {} failed", request.method)
            return _failure(request.id, VenueError.__name__, f"{type(error).__name__}: {error}")

    def _handler(self, method: str) -> Callable[..., Any] | None:
        if method == "subscribe_fills":
            return self._subscribe_fills
        if method == "fills_ready":
            return self._fills_ready
        handler: Callable[..., Any] | None = getattr(self.venue, method, None)
        return handler

    def _subscribe_fills(self, exchange: Exchange, account: str) -> None:
        """Publish the account's fills (the venue's call, so its refusals and faults reach the client)."""
        topic = _topic(exchange, account)
        subscription = self.venue.subscribe_fills(exchange, account, lambda fill: self._publish(topic, encode(fill)))
        if (exchange, account) in self._feeds:
            subscription.cancel()  # already published: one copy of each fill is enough
        else:
            self._feeds[(exchange, account)] = subscription
            logger.info("venue server: publishing the fills of {}", topic.decode())

    def _fills_ready(self, exchange: Exchange, account: str, nonce: str) -> None:
        """Publish a ready mark on the account's topic."""
        self._publish(_topic(exchange, account), _encoder.encode(_FillsReady(nonce)))

    def _publish(self, topic: bytes, payload: bytes) -> None:
        with self._publisher_lock:
            if self._publisher is None:
                logger.debug("venue server stopped: not publishing on {}", topic.decode())
                return
            try:
                self._publisher.send_multipart([topic, payload], zmq.NOBLOCK)
            except zmq.Again:
                logger.warning("venue server: fill feed {} is full; a push was dropped", topic.decode())


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
            item = _feed_decoder.decode(payload)
        except msgspec.DecodeError as error:
            logger.warning("remote venue: ignored a malformed push on {} ({})", topic.decode(errors="replace"), error)
            return
        with self._lock:
            if isinstance(item, _FillsReady):
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

    def __init__(self, rpc_endpoint: str, fills_endpoint: str, *, timeout: float = 5.0,
                 context: zmq.Context[Any] | None = None, keys: str | os.PathLike[str] | None = None) -> None:
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

    # --- the Venue interface ----------------------------------------------------------------

    def fetch_balance(self, exchange: Exchange, account: str) -> dict[Currency, float]:
        return self._call("fetch_balance", exchange=exchange, account=account)  # type: ignore[no-any-return]

    def transfer(
        self,
        client_id: str,
        from_exchange: Exchange,
        from_account: str,
        to_exchange: Exchange,
        to_account: str,
        currency: Currency,
        amount: float,
    ) -> TransferResult:
        return self._call(  # type: ignore[no-any-return]
            "transfer",
            client_id=client_id,
            from_exchange=from_exchange,
            from_account=from_account,
            to_exchange=to_exchange,
            to_account=to_account,
            currency=currency,
            amount=amount,
        )

    def fetch_transfer(self, client_id: str) -> TransferResult | None:
        return self._call("fetch_transfer", client_id=client_id)  # type: ignore[no-any-return]

    def fetch_deposits(self, exchange: Exchange, account: str) -> list[Deposit]:
        return self._call("fetch_deposits", exchange=exchange, account=account)  # type: ignore[no-any-return]

    # --- trading ------------------------------------------------------------------------------

    def fetch_ticker(self, market: str) -> Ticker:
        return self._call("fetch_ticker", market=market)  # type: ignore[no-any-return]

    def create_order(
        self,
        exchange: Exchange,
        account: str,
        market: str,
        side: Side,
        order_type: OrderType,
        quantity: float,
        price: float | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        return self._call(  # type: ignore[no-any-return]
            "create_order",
            exchange=exchange,
            account=account,
            market=market,
            side=side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            client_order_id=client_order_id,
        )

    def cancel_order(self, order_id: str) -> Order:
        return self._call("cancel_order", order_id=order_id)  # type: ignore[no-any-return]

    def fetch_order(self, order_id: str) -> Order:
        return self._call("fetch_order", order_id=order_id)  # type: ignore[no-any-return]

    def fetch_open_orders(self, exchange: Exchange, account: str) -> list[Order]:
        return self._call("fetch_open_orders", exchange=exchange, account=account)  # type: ignore[no-any-return]

    def fetch_order_by_client_id(self, exchange: Exchange, account: str, client_order_id: str) -> Order | None:
        return self._call(  # type: ignore[no-any-return]
            "fetch_order_by_client_id", exchange=exchange, account=account, client_order_id=client_order_id
        )

    def fetch_fills(self, exchange: Exchange, account: str, since: float) -> list[Fill]:
        return self._call("fetch_fills", exchange=exchange, account=account, since=since)  # type: ignore[no-any-return]

    def subscribe_fills(self, exchange: Exchange, account: str, callback: Callable[[Fill], None]) -> FillSubscription:
        """Push every later fill of the account to ``callback`` (on the listener thread).

        Returns once the server publishes the account's fills and this client's subscription has
        reached it, so no fill after the return is missed.
        """
        topic = _topic(exchange, account)
        with self._lock:
            if self._closed:
                raise RuntimeError("this RemoteVenue is closed")
            if self._listener is None:
                self._listener = _FillListener(self._context, self.fills_endpoint, self.keys)
            listener = self._listener
        subscription = listener.add(topic, callback)
        try:
            self._call("subscribe_fills", exchange=exchange, account=account)
            self._await_ready_mark(listener, exchange, account)
        except BaseException:
            subscription.cancel()
            raise
        return subscription

    # --- operator helpers of the simulated venue ------------------------------------------

    def all_balances(self) -> dict[tuple[Exchange, str], dict[Currency, float]]:
        return self._call("all_balances")  # type: ignore[no-any-return]

    def conservation_error(self) -> dict[Currency, float]:
        return self._call("conservation_error")  # type: ignore[no-any-return]

    def audit(self) -> list[Movement]:
        return self._call("audit")  # type: ignore[no-any-return]

    def settle(self) -> None:
        self._call("settle")

    def in_flight(self, currency: Currency) -> float:
        return self._call("in_flight", currency=currency)  # type: ignore[no-any-return]

    def fees_collected(self, currency: Currency) -> float:
        return self._call("fees_collected", currency=currency)  # type: ignore[no-any-return]

    def deposit(self, exchange: Exchange, account: str, currency: Currency, amount: float, note: str = "external") -> Deposit:
        return self._call(  # type: ignore[no-any-return]
            "deposit", exchange=exchange, account=account, currency=currency, amount=amount, note=note
        )

    def external_adjust(self, exchange: Exchange, account: str, currency: Currency, delta: float, note: str) -> None:
        self._call("external_adjust", exchange=exchange, account=account, currency=currency, delta=delta, note=note)

    # --- the wire ---------------------------------------------------------------------------

    def _call(self, method: str, **args: Any) -> Any:
        """Send one request on this thread's socket and wait for its reply (or raise)."""
        call_id = next(self._ids)
        request = _encoder.encode(_Request(id=call_id, method=method, args=msgspec.Raw(_encoder.encode(args))))
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
                raise VenueTimeout(f"no answer to {method} from the venue at {self.rpc_endpoint} within {self.timeout} s")
            try:
                reply = _reply_decoder.decode(socket.recv())
            except msgspec.DecodeError as error:
                raise VenueError(f"malformed reply to {method}: {error}") from None
            if reply.id == call_id:
                break
            logger.warning("remote venue: dropped a reply to call {} while waiting for {} ({})", reply.id, call_id, method)
        if reply.error is not None:
            raise _venue_error(reply.error, reply.message)
        if isinstance(reply.result, msgspec.UnsetType):
            raise VenueError(f"the reply to {method} has neither a result nor an error")
        try:
            return _WIRE[method].result.decode(reply.result)
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
                    topic = _topic(exchange, account).decode()
                    raise VenueTimeout(f"the fills of {topic} did not reach this client within {self.timeout} s")


@dataclass(frozen=True)
class _WireMethod:
    """How one method's arguments and result are typed on the wire."""

    args: type[msgspec.Struct]
    result: msgspec.msgpack.Decoder[Any]

    @classmethod
    def of(cls, function: Callable[..., Any]) -> _WireMethod:
        """The wire types read off ``function``'s annotations (``self`` left out)."""
        hints = get_type_hints(function)
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for parameter in inspect.signature(function).parameters.values():
            if parameter.name == "self":
                continue
            if parameter.default is inspect.Parameter.empty:
                fields.append((parameter.name, hints[parameter.name]))
            else:
                fields.append((parameter.name, hints[parameter.name], parameter.default))
        args = msgspec.defstruct(f"{function.__name__}_args", fields, frozen=True, forbid_unknown_fields=True)
        return cls(args=args, result=msgspec.msgpack.Decoder(hints["return"]))


_SERVED = (
    "fetch_balance",
    "transfer",
    "fetch_transfer",
    "fetch_deposits",
    "fetch_ticker",
    "create_order",
    "cancel_order",
    "fetch_order",
    "fetch_open_orders",
    "fetch_order_by_client_id",
    "fetch_fills",
    "all_balances",
    "conservation_error",
    "audit",
    "settle",
    "in_flight",
    "fees_collected",
    "deposit",
    "external_adjust",
)
_WIRE: dict[str, _WireMethod] = {name: _WireMethod.of(getattr(RemoteVenue, name)) for name in _SERVED} | {
    "subscribe_fills": _WireMethod.of(VenueServer._subscribe_fills),
    "fills_ready": _WireMethod.of(VenueServer._fills_ready),
}
"""Every method a `VenueServer` answers; the client's own signatures are the schema."""
