"""The Prometheus scrape endpoint: prometheus-client's WSGI app on a stdlib server thread, per server.

prometheus-client's `start_http_server` does the same but polls for shutdown every 0.5 s, which every
stop (and every test server) would wait for; this one polls every 50 ms.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from toasty_server.access.hosts import is_loopback

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from toasty_server.config import Settings

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05


def start_metrics(registry: CollectorRegistry, settings: Settings) -> MetricsEndpoint | None:
    """Serve `registry` as the settings say; a busy port is logged, not fatal (9090 is also Prometheus's
    own default port, and losing metrics must not keep notifications from working)."""
    if not settings.metrics_enabled:
        return None
    try:
        endpoint = MetricsEndpoint.start(
            registry, settings.host, settings.metrics_port, certfile=settings.tls_cert, keyfile=settings.tls_key
        )
    except OSError as exc:
        log.warning(
            "metrics not served: cannot listen on %s:%d (%s); set TOASTY_METRICS_PORT to a free port "
            "(0 picks one) or TOASTY_METRICS_ENABLED=false",
            settings.host,
            settings.metrics_port,
            exc.strerror or exc,
        )
        return None
    log.info("metrics at %s", endpoint.url)
    return endpoint


def _loopback_hosts_only(app: WSGIApplication) -> WSGIApplication:
    """Refuse a request naming a non-loopback host, as the web page does: through DNS rebinding a web page
    elsewhere could otherwise read the metrics (agent and client ids among them) of a loopback server."""

    def checked(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST", "")
        if host and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"this metrics endpoint only answers to localhost\n"]
        return app(environ, start_response)

    return checked


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No access line on stderr per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        return None


class MetricsEndpoint:
    """`GET /metrics` on host:port. Port 0 picks a free port, read back from `port`."""

    def __init__(self, httpd: WSGIServer, host: str, *, tls: bool = False) -> None:
        self._httpd = httpd
        self.host = host
        self.scheme = "https" if tls else "http"
        self.port: int = httpd.server_port
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, name="toasty-metrics", daemon=True
        )
        self._thread.start()

    @classmethod
    def start(
        cls,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        certfile: Path | None = None,
        keyfile: Path | None = None,
    ) -> MetricsEndpoint:
        # "localhost" may resolve to ::1 only; scrapers and users mostly mean 127.0.0.1.
        bind = "127.0.0.1" if host == "localhost" else host.strip("[]")
        server_class = _Server6 if ":" in bind else _Server
        app = make_wsgi_app(registry)
        if is_loopback(bind):
            app = _loopback_hosts_only(app)
        httpd = make_server(bind, port, app, server_class, handler_class=_QuietHandler)
        if certfile is not None and keyfile is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(certfile, keyfile)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        return cls(httpd, bind, tls=certfile is not None)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/metrics"

    async def stop(self) -> None:
        # shutdown() waits for serve_forever's next poll: keep that wait off the event loop.
        await asyncio.to_thread(self._httpd.shutdown)
        self._httpd.server_close()
        self._thread.join(timeout=2.0)
