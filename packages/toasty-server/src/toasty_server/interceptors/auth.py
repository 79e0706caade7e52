"""Per-agent tokens: with a token file configured, a call must prove its `x-agent-id`.

Runs before the rate limiter, so a caller without the token cannot spend another agent's rate budget.
A Subscribe must also be for the agent's own client id (or one its grants allow): the token of agent
A does not let anyone read B's deliveries.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from toasty_proto import v1
from toasty_server.access.tokens import AUTHORIZATION_KEY, TokenBook
from toasty_server.errors import PermissionDenied
from toasty_server.interceptors.base import (
    AGENT_ID_KEY,
    Around,
    CallRecord,
    Context,
    Continuation,
    Handler,
    agent_from,
    is_infrastructure,
    metadata_value,
    refusal,
    wrap,
)
from toasty_server.interceptors.errors import Unauthenticated
from toasty_server.observability.metrics import ServerMetrics

log = logging.getLogger(__name__)

SUBSCRIBE_PATH = v1.NOTIFICATION_SERVICE_SUBSCRIBE.path


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """UNAUTHENTICATED without the agent's bearer token; PERMISSION_DENIED for another's client id."""

    def __init__(self, book: TokenBook, metrics: ServerMetrics) -> None:
        self._book = book
        self._metrics = metrics

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        method = handler_call_details.method
        if is_infrastructure(method):
            return await continuation(handler_call_details)
        metadata = handler_call_details.invocation_metadata
        agent = agent_from(metadata)
        authorization = metadata_value(metadata, AUTHORIZATION_KEY)
        if not self._book.authenticate(agent, authorization):
            self._metrics.auth_refusals.labels(code=grpc.StatusCode.UNAUTHENTICATED.name).inc()
            log.warning("%s refused: %s token for agent %r", method, "wrong" if authorization else "no", agent)
            fix = (
                f"send `{AUTHORIZATION_KEY}: Bearer <token>` with the token of your {AGENT_ID_KEY} "
                "from the server's TOASTY_TOKEN_FILE (client: token=...)"
            )
            what = "the token does not match" if authorization else "no bearer token was sent"
            return refusal(method, Unauthenticated(f"{what} for agent {agent!r}: {fix}"))
        handler = await continuation(handler_call_details)
        if handler is None or method != SUBSCRIBE_PATH:
            return handler
        return wrap(method, handler, self._own_client_id(agent))

    def _own_client_id(self, agent: str) -> Around:
        @asynccontextmanager
        async def check(record: CallRecord, context: Context) -> AsyncIterator[None]:
            client_id = getattr(record.request, "client_id", "") or ""
            if not self._book.may_subscribe_as(agent, client_id):
                self._metrics.auth_refusals.labels(code=grpc.StatusCode.PERMISSION_DENIED.name).inc()
                raise PermissionDenied(
                    f"agent {agent!r} may not subscribe as client_id {client_id!r}: subscribe as yourself "
                    "(leave client_id empty) or list it for this agent in TOASTY_SUBSCRIBE_GRANTS"
                )
            yield

        return check
