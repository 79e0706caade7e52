"""Bounds on the HTTP listener's connections: how many, and how long one may sit without a request.

aiohttp keeps every accepted connection until its client closes it, so half-open or trickling clients
(slowloris) could hold sockets and memory without limit. `ConnectionGuard` hooks the aiohttp server's
connection bookkeeping:

- past `max_connections`, a new connection is answered `503` and closed at once;
- a connection with no request in progress for `idle_seconds` is closed: one that never completes its
  headers, and an idle keep-alive one. An event stream is a request in progress, so it is never cut here
  (its reader is bounded by the write timeout, see `http.routes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler

from toasty_server.observability.metrics import ServerMetrics

log = logging.getLogger(__name__)

SWEEP_SECONDS = 0.5
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refusal(limit: int) -> bytes:
    body = json.dumps(
        {
            "error": {
                "code": "UNAVAILABLE",
                "reason": "TOO_MANY_CONNECTIONS",
                "message": f"the server holds {limit} HTTP connections (TOASTY_HTTP_MAX_CONNECTIONS); retry shortly",
            }
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class ConnectionGuard:
    """Counts the connections of one aiohttp `web.Server` and closes the excess and the idle ones."""

    def __init__(self, max_connections: int, idle_seconds: float, metrics: ServerMetrics) -> None:
        self.max_connections = max_connections
        self.idle_seconds = idle_seconds
        self._metrics = metrics
        self._idle_since: dict[RequestHandler, float] = {}  # open connections with no request running
        self._busy: dict[RequestHandler, int] = {}  # connections with requests running, and how many
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def open_connections(self) -> int:
        return len(self._idle_since) + len(self._busy)

    def attach(self, server: web.Server) -> None:
        """Wrap `server`'s connection hooks (aiohttp calls them from each RequestHandler)."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
            made(handler, transport)
            if self.open_connections >= self.max_connections:
                self._metrics.http_connections_refused.inc()
                transport.write(_refusal(self.max_connections))
                handler.force_close()
                transport.close()
                return
            self._idle_since[handler] = time.monotonic()

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            self._idle_since.pop(handler, None)
            self._busy.pop(handler, None)
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="toasty-http-idle")

    def middleware(self) -> Middleware:
        """The outermost middleware: a request in progress keeps its connection from counting as idle."""

        @web.middleware
        async def busy(request: web.Request, handler: Handler) -> web.StreamResponse:
            async with self.request(request):
                return await handler(request)

        return busy

    @contextlib.asynccontextmanager
    async def request(self, request: web.Request) -> AsyncIterator[None]:
        """Marks the request's connection busy for the request's life (the middleware wraps each one)."""
        handler = request.protocol
        if not isinstance(handler, RequestHandler) or (handler not in self._idle_since and handler not in self._busy):
            yield
            return
        self._idle_since.pop(handler, None)
        self._busy[handler] = self._busy.get(handler, 0) + 1
        try:
            yield
        finally:
            left = self._busy.pop(handler, 1) - 1
            if left:
                self._busy[handler] = left
            elif handler.transport is not None and not handler.transport.is_closing():
                self._idle_since[handler] = time.monotonic()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            cutoff = time.monotonic() - self.idle_seconds
            for handler, since in list(self._idle_since.items()):
                if since < cutoff:
                    self._idle_since.pop(handler, None)
                    self._metrics.http_connections_idle_closed.inc()
                    handler.force_close()
                    if handler.transport is not None:
                        handler.transport.close()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
