"""Open the gRPC listener the settings ask for: TCP (TLS when configured) or a Unix socket, 0600.

The port is never shared: grpc's default SO_REUSEPORT is turned off (`NO_PORT_SHARING`, see app), so a
second hub on a port in use is refused, and the error names the holder when the OS tells it.

Binding failures become OSError naming the setting, which `toasty-server` reports and exits on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from toasty_server.access.port_owner import port_owner

if TYPE_CHECKING:
    from toasty_server.config import Settings

log = logging.getLogger(__name__)

SOCKET_MODE = 0o600


@dataclass(frozen=True, slots=True)
class Listener:
    port: int  # 0 on a Unix socket
    address: str  # what a client dials: host:port or unix:/path


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    try:
        chain, key = settings.tls_cert.read_bytes(), settings.tls_key.read_bytes()
    except OSError as exc:
        raise OSError(f"tls_cert/tls_key (TOASTY_TLS_CERT/TOASTY_TLS_KEY): cannot read: {exc}") from None
    return grpc.ssl_server_credentials([(key, chain)])


def listen(server: grpc.aio.Server, settings: Settings) -> Listener:
    credentials = server_credentials(settings)
    if settings.unix_socket is not None:
        return _listen_unix(server, settings.unix_socket, credentials)
    target = f"{settings.host}:{settings.port}"
    try:
        port = _add_port(server, target, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        holder = port_owner(settings.port) if settings.port else None
        if holder is not None:
            raise OSError(f"cannot listen on {target} (TOASTY_HOST/TOASTY_PORT): already in use by {holder}")
        raise OSError(f"cannot listen on {target} (TOASTY_HOST/TOASTY_PORT): in use or not an address of this machine")
    host = "127.0.0.1" if settings.host in ("localhost", "0.0.0.0") else settings.host.strip("[]")
    return Listener(port, f"[{host}]:{port}" if ":" in host else f"{host}:{port}")


def _listen_unix(server: grpc.aio.Server, path: Path, credentials: grpc.ServerCredentials | None) -> Listener:
    """Bind a Unix socket only its owner can connect to (created under umask 177, then chmod 600)."""
    _remove_stale_socket(path)
    target = f"unix:{path}"
    previous = os.umask(0o177)
    try:
        _add_port(server, target, credentials)
    except RuntimeError:
        raise OSError(f"cannot listen on the Unix socket {path} (TOASTY_UNIX_SOCKET)") from None
    finally:
        os.umask(previous)
    os.chmod(path, SOCKET_MODE)
    return Listener(0, target)


def _add_port(server: grpc.aio.Server, target: str, credentials: grpc.ServerCredentials | None) -> int:
    if credentials is None:
        return server.add_insecure_port(target)
    return server.add_secure_port(target, credentials)


def _remove_stale_socket(path: Path) -> None:
    """A socket left by a killed server is removed; a live one, or any other file, is an error."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"unix_socket (TOASTY_UNIX_SOCKET): {path} exists and is not a socket; choose another path")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            log.info("removing the stale socket %s", path)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
    raise OSError(f"unix_socket (TOASTY_UNIX_SOCKET): another server is listening on {path}")
