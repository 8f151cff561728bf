"""CurveZMQ keys for tcp:// endpoints: a server key pair, and the public keys of allowed clients.

A keys folder holds ``server.key`` / ``server.key_secret`` (the hub's pair), ``clients/`` (one
``*.key`` public key per allowed node or client), and optionally ``client.key`` /
``client.key_secret`` (this host's own client pair). `generate_keys` makes a complete folder.
A peer whose public key is not in ``clients/`` is refused by the hub.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

__all__ = ["allow_clients", "client_curve", "curve_client", "curve_server", "generate_keys", "server_curve"]


def generate_keys(folder: str | os.PathLike[str], client: str = "client") -> Path:
    """Create a server pair and one allowed client pair (named ``client``) in ``folder`` (mode 0700)."""
    folder = Path(folder)
    (folder / "clients").mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    if not (folder / "server.key_secret").exists():
        zmq.auth.create_certificates(str(folder), "server")
    public, _ = zmq.auth.create_certificates(str(folder), client)
    (folder / "clients" / f"{client}.key").write_bytes(Path(public).read_bytes())
    return folder


def server_curve(folder: str | os.PathLike[str]) -> tuple[bytes, bytes]:
    """The hub's (public, secret) key pair."""
    public, secret = zmq.auth.load_certificate(str(Path(folder) / "server.key_secret"))
    assert secret is not None
    return public, secret


def client_curve(folder: str | os.PathLike[str], client: str = "client") -> tuple[bytes, bytes, bytes]:
    """(server public, client public, client secret) for a node or client connecting over tcp."""
    folder = Path(folder)
    server_public, _ = zmq.auth.load_certificate(str(folder / "server.key"))
    public, secret = zmq.auth.load_certificate(str(folder / f"{client}.key_secret"))
    assert secret is not None
    return server_public, public, secret


def curve_server(socket: zmq.Socket[Any], folder: str | os.PathLike[str]) -> None:
    """Make ``socket`` a CurveZMQ server with the hub's key pair (admission is `allow_clients`'s job)."""
    public, secret = server_curve(folder)
    socket.setsockopt(zmq.CURVE_SERVER, 1)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
    socket.setsockopt(zmq.CURVE_SECRETKEY, secret)


def curve_client(socket: zmq.Socket[Any], folder: str | os.PathLike[str]) -> None:
    """Make ``socket`` a CurveZMQ client of the hub's key pair, with this host's client pair."""
    server_public, public, secret = client_curve(folder)
    socket.setsockopt(zmq.CURVE_SERVERKEY, server_public)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
    socket.setsockopt(zmq.CURVE_SECRETKEY, secret)


def allow_clients(context: zmq.Context[Any], folder: str | os.PathLike[str]) -> ThreadAuthenticator:
    """Start the authenticator that admits only the public keys in ``folder/clients``; stop it when done."""
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(Path(folder) / "clients"))
    return authenticator
