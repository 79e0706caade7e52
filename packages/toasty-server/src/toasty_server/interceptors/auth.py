"""Access: every call gets its principal from its credential (`access.credentials`), and a Subscribe is
checked against the access policy (`access.policy.check_subscribe`).

Runs before the rate limiter, so a caller with a wrong token cannot spend another agent's rate budget.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import grpc

from toasty_proto import v1
from toasty_server.access.policy import check_subscribe
from toasty_server.access.principal import Channel, Principal
from toasty_server.access.tokens import AUTHORIZATION_KEY
from toasty_server.errors import PermissionDenied, ToastyError
from toasty_server.interceptors.base import (
    AGENT_ID_KEY,
    Around,
    CallRecord,
    Context,
    Continuation,
    Handler,
    is_infrastructure,
    metadata_value,
    refusal,
    wrap,
)
from toasty_server.observability.context import ensure_call
from toasty_server.observability.metrics import ServerMetrics

if TYPE_CHECKING:
    from toasty_server.access.credentials import Credentials

log = logging.getLogger(__name__)

SUBSCRIBE_PATH = v1.NOTIFICATION_SERVICE_SUBSCRIBE.path


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """UNAUTHENTICATED for a bad credential; PERMISSION_DENIED for a Subscribe to others' traffic."""

    def __init__(self, credentials: Credentials, metrics: ServerMetrics) -> None:
        self._credentials = credentials
        self._metrics = metrics

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        method = handler_call_details.method
        if is_infrastructure(method):
            return await continuation(handler_call_details)
        metadata = handler_call_details.invocation_metadata
        info = ensure_call(method)
        try:
            principal = self._credentials.principal(
                metadata_value(metadata, AGENT_ID_KEY),
                metadata_value(metadata, AUTHORIZATION_KEY),
                Channel.TERMINAL,
                AGENT_ID_KEY,
            )
        except ToastyError as exc:
            self._metrics.auth_refusals.labels(code=grpc.StatusCode.UNAUTHENTICATED.name).inc()
            log.warning("%s refused: %s", method, exc)
            return refusal(method, exc)
        info.principal = principal
        info.agent_id = principal.agent_id
        handler = await continuation(handler_call_details)
        if handler is None or method != SUBSCRIBE_PATH:
            return handler
        return wrap(method, handler, self._subscribe_check(principal))

    def _subscribe_check(self, principal: Principal) -> Around:
        @asynccontextmanager
        async def check(record: CallRecord, context: Context) -> AsyncIterator[None]:
            client_id = getattr(record.request, "client_id", "") or ""
            try:
                check_subscribe(principal, client_id, self._credentials.book)
            except PermissionDenied:
                self._metrics.auth_refusals.labels(code=grpc.StatusCode.PERMISSION_DENIED.name).inc()
                raise
            yield

        return check
