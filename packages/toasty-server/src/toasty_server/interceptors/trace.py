"""Log context of each call: a trace id (from W3C `traceparent` when the client sent one) and, once
known, the notification id, so every log line of the call can be found together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc

from toasty_server.interceptors.base import CallRecord, Context, Continuation, Handler, metadata_value, wrap
from toasty_server.observability.context import TRACEPARENT_KEY, begin_call, set_notification_id
from toasty_server.service.decoding import WithWire


class TraceInterceptor(grpc.aio.ServerInterceptor):
    """Starts the call's context before the handler runs (same task, so the handler inherits it)."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        metadata = handler_call_details.invocation_metadata
        begin_call(handler_call_details.method, metadata_value(metadata, TRACEPARENT_KEY))
        handler = await continuation(handler_call_details)
        if handler is None or handler.response_streaming:
            return handler
        return wrap(handler_call_details.method, handler, _noting_notification_id)


def notification_id_of(message: Any) -> str:
    """The notification id a request or response names, if any (Publish, AwaitInteraction, ...)."""
    if isinstance(message, WithWire):
        message = message.message
    notification = getattr(message, "notification", None)
    value = getattr(notification, "id", "") or getattr(message, "notification_id", "")
    return value if isinstance(value, str) and value.isprintable() else ""  # no log-line forging


@asynccontextmanager
async def _noting_notification_id(record: CallRecord, context: Context) -> AsyncIterator[None]:
    set_notification_id(notification_id_of(record.request))
    try:
        yield
    finally:
        set_notification_id(notification_id_of(record.response))
