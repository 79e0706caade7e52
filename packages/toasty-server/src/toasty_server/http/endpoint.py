"""The HTTP listener: an aiohttp application on the server's own event loop, on the gRPC host (so the
same loopback-or-TLS rule applies) and `TOASTY_HTTP_PORT`, with TLS when the server has a certificate.

A port that cannot be bound stops start-up with an OSError naming the setting: unlike metrics, a user
who turned HTTP on relies on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from dataclasses import dataclass

from aiohttp import web

from toasty_server.access.credentials import Credentials
from toasty_server.access.hosts import is_loopback
from toasty_server.config import Settings
from toasty_server.http.calls import CallChecks
from toasty_server.http.connections import ConnectionGuard
from toasty_server.http.routes import ROUTES, Handlers
from toasty_server.interceptors.ratelimit import AgentLimiters
from toasty_server.interceptors.shutdown import ShutdownGate
from toasty_server.observability.metrics import ServerMetrics
from toasty_server.service.api import ToastyApi

log = logging.getLogger(__name__)

STOP_SECONDS = 0.5  # requests still running when the listener stops (the drain already waited) get this long


@dataclass(frozen=True, slots=True)
class HttpParts:
    """What the HTTP endpoint shares with the gRPC side of the same server."""

    api: ToastyApi
    metrics: ServerMetrics
    gate: ShutdownGate
    credentials: Credentials
    limiters: AgentLimiters | None


class HttpEndpoint:
    """The running HTTP API and web page. `port` is the bound port (useful with http_port=0)."""

    def __init__(self, runner: web.AppRunner, sock: socket.socket, host: str, closing: asyncio.Event, tls: bool):
        self._runner = runner
        self._closing = closing
        self.host = host
        self.port: int = sock.getsockname()[1]
        self.scheme = "https" if tls else "http"
        self.guard: ConnectionGuard | None = None

    @classmethod
    async def start(cls, parts: HttpParts, settings: Settings) -> HttpEndpoint:
        checks = CallChecks(
            routes=ROUTES,
            metrics=parts.metrics,
            gate=parts.gate,
            credentials=parts.credentials,
            limiters=parts.limiters,
            max_id_chars=settings.max_id_chars,
            loopback_only=is_loopback(settings.host),
        )
        context = _tls_context(settings)
        closing = asyncio.Event()
        guard = ConnectionGuard(settings.http_max_connections, settings.http_idle_timeout_seconds, parts.metrics)
        app = web.Application(
            middlewares=[guard.middleware(), checks.middleware()], client_max_size=settings.max_message_bytes
        )
        handlers = Handlers(parts.api, checks, parts.metrics, closing, settings.http_write_timeout_seconds)
        handlers.add_to(app)
        # handler_cancellation: a client that goes away ends its request (and releases its subscription).
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=STOP_SECONDS)
        await runner.setup()
        assert runner.server is not None  # set by setup()
        guard.attach(runner.server)
        host = "127.0.0.1" if settings.host == "localhost" else settings.host.strip("[]")
        try:
            sock = _bind(host, settings.http_port)
        except OSError as exc:
            await runner.cleanup()
            raise OSError(
                f"cannot listen on {host}:{settings.http_port} (TOASTY_HTTP_PORT): {exc.strerror or exc}; "
                "choose a free port (0 picks one) or TOASTY_HTTP_ENABLED=false"
            ) from None
        site = web.SockSite(runner, sock, ssl_context=context)
        await site.start()
        endpoint = cls(runner, sock, host, closing, tls=context is not None)
        endpoint.guard = guard
        log.info("HTTP API and web page at %s", endpoint.url)
        return endpoint

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def close_streams(self) -> None:
        """End the page's snapshot streams (subscriber streams end with the broker's)."""
        self._closing.set()

    async def stop(self) -> None:
        self._closing.set()
        if self.guard is not None:
            await self.guard.close()
        await self._runner.cleanup()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name == "posix":  # as asyncio does: a restart may rebind while old connections linger
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise OSError(f"tls_cert/tls_key (TOASTY_TLS_CERT/TOASTY_TLS_KEY): cannot load: {exc}") from None
    return context
