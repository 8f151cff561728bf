"""Frames over a non-blocking Unix stream socket: a 4-byte length, then the frame.

A direct link between two nodes of one host is a plain Unix socket, not ZeroMQ: a ZeroMQ
message crosses each process's ZeroMQ I/O thread (four threads woken per hop), a Unix socket
write wakes the reader's thread directly. Measured here (``bench/process_bench.py``): a Python
round trip over a Unix socket ~14 us, over ZeroMQ ipc ~160-190 us.

`FrameStream` never blocks: `send` queues what the kernel does not take yet (`wants_write` says
so, and `flush` sends more when the socket is writable); `receive` returns the whole frames that
have arrived. A length over ``max_frame`` ends the stream (`StreamError`), as ZeroMQ's
``MAXMSGSIZE`` drops a peer; so does a peer that closed its end.
"""

from __future__ import annotations

import socket
from pathlib import Path

__all__ = ["FrameStream", "StreamError", "dial", "listen"]

_LENGTH = 4
_READ_BYTES = 1 << 18


class StreamError(ConnectionError):
    """The stream is over: the peer closed it, broke the framing, or the socket failed."""


def listen(path: Path, backlog: int = 64) -> socket.socket:
    """A non-blocking listening Unix socket at ``path`` (replacing a stale one)."""
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    path.chmod(0o600)
    listener.listen(backlog)
    listener.setblocking(False)
    return listener


def dial(path: str, max_frame: int, timeout: float = 1.0) -> FrameStream:
    """Connect to the listener at ``path``; `OSError` if nobody listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return FrameStream(sock, max_frame)


class FrameStream:
    """One end of a framed Unix stream (see the module docstring)."""

    def __init__(self, sock: socket.socket, max_frame: int) -> None:
        sock.setblocking(False)
        self.socket = sock
        self.fd = sock.fileno()  # kept after close, to stop watching it
        self.max_frame = max_frame
        self._inbox = bytearray()
        self._buffer = bytearray(_READ_BYTES)  # read into, not allocated per read (a large bytes is an mmap)
        self._view = memoryview(self._buffer)
        self._outbox = bytearray()
        self.closed = False

    def fileno(self) -> int:
        return self.fd

    @property
    def wants_write(self) -> bool:
        """Bytes wait for the socket to become writable."""
        return bool(self._outbox)

    def send(self, frame: bytes) -> None:
        """Send ``frame`` whole, now or as the socket drains; `StreamError` if the stream is over."""
        if self.closed:
            raise StreamError("the stream is closed")
        data = len(frame).to_bytes(_LENGTH, "little") + frame
        if self._outbox:
            self._outbox += data  # behind what is still waiting: order kept
            return
        try:
            sent = self.socket.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as error:
            self.close()
            raise StreamError(f"the peer is gone: {error}") from None
        if sent < len(data):
            self._outbox += data[sent:]

    def flush(self) -> None:
        """Send what waits, as far as the socket takes it."""
        while self._outbox and not self.closed:
            try:
                sent = self.socket.send(self._outbox)
            except BlockingIOError:
                return
            except OSError as error:
                self.close()
                raise StreamError(f"the peer is gone: {error}") from None
            del self._outbox[:sent]

    def receive(self) -> list[bytes]:
        """The whole frames that have arrived (none if nothing came); `StreamError` once it is over."""
        if self.closed:
            raise StreamError("the stream is closed")
        try:
            count = self.socket.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError as error:
            self.close()
            raise StreamError(f"the peer is gone: {error}") from None
        if not count:
            self.close()
            raise StreamError("the peer closed the stream")
        inbox = self._inbox
        if not inbox and count >= _LENGTH:  # the common case: one whole frame in one read
            size = int.from_bytes(self._buffer[:_LENGTH], "little")
            if count == _LENGTH + size and size <= self.max_frame:
                return [self._view[_LENGTH:count].tobytes()]
        inbox += self._view[:count]
        frames = []
        start = 0
        while len(inbox) - start >= _LENGTH:
            size = int.from_bytes(inbox[start : start + _LENGTH], "little")
            if size > self.max_frame:
                self.close()
                raise StreamError(f"a frame of {size} bytes is over the limit of {self.max_frame}")
            end = start + _LENGTH + size
            if len(inbox) < end:
                break
            frames.append(bytes(inbox[start + _LENGTH : end]))
            start = end
        del inbox[:start]
        return frames

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._outbox.clear()
            self.socket.close()
