"""What the gRPC interceptors do, done for HTTP requests, in the same order and with the same parts.

Outermost first: metrics (the final status of every request, refusals included) → errors (the one error
table, as HTTP statuses) → shutdown gate (the same gate: refused while draining, unary calls counted in
flight) → trace (`traceparent`) → same-origin check → identity (`X-Agent-Id`) → tokens (the same token
book) → rate limit (the same per-agent buckets as gRPC: one budget per agent across both transports).

The page, its files, the OpenAPI description and /healthz are public: no identity, token or limit, as
gRPC health checks and reflection are not limited.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import grpc
from aiohttp import web
from aiohttp.typedefs import Middleware

from toasty_proto import v1
from toasty_proto.method import RpcMethod
from toasty_server.access.credentials import Credentials
from toasty_server.access.hosts import is_loopback
from toasty_server.access.policy import check_subscribe
from toasty_server.access.principal import Channel, Principal
from toasty_server.errors import InvalidArgument, PermissionDenied
from toasty_server.http.errors import REASON_HEADER, TRACE_ID_HEADER, error_json, exception_response
from toasty_server.interceptors.base import ANONYMOUS
from toasty_server.interceptors.errors import ShuttingDown, Unauthenticated
from toasty_server.interceptors.ratelimit import AgentLimiters
from toasty_server.interceptors.shutdown import ShutdownGate
from toasty_server.observability.context import TRACEPARENT_KEY, CallInfo, begin_call, current_call
from toasty_server.observability.metrics import ServerMetrics
from toasty_server.service.validation import agent_id_problem

log = logging.getLogger(__name__)

AGENT_HEADER = "X-Agent-Id"
# aiohttp runs each request in a task of its own, middleware and handler alike: per-request facts live in
# context variables (the agent in the call's CallInfo, as for gRPC), not in the request's storage.
_STREAM_CODE: ContextVar[grpc.StatusCode | None] = ContextVar("toasty_http_stream_code", default=None)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLISHING = frozenset({v1.NOTIFICATION_SERVICE_PUBLISH.path, v1.NOTIFICATION_SERVICE_SEND_NOTIFICATION.path})
_WORTH_INFO = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION}
)
_HTTP_CODES = {404: grpc.StatusCode.NOT_FOUND, 405: grpc.StatusCode.UNIMPLEMENTED}


@dataclass(frozen=True, slots=True)
class Route:
    """What a route is, for the checks and the metrics."""

    rpc: RpcMethod[Any, Any] | None = None  # the RPC it stands for: counted in toasty_rpc_calls under its path
    streaming: bool = False  # an event stream: one call however long; ended by the drain, not waited for
    public: bool = False  # page, static files, OpenAPI, health: no identity, token or rate limit


def agent_of(request: web.Request) -> str:
    """The calling agent, as admitted by the checks."""
    info = current_call()
    return info.agent_id if info is not None and info.agent_id else ANONYMOUS


def set_stream_code(request: web.Request, code: grpc.StatusCode) -> None:
    """Record how an event stream ended, for the metrics (its HTTP status was 200 from the start)."""
    _STREAM_CODE.set(code)


class CallChecks:
    """The HTTP side of the interceptor chain, sharing the gate, token book and rate buckets with gRPC."""

    def __init__(
        self,
        *,
        routes: Mapping[str, Route],
        metrics: ServerMetrics,
        gate: ShutdownGate,
        credentials: Credentials,
        limiters: AgentLimiters | None,
        max_id_chars: int,
        loopback_only: bool,
    ) -> None:
        self._routes = routes
        self._metrics = metrics
        self._gate = gate
        self._credentials = credentials
        self._limiters = limiters
        self._max_id_chars = max_id_chars
        self._loopback_only = loopback_only

    @property
    def gate_closed(self) -> bool:
        return self._gate.closed

    def check_read_as(self, principal: Principal, client_id: str) -> None:
        """The access policy's subscribe rule (`*` is the log of every client: the person's web page)."""
        try:
            check_subscribe(principal, client_id, self._credentials.book)
        except PermissionDenied:
            self._metrics.auth_refusals.labels(code=grpc.StatusCode.PERMISSION_DENIED.name).inc()
            raise

    def middleware(self) -> Middleware:
        @web.middleware
        async def toasty_calls(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._handle(request, handler)

        return toasty_calls

    async def _handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = self._routes.get(request.match_info.route.name or "")
        method = route.rpc.path if route is not None and route.rpc is not None else f"HTTP {request.path}"
        info = begin_call(method, request.headers.get(TRACEPARENT_KEY, ""))
        _STREAM_CODE.set(None)
        started = time.perf_counter()
        code, status = grpc.StatusCode.UNKNOWN, 500
        try:
            if route is None or route.public:
                response = await handler(request)
            else:
                await self._admit(request, info)
                if route.streaming:
                    response = await handler(request)
                else:
                    async with self._gate.in_flight_call():
                        response = await handler(request)
            code = _STREAM_CODE.get() or grpc.StatusCode.OK
            status = response.status
            if not response.prepared:
                response.headers[TRACE_ID_HEADER] = info.trace_id
            return response
        except web.HTTPException as exc:  # aiohttp's own: no such route (404), method (405), body too large (413)
            response, code = self._http_error(exc, info.trace_id)
            status = response.status
            return response
        except (asyncio.CancelledError, ConnectionResetError):
            code, status = grpc.StatusCode.CANCELLED, 499
            raise
        except Exception as exc:
            response, mapped = exception_response(exc, info.trace_id)
            if mapped.code == grpc.StatusCode.UNAUTHENTICATED:
                response.headers["WWW-Authenticate"] = 'Bearer realm="toasty"'
            code, status = mapped.code, response.status
            if mapped.unexpected:
                log.exception("%s %s failed unexpectedly (trace id %s)", request.method, request.path, info.trace_id)
            else:
                level = logging.INFO if mapped.code in _WORTH_INFO else logging.DEBUG
                log.log(
                    level,
                    "%s %s refused: %s %s: %s",
                    request.method,
                    request.path,
                    code.name,
                    mapped.reason,
                    mapped.message,
                )
            return response
        finally:
            self._record(request, route, code, status, time.perf_counter() - started)

    async def _admit(self, request: web.Request, info: CallInfo) -> str:
        """Gate, same origin, identity, token, rate limit: raises the refusal, or returns the agent id."""
        if self._gate.closed:
            raise ShuttingDown("the server is shutting down; retry shortly (or reconnect and resume)")
        self._check_origin(request)
        agent = request.headers.get(AGENT_HEADER, "").strip()
        problem = agent_id_problem(agent, self._max_id_chars)
        if problem is not None:
            raise InvalidArgument(f"{AGENT_HEADER} header", problem)
        info.agent_id = agent or ANONYMOUS
        try:
            principal = self._credentials.principal(
                agent, request.headers.get("Authorization", ""), Channel.WEB, f"{AGENT_HEADER} header"
            )
        except Unauthenticated as exc:
            self._metrics.auth_refusals.labels(code=grpc.StatusCode.UNAUTHENTICATED.name).inc()
            log.warning("%s %s refused: %s", request.method, request.path, exc)
            raise
        info.principal = principal
        agent = info.agent_id = principal.agent_id
        if self._limiters is not None:
            retry_after = await self._limiters.try_acquire(agent)
            if retry_after is not None:
                self._metrics.rate_limit_refusals.inc()
                raise self._limiters.refusal(
                    agent, retry_after, retry_hint="Retry-After", scope=" (gRPC and HTTP together)"
                )
        return agent

    def _check_origin(self, request: web.Request) -> None:
        """Refuse what a web page of another site makes a browser send: a cross-site POST (its Origin is not
        ours) or, through DNS rebinding, a request naming another host on a loopback-only server."""
        host = request.host
        if self._loopback_only and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            raise PermissionDenied(f"Host {host!r} is not a loopback name: this server only answers to localhost")
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != host:
            raise PermissionDenied(
                f"requests from web pages of another origin ({origin}) are refused; use the page this server serves"
            )

    def _http_error(self, exc: web.HTTPException, trace_id: str) -> tuple[web.Response, grpc.StatusCode]:
        code = _HTTP_CODES.get(
            exc.status, grpc.StatusCode.INVALID_ARGUMENT if exc.status < 500 else grpc.StatusCode.INTERNAL
        )
        message = {
            404: "no such route; GET /openapi.json lists them",
            405: f"method not allowed here; use {exc.headers.get('Allow', 'another method')}",
            413: "the request body is larger than TOASTY_MAX_MESSAGE_BYTES",
        }.get(exc.status, exc.reason)
        headers = {key: value for key, value in exc.headers.items() if key.lower() == "allow"}
        headers[REASON_HEADER] = code.name
        headers[TRACE_ID_HEADER] = trace_id
        body = json.dumps(error_json(code.name, code.name, message, trace_id))
        return web.Response(status=exc.status, text=body, content_type="application/json", headers=headers), code

    def _record(
        self, request: web.Request, route: Route | None, code: grpc.StatusCode, status: int, elapsed: float
    ) -> None:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else "unmatched"
        m = self._metrics
        m.http_requests.labels(route=path, status=str(status)).inc()
        if route is not None and route.rpc is not None:
            rpc = route.rpc.path
            m.rpc_calls.labels(method=rpc, code=code.name).inc()
            if not route.streaming:
                m.rpc_latency.labels(method=rpc).observe(elapsed)
                if code == grpc.StatusCode.OK and rpc in PUBLISHING:
                    m.publishes.labels(method=route.rpc.name).inc()
        log.debug("%s %s %d (%s) in %.1f ms", request.method, request.path, status, code.name, elapsed * 1000)
