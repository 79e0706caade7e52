"""Wiring and lifecycle of one server process.

Start: store → broker → renderer → gRPC (service, health, reflection). Stop: health NOT_SERVING → end
subscriber streams (clients reconnect and resume) → stop gRPC with a grace period for in-flight calls →
flush and close the store → close the desktop backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from toasty_proto import descriptor_set, v1
from toasty_server.broker import Broker
from toasty_server.config import Settings
from toasty_server.render.backend import ToastBackend
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.images import ImageCache
from toasty_server.render.selection import choose_backends
from toasty_server.service.interactions import InteractionCoordinator
from toasty_server.service.registration import register
from toasty_server.service.servicer import NotificationServicer
from toasty_server.service.validation import Limits, Validator
from toasty_server.store import MemoryStore, SQLiteStore, Store

log = logging.getLogger(__name__)

SERVICE_NAME = v1.NOTIFICATION_SERVICE_PUBLISH.service
PRUNE_INTERVAL_SECONDS = 60.0


def build_store(settings: Settings) -> Store:
    if settings.store == "memory":
        return MemoryStore()
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
            image_resolver=ImageCache.from_settings(settings).resolve,
        )
        self.interactions = InteractionCoordinator(self.broker, self.renderer)
        self.health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._pruner: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def address(self) -> str:
        host = self.settings.host
        return f"{'127.0.0.1' if host in ('localhost', '0.0.0.0') else host}:{self.port}"

    async def start(self) -> None:
        await self.broker.start()
        await self.renderer.start()
        server = grpc.aio.server(options=self._grpc_options())
        register(
            server,
            NotificationServicer(
                self.broker, self.renderer, Validator(Limits.from_settings(self.settings)), self.interactions
            ),
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server, pool=_descriptor_pool()
        )
        self.port = server.add_insecure_port(f"{self.settings.host}:{self.settings.port}")
        if self.port == 0:
            raise OSError(f"cannot listen on {self.settings.host}:{self.settings.port}")
        await server.start()
        self._server = server
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._pruner = asyncio.create_task(self._prune_periodically(), name="toasty-retention")
        log.info(
            "toasty listening on %s:%d (store %s, last sequence %d)",
            self.settings.host,
            self.port,
            self.broker.store.name,
            self.broker.last_sequence,
        )

    async def stop(self, grace: float | None = None) -> None:
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        log.info("shutting down (grace %.1fs)", grace)
        await self.health.enter_graceful_shutdown()
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        self.broker.end_streams()
        if self._server is not None:
            await self._server.stop(grace)
        await self.broker.close()
        await self.renderer.close()
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    def _grpc_options(self) -> list[tuple[str, Any]]:
        return [
            ("grpc.max_receive_message_length", self.settings.max_message_bytes),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),
        ]

    async def _prune_periodically(self) -> None:
        while True:
            try:
                removed = await self.broker.prune(
                    self.settings.retention_max_entries, self.settings.retention_max_age_seconds
                )
                if removed:
                    log.info("retention removed %d log entries", removed)
            except Exception:
                log.exception("retention pruning failed")
            await asyncio.sleep(PRUNE_INTERVAL_SECONDS)


def _descriptor_pool() -> descriptor_pool.DescriptorPool:
    """Our schema in a protobuf descriptor pool, so reflection can describe it to generic clients."""
    pool = descriptor_pool.DescriptorPool()
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set())
    for file in files.file:
        pool.Add(file)
    return pool
