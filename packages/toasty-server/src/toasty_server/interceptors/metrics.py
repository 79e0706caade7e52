"""Per-method call counts by final status code and unary latency; publishes and deliveries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from toasty_proto import v1
from toasty_server.interceptors.base import CallRecord, Context, Continuation, Handler, wrap
from toasty_server.observability.metrics import ServerMetrics

log = logging.getLogger(__name__)

PUBLISH_PATHS = frozenset({v1.NOTIFICATION_SERVICE_PUBLISH.path, v1.NOTIFICATION_SERVICE_SEND_NOTIFICATION.path})
DELIVERY_PATHS = frozenset({v1.NOTIFICATION_SERVICE_SUBSCRIBE.path})


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Outermost: it sees the status the errors interceptor chose, and every refusal."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return wrap(handler_call_details.method, handler, self._measuring)

    @asynccontextmanager
    async def _measuring(self, record: CallRecord, context: Context) -> AsyncIterator[None]:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        if record.streaming and record.method in DELIVERY_PATHS:
            record.on_message = self._metrics.deliveries.inc  # counted as sent, not when the stream ends
        try:
            yield
            code = context.code() or grpc.StatusCode.OK
        except grpc.aio.AbortError:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except (asyncio.CancelledError, GeneratorExit):
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception:
            code = grpc.StatusCode.UNKNOWN  # what grpc answers for an exception nobody mapped
            raise
        finally:
            self._record(record, code, time.perf_counter() - started)

    def _record(self, record: CallRecord, code: grpc.StatusCode, elapsed: float) -> None:
        m = self._metrics
        m.rpc_calls.labels(method=record.method, code=code.name).inc()
        if not record.streaming:
            m.rpc_latency.labels(method=record.method).observe(elapsed)
            if code == grpc.StatusCode.OK and record.method in PUBLISH_PATHS:
                m.publishes.labels(method=record.method.rsplit("/", 1)[-1]).inc()
        log.debug("%s %s in %.1f ms", record.method, code.name, elapsed * 1000)
