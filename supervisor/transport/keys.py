"""CurveZMQ keys for tcp:// endpoints: the hub's pair, one pair per node (bound to its actor name), one per client.

A keys folder (mode 0700; every secret key file 0600)::

    server.key, server.key_secret       the hub's pair
    nodes/NAME.key(_secret)             node NAME's pair: the key decides which actor a peer is
    clients/NAME.key(_secret)           a client's pair (the CLI, a strategy process, a script)

A peer whose public key is in neither ``nodes/`` nor ``clients/`` is refused by the hub's
authenticator. The authenticator tells the hub which key a connection used (the ZAP User-Id):
a node key gives the actor's name, a client key ``client/NAME``. Copy to another host only the
public keys and the one secret that host needs. `generate_keys` makes a folder.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from supervisor.transport.wire import CLIENT_PREFIX

__all__ = [
    "KeyedAuthenticator",
    "KeysError",
    "allow_clients",
    "client_curve",
    "curve_client",
    "curve_server",
    "generate_keys",
    "missing_node_keys",
    "server_curve",
]

NODES, CLIENTS = "nodes", "clients"


class KeysError(ValueError):
    """A keys folder that is missing, incomplete, or lacks the key a peer needs."""


def _write_key(path: Path, public: bytes, secret: bytes | None) -> None:
    """One certificate file in zmq.auth's format; a secret one is created 0600 (never readable by others)."""
    lines = [
        f"#   ****  Generated on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M:%S} by treasury-actors  ****",
        "#   ZeroMQ CURVE " + ("**Secret** Certificate" if secret else "Public Certificate"),
        "",
        "metadata",
        "curve",
        f'    public-key = "{public.decode()}"',
    ]
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
    with os.fdopen(fd, "w") as file:
        file.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600 if secret else 0o644)  # whatever the umask


def _pair(folder: Path, name: str) -> None:
    if (folder / f"{name}.key_secret").exists():
        return  # keep an existing pair: peers already hold its public key
    public, secret = zmq.curve_keypair()
    _write_key(folder / f"{name}.key", public, None)
    _write_key(folder / f"{name}.key_secret", public, secret)


def generate_keys(
    folder: str | os.PathLike[str], nodes: Iterable[str] = (), clients: Iterable[str] = ("client",)
) -> Path:
    """Create (or complete) a keys folder: the server pair, a pair per node name and per client name."""
    folder = Path(folder)
    nodes, clients = list(nodes), list(clients)
    for name in [*nodes, *clients]:
        if not name or "/" in name or name.startswith("."):
            raise KeysError(f"not a key name: {name!r}")
    for sub in (folder, folder / NODES, folder / CLIENTS):
        sub.mkdir(parents=True, exist_ok=True)
        os.chmod(sub, 0o700)
    _pair(folder, "server")
    for name in nodes:
        _pair(folder / NODES, name)
    for name in clients:
        _pair(folder / CLIENTS, name)
    return folder


def _load(path: Path) -> tuple[bytes, bytes | None]:
    try:
        return zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as error:
        raise KeysError(f"cannot read the key {path}: {error}") from None


def server_curve(folder: str | os.PathLike[str]) -> tuple[bytes, bytes]:
    """The hub's (public, secret) key pair."""
    public, secret = _load(Path(folder) / "server.key_secret")
    if secret is None:
        raise KeysError(f"{folder}/server.key_secret holds no secret key")
    return public, secret


def _secret_path(folder: Path, name: str | None) -> Path:
    if name is not None:
        for sub in (NODES, CLIENTS):
            if (folder / sub / f"{name}.key_secret").exists():
                return folder / sub / f"{name}.key_secret"
        raise KeysError(f"no secret key for {name!r} in {folder} (make one with: bin/run keys {folder} ...)")
    for sub in (CLIENTS, NODES):  # a client key first; a host that runs only a node has only its own key
        found = sorted((folder / sub).glob("*.key_secret"))
        if found:
            return found[0]
    raise KeysError(f"no client or node secret key in {folder} (make one with: bin/run keys {folder})")


def client_curve(folder: str | os.PathLike[str], name: str | None = None) -> tuple[bytes, bytes, bytes]:
    """(server public, own public, own secret) for a node or client connecting over tcp: the pair
    named ``name`` (a node's actor name or a client name), else the first client pair, else the first node pair."""
    folder = Path(folder)
    server_public, _ = _load(folder / "server.key")
    public, secret = _load(_secret_path(folder, name))
    if secret is None:
        raise KeysError(f"the key for {name or 'this client'} in {folder} holds no secret")
    return server_public, public, secret


def missing_node_keys(folder: str | os.PathLike[str], names: Iterable[str]) -> list[str]:
    """The node names in ``names`` without a secret key in ``folder`` (nodes the supervisor would start)."""
    folder = Path(folder)
    return [n for n in names if not (folder / NODES / f"{n}.key_secret").exists()]


def curve_server(socket: zmq.Socket[Any], folder: str | os.PathLike[str]) -> None:
    """Make ``socket`` a CurveZMQ server with the hub's key pair (admission is `allow_clients`'s job)."""
    public, secret = server_curve(folder)
    socket.setsockopt(zmq.CURVE_SERVER, 1)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
    socket.setsockopt(zmq.CURVE_SECRETKEY, secret)


def curve_client(socket: zmq.Socket[Any], folder: str | os.PathLike[str], name: str | None = None) -> None:
    """Make ``socket`` a CurveZMQ client of the hub's key pair, with the pair named ``name`` (see `client_curve`)."""
    server_public, public, secret = client_curve(folder, name)
    socket.setsockopt(zmq.CURVE_SERVERKEY, server_public)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
    socket.setsockopt(zmq.CURVE_SECRETKEY, secret)


class KeyedAuthenticator(ThreadAuthenticator):
    """Admits the public keys of ``nodes/`` and ``clients/``; names each connection after its key
    (the ZAP User-Id a frame carries): the actor name for a node key, ``client/NAME`` for a client key."""

    def __init__(self, context: zmq.Context[Any], folder: Path) -> None:
        super().__init__(context)
        self.user_ids: dict[bytes, str] = {}
        for sub, prefix in ((NODES, ""), (CLIENTS, CLIENT_PREFIX)):
            for path in sorted((folder / sub).glob("*.key")):
                public, _ = _load(path)
                self.user_ids[public] = prefix + path.name.removesuffix(".key")

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self.user_ids.get(z85.encode(client_public_key), CLIENT_PREFIX + "?")


def allow_clients(context: zmq.Context[Any], folder: str | os.PathLike[str]) -> KeyedAuthenticator:
    """Start the authenticator that admits only the public keys in ``folder``'s ``nodes/`` and ``clients/``; stop it when done."""
    folder = Path(folder)
    authenticator = KeyedAuthenticator(context, folder)
    authenticator.start()
    admitted: dict[bytes, bool] = {}
    for sub in (CLIENTS, NODES):
        if (folder / sub).is_dir():
            admitted.update(zmq.auth.load_certificates(str(folder / sub)))
    authenticator.configure_curve(domain="*", location=str(folder / CLIENTS))
    authenticator.certs["*"] = admitted  # the clients' keys and the nodes' keys
    return authenticator
