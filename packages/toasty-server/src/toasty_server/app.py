"""Wiring and lifecycle of one server process.

Start: store → broker → renderer → gRPC (interceptors, service, health, reflection) → metrics endpoint →
HTTP endpoint (when enabled; it shares the gate, credentials and rate buckets with gRPC).
Stop: health NOT_SERVING and new calls refused with UNAVAILABLE → end subscriber streams, gRPC and HTTP
(clients reconnect and resume) → wait, within the grace period, for in-flight calls of both → stop gRPC
→ stop HTTP → flush and close the store → close the desktop backends → stop the metrics endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from toasty_proto import v1
from toasty_server.access.credentials import Credentials
from toasty_server.access.listen import Listener, listen
from toasty_server.access.person_secret import load_or_create
from toasty_server.access.tokens import TokenBook, TokenFileError
from toasty_server.attention.budget import AttentionBudget
from toasty_server.attention.gate import AttentionGate
from toasty_server.attention.quiet import AttentionFile, QuietHours
from toasty_server.attention.shared import SharedLimiters
from toasty_server.broker import Broker
from toasty_server.config import Settings
from toasty_server.http import HttpEndpoint, HttpParts
from toasty_server.interceptors import AgentLimiters, ShutdownGate, build_interceptors, call_policy, rate_policy
from toasty_server.observability.endpoint import MetricsEndpoint, start_metrics
from toasty_server.observability.metrics import ServerMetrics, limits_of
from toasty_server.render.backend import ToastBackend
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.images import ImageCache
from toasty_server.render.selection import choose_backends
from toasty_server.service.api import ToastyApi
from toasty_server.service.interactions import InteractionCoordinator
from toasty_server.service.publish_stream import PublishStreamHandler
from toasty_server.service.registration import register
from toasty_server.service.servicer import NotificationServicer
from toasty_server.service.validation import Limits, Validator
from toasty_server.service.wire import pool as schema_pool
from toasty_server.store import MemoryStore, SharedStore, SQLiteStore, Store, StoreUnavailable
from toasty_server.store.exclusive import HubLock, HubLockError

log = logging.getLogger(__name__)

SERVICE_NAME = v1.NOTIFICATION_SERVICE_PUBLISH.service
PRUNE_INTERVAL_SECONDS = 60.0


def build_store(settings: Settings) -> Store:
    if settings.store == "memory":
        return MemoryStore()
    if settings.store == "postgres":
        assert settings.database_url is not None  # the settings refuse postgres without one
        try:
            from toasty_server.store.postgres import PostgresStore
        except ImportError as exc:
            raise StoreUnavailable(
                f"TOASTY_STORE=postgres needs the PostgreSQL driver: pip install 'toasty-server[postgres]' ({exc})"
            ) from exc
        return PostgresStore(settings.database_url.get_secret_value(), pool_size=settings.postgres_pool_size)
    return SQLiteStore(settings.database_file, synchronous=settings.sqlite_synchronous)


class ToastyServer:
    """One Toasty server: owns the store, broker, renderer and the grpc.aio server."""

    def __init__(self, settings: Settings, *, backends: Sequence[ToastBackend] | None = None) -> None:
        self.settings = settings
        self.broker = Broker(
            build_store(settings), mailbox_depth=settings.mailbox_depth, catch_up_page=settings.catch_up_page
        )
        self.renderer = Renderer(
            choose_backends(settings) if backends is None else backends,
            queue_depth=settings.render_queue_depth,
            concurrency=settings.render_concurrency,
            image_resolver=ImageCache.from_settings(settings).resolve,
            local_image_max_bytes=settings.image_max_bytes,
        )
        self.metrics = ServerMetrics(self.broker, self.renderer, limits=limits_of(settings))
        self.attention_gate = AttentionGate(
            self.renderer,
            quiet_hours=QuietHours.parse(settings.quiet_hours),
            # a throwaway (memory) hub keeps do-not-disturb in memory unless told where to keep it
            state_file=AttentionFile(
                None
                if settings.store == "memory" and settings.attention_state_file is None
                else settings.attention_state_path
            ),
            critical_breaks_through=settings.critical_breaks_through,
            max_held=settings.max_held_toasts,
            page_url=self._page_url,
            on_decision=self.metrics.count_attention,
            max_scheduled=settings.max_scheduled_toasts,
            load_toast=lambda notification_id: self.api.toast_for(notification_id),
            on_expired=lambda notification_id: self.interactions.expire(notification_id),
            collapse_window=settings.collapse_window_seconds,
            deadline_of=self._deadline_of,
        )
        self.interactions = InteractionCoordinator(
            self.broker, self.renderer, longest_wait=settings.retention_max_age_seconds
        )
        self.interactions.take_down = self.attention_gate.withdraw
        self.interactions.hub_action = self.attention_gate.hub_action
        self.api = ToastyApi(self.broker, self.renderer, Validator(Limits.from_settings(settings)), self.interactions)
        self.api.gate = self.attention_gate
        self.health = health.aio.HealthServicer()
        self.interactions.on_outcome = self.metrics.count_interaction
        attention = rate_policy(settings)
        if attention.enabled:
            store = self.broker.store  # several hubs share one budget per agent, kept in their shared store
            limiters = SharedLimiters(attention, store) if isinstance(store, SharedStore) else AgentLimiters(attention)
            self.api.attention = AttentionBudget(limiters, self.metrics.rate_limit_refusals.inc)
        self.metrics_endpoint: MetricsEndpoint | None = None
        self.http_endpoint: HttpEndpoint | None = None
        self.gate = ShutdownGate()
        self._server: grpc.aio.Server | None = None
        self._listener: Listener | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._hub_lock: HubLock | None = None
        self.person_secret = ""  # the person role's bearer token, known once started
        self.port = 0

    @property
    def address(self) -> str:
        """What a client dials: host:port, or unix:/path with TOASTY_UNIX_SOCKET."""
        if self._listener is not None:
            return self._listener.address
        host = self.settings.host
        return f"{'127.0.0.1' if host in ('localhost', '0.0.0.0') else host}:{self.port}"

    def _deadline_of(self, notification_id: str) -> float | None:
        """An open question's deadline (0: none), or None when it is not an open question."""
        ask = self.broker.asks.get(notification_id)
        return None if ask is None else ask.deadline

    def _page_url(self) -> str:
        """The web page's address, for the digest toast to open ('' without the HTTP endpoint)."""
        port = self.http_port
        return f"http://127.0.0.1:{port}/" if port else ""

    @property
    def metrics_port(self) -> int | None:
        """The port /metrics is served on (None when disabled or its port was busy)."""
        return self.metrics_endpoint.port if self.metrics_endpoint is not None else None

    @property
    def http_port(self) -> int | None:
        """The port of the HTTP API and web page (None when disabled)."""
        return self.http_endpoint.port if self.http_endpoint is not None else None

    async def start(self) -> None:
        if self.settings.store == "sqlite":  # one hub per database: refuse before touching the log
            self._hub_lock = _hub_lock(self.settings)
        try:
            await self._start()
        except BaseException:
            self._release_hub_lock()
            raise
        if self._hub_lock is not None:
            self._hub_lock.describe(self.address)

    async def _start(self) -> None:
        await self.broker.start()
        await self.renderer.start()
        self.attention_gate.start()
        self.person_secret = load_or_create(self.settings.person_secret_path)
        credentials = Credentials(self.person_secret, _tokens(self.settings))
        policy = call_policy(self.settings)
        limiters = AgentLimiters(policy) if policy.enabled else None  # one call budget per agent, gRPC and HTTP
        server = grpc.aio.server(
            options=self._grpc_options(),
            interceptors=build_interceptors(self.settings, self.metrics, self.gate, credentials, limiters),
        )
        publish_stream = PublishStreamHandler(
            self.api, self.gate, self.metrics, limiters, max_in_flight=self.settings.stream_max_in_flight
        )
        register(server, NotificationServicer(self.api, publish_stream))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server, pool=schema_pool()
        )
        self._listener = listen(server, self.settings)
        self.port = self._listener.port
        await server.start()
        self._server = server
        self.metrics_endpoint = start_metrics(self.metrics.registry, self.settings)
        if self.settings.http_enabled:
            try:
                parts = HttpParts(self.api, self.metrics, self.gate, credentials, limiters)
                self.http_endpoint = await HttpEndpoint.start(parts, self.settings)
            except BaseException:
                await self.stop(0)
                raise
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._pruner = asyncio.create_task(self._prune_periodically(), name="toasty-retention")
        log.info(
            "toasty listening on %s (store %s, last sequence %d)",
            self.address,
            self.broker.store.name,
            self.broker.last_sequence,
        )

    async def stop(self, grace: float | None = None) -> None:
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        log.info("shutting down (grace %.1fs)", grace)
        await self.health.enter_graceful_shutdown()
        self.gate.close()  # new calls: UNAVAILABLE / SHUTTING_DOWN; health still answers NOT_SERVING
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        self.broker.end_streams()
        if self.http_endpoint is not None:
            self.http_endpoint.close_streams()
        started = asyncio.get_running_loop().time()
        if grace > 0 and not await self.gate.wait_idle(grace):
            log.warning("%d calls still in flight after %.1fs: cancelling them", self.gate.in_flight, grace)
        if self._server is not None:
            await self._server.stop(max(0.0, grace - (asyncio.get_running_loop().time() - started)))
        if self.http_endpoint is not None:
            await self.http_endpoint.stop()
        await self.broker.close()
        self._release_hub_lock()
        await self.attention_gate.close()
        await self.renderer.close()
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.stop()
        log.info("stopped")

    def _release_hub_lock(self) -> None:
        if self._hub_lock is not None:
            self._hub_lock.release()
            self._hub_lock = None

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    def _grpc_options(self) -> list[tuple[str, Any]]:
        return [
            ("grpc.max_receive_message_length", self.settings.max_message_bytes),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),
            # channelz (grpc's debugging registry, which Toasty does not serve) costs ~0.6 KiB per connection
            ("grpc.enable_channelz", 0),
            # grpc sets SO_REUSEPORT by default, which lets a second hub start on our port and take half
            # of the connections: one hub per port, so a second one is refused (access.listen)
            ("grpc.so_reuseport", 0),
        ]

    async def _prune_periodically(self) -> None:
        while True:
            try:
                removed = await self.broker.prune(
                    self.settings.retention_max_entries,
                    self.settings.retention_max_age_seconds,
                    self.settings.retention_max_bytes,
                )
                if removed:
                    log.info("retention removed %d log entries", removed)
            except Exception:
                log.exception("retention pruning failed")
            await asyncio.sleep(PRUNE_INTERVAL_SECONDS)


def _hub_lock(settings: Settings) -> HubLock | None:
    """The database folder's lock; None when the folder takes no file (read-only): the store then
    refuses to open with its own message, so no second writer can start there either."""
    try:
        return HubLock.acquire(settings.database_file.parent)
    except HubLockError:
        raise
    except OSError as exc:
        log.warning("cannot lock the database folder %s: %s", settings.database_file.parent, exc.strerror)
        return None


def _tokens(settings: Settings) -> TokenBook | None:
    """The token book when TOASTY_TOKEN_FILE is set; a file that went bad since start-up is an OSError."""
    if settings.token_file is None:
        return None
    try:
        return TokenBook.from_file(settings.token_file, settings.subscribe_grants)
    except TokenFileError as exc:
        raise OSError(f"token_file (TOASTY_TOKEN_FILE): {exc}") from None
