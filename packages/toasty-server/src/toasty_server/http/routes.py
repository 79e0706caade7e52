"""The HTTP adapter of `ToastyApi`: each route reads its JSON or query, calls the API with the caller's
agent id, and writes the result in protobuf's JSON mapping. Checks, errors and metrics are the
middleware's (`calls.py`), exactly as the interceptors do it for the gRPC servicer."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Mapping
from contextlib import aclosing, suppress
from importlib import resources
from typing import Any

import betterproto2
import grpc
from aiohttp import web

from toasty_proto import v1
from toasty_server.access.principal import current_principal
from toasty_server.errors import FailedPrecondition, InvalidArgument
from toasty_server.http import plain, sse
from toasty_server.http.calls import CallChecks, Route, agent_of, set_stream_code
from toasty_server.http.codec import message_from_json, message_to_json, parse_body
from toasty_server.http.dashboard import LOG_SIZE, MAX_LOG_SIZE, Dashboard
from toasty_server.http.errors import error_json
from toasty_server.interceptors.errors import ShuttingDown, map_exception
from toasty_server.observability.context import current_call, set_notification_id
from toasty_server.observability.metrics import ServerMetrics
from toasty_server.service.api import ToastyApi

log = logging.getLogger(__name__)

DEFAULT_WAIT_SECONDS = 30.0
MAX_WAIT_SECONDS = 300.0
ANSWER_KEY_HEADER = "X-Answer-Key"  # PublishResponse.answerKey of a question published without a credential

ROUTES: dict[str, Route] = {
    "publish": Route(v1.NOTIFICATION_SERVICE_PUBLISH),
    "notify": Route(v1.NOTIFICATION_SERVICE_PUBLISH),  # a plain-text publish: counted and limited as one
    "send": Route(v1.NOTIFICATION_SERVICE_SEND_NOTIFICATION),
    "await_answer": Route(v1.NOTIFICATION_SERVICE_AWAIT_INTERACTION),
    "answer": Route(v1.NOTIFICATION_SERVICE_ANSWER),
    "withdraw": Route(v1.NOTIFICATION_SERVICE_WITHDRAW),
    "status": Route(v1.NOTIFICATION_SERVICE_GET_STATUS),
    "attention": Route(v1.NOTIFICATION_SERVICE_GET_ATTENTION),
    "do_not_disturb": Route(v1.NOTIFICATION_SERVICE_SET_DO_NOT_DISTURB),
    "mute": Route(v1.NOTIFICATION_SERVICE_MUTE),
    "snooze": Route(v1.NOTIFICATION_SERVICE_SNOOZE),
    "subscribe": Route(v1.NOTIFICATION_SERVICE_SUBSCRIBE, streaming=True),
    "log": Route(),
    "asks": Route(),
    "dashboard": Route(streaming=True),
    "page": Route(public=True),
    "static": Route(public=True),
    "openapi": Route(public=True),
    "healthz": Route(public=True),
}

_STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_PAGE_HEADERS = {
    # No inline script or style, nothing from elsewhere: text that slipped past escaping still cannot run.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _package_file(*parts: str) -> bytes:
    return resources.files("toasty_server.http").joinpath(*parts).read_bytes()


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description shipped in the package (served at /openapi.json)."""
    loaded: dict[str, Any] = json.loads(_package_file("openapi.json"))
    return loaded


def _delivery_frame(payload: bytes) -> bytes:
    """The event of one serialized Delivery (made once per delivery, whatever the number of readers)."""
    delivery = v1.Delivery.FromString(payload)
    data = json.dumps(message_to_json(delivery))
    return sse.event(data, name="delivery", event_id=str(delivery.sequence))


def _json(value: betterproto2.Message | Mapping[str, Any], status: int = 200) -> web.Response:
    body = message_to_json(value) if isinstance(value, betterproto2.Message) else value
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class Handlers:
    """One method per route; `closing` is set when the server begins to stop (event streams end)."""

    def __init__(
        self,
        api: ToastyApi,
        checks: CallChecks,
        metrics: ServerMetrics,
        closing: asyncio.Event,
        write_timeout: float = 10.0,
    ) -> None:
        self.api = api
        self.checks = checks
        self.metrics = metrics
        self.closing = closing
        self.write_timeout = write_timeout
        self._frames = sse.FrameCache()
        self.dashboard = Dashboard(api)
        self._static = {
            name: _package_file("static", name) for name in ("index.html", "app.js", "style.css", "favicon.svg")
        }
        self._openapi = _package_file("openapi.json")

    def add_to(self, app: web.Application) -> None:
        """The routes; API reads answer GET only (a HEAD must not open a stream or spend a call)."""
        r = app.router
        r.add_post("/v1/publish", self.publish, name="publish")
        r.add_post("/v1/notify", self.notify, name="notify")
        r.add_post("/v1/send", self.send, name="send")
        r.add_get(
            "/v1/notifications/{notification_id}/answer", self.await_answer, name="await_answer", allow_head=False
        )
        r.add_post("/v1/notifications/{notification_id}/answer", self.answer, name="answer")
        r.add_post("/v1/notifications/{notification_id}/withdraw", self.withdraw, name="withdraw")
        r.add_get("/v1/subscribe", self.subscribe, name="subscribe", allow_head=False)
        r.add_get("/v1/status", self.status, name="status", allow_head=False)
        r.add_get("/v1/attention", self.attention, name="attention", allow_head=False)
        r.add_post("/v1/attention/dnd", self.do_not_disturb, name="do_not_disturb")
        r.add_post("/v1/attention/mute", self.mute, name="mute")
        r.add_post("/v1/notifications/{notification_id}/snooze", self.snooze, name="snooze")
        r.add_get("/v1/log", self.log, name="log", allow_head=False)
        r.add_get("/v1/asks", self.asks, name="asks", allow_head=False)
        r.add_get("/v1/dashboard", self.dashboard_stream, name="dashboard", allow_head=False)
        r.add_get("/", self.page, name="page")
        r.add_get("/static/{name}", self.static, name="static")
        r.add_get("/openapi.json", self.openapi, name="openapi")
        r.add_get("/healthz", self.healthz, name="healthz")

    # -- the API -----------------------------------------------------------------------------------------

    async def publish(self, request: web.Request) -> web.Response:
        body = message_from_json(v1.PublishRequest, parse_body(await request.read()))
        if body.notification is not None:
            set_notification_id(body.notification.id)
        published = await self.api.publish(agent_of(request), body)
        set_notification_id(published.notification_id)  # the log lines of this call carry it from here on
        return _json(published)

    async def notify(self, request: web.Request) -> web.Response:
        """A plain-text body (title, lines, urgency, tags from headers or the query) as a Text toast."""
        notice = plain.read_notice(await request.read(), request.headers, request.query)
        try:
            published = await self.api.publish(agent_of(request), notice.request)
        except InvalidArgument as exc:
            raise notice.renamed(exc) from None
        set_notification_id(published.notification_id)
        return _json(published)

    async def send(self, request: web.Request) -> web.Response:
        body = message_from_json(v1.SendNotificationRequest, parse_body(await request.read()))
        return _json(await self.api.send_notification(agent_of(request), body))

    async def await_answer(self, request: web.Request) -> web.Response:
        """The outcome of one of the caller's questions, waiting up to ?wait seconds (504 if none yet)."""
        wait = _number(request.query, "wait", DEFAULT_WAIT_SECONDS, 0.0, MAX_WAIT_SECONDS)
        key = request.headers.get(ANSWER_KEY_HEADER, "") or _text(request.query, "answer_key")
        wanted = v1.AwaitInteractionRequest(notification_id=_path_id(request, ""), answer_key=key)
        return _json(await self.api.await_interaction(current_principal(), wanted, default_wait=wait))

    async def answer(self, request: web.Request) -> web.Response:
        body = parse_body(await request.read())
        answer = message_from_json(v1.AnswerRequest, body)
        answer.notification_id = _path_id(request, answer.notification_id)
        return _json(await self.api.answer(current_principal(), answer))

    async def withdraw(self, request: web.Request) -> web.Response:
        body = message_from_json(v1.WithdrawRequest, parse_body(await request.read()))
        body.notification_id = _path_id(request, body.notification_id)
        return _json(await self.api.withdraw(current_principal(), body))

    async def status(self, request: web.Request) -> web.Response:
        return _json(self.api.status())

    async def attention(self, request: web.Request) -> web.Response:
        return _json(self.api.attention_state(current_principal()))

    async def do_not_disturb(self, request: web.Request) -> web.Response:
        body = message_from_json(v1.DoNotDisturbRequest, parse_body(await request.read()))
        return _json(self.api.set_do_not_disturb(current_principal(), body))

    async def mute(self, request: web.Request) -> web.Response:
        body = message_from_json(v1.MuteRequest, parse_body(await request.read()))
        return _json(self.api.mute(current_principal(), body))

    async def snooze(self, request: web.Request) -> web.Response:
        body = message_from_json(v1.SnoozeRequest, parse_body(await request.read()))
        body.notification_id = _path_id(request, body.notification_id)
        return _json(self.api.snooze(current_principal(), body))

    async def log(self, request: web.Request) -> web.Response:
        self.checks.check_read_as(current_principal(), "*")
        limit = int(_number(request.query, "limit", LOG_SIZE, 1, MAX_LOG_SIZE, whole=True))
        return _json({"deliveries": await self.dashboard.log(limit)})

    async def asks(self, request: web.Request) -> web.Response:
        self.checks.check_read_as(current_principal(), "*")
        return _json({"asks": await self.dashboard.asks()})

    async def subscribe(self, request: web.Request) -> web.StreamResponse:
        """The caller's deliveries as server-sent events, resumable with Last-Event-ID or ?after."""
        agent = agent_of(request)
        query = request.query
        wanted = v1.SubscriptionRequest(
            client_id=_text(query, "client_id"),
            after_sequence=_resume_point(request),
            from_beginning=_flag(query, "from_beginning"),
        )
        principal = current_principal()
        self.checks.check_read_as(principal, wanted.client_id)
        client_id = wanted.client_id or agent
        if not principal.proved and self.api.broker.has_live_subscription(client_id):
            # A GET without a credential changes no state: it may not end someone's live stream by naming
            # its client id (a browser can be made to send such a GET); with a credential it may (resume).
            raise FailedPrecondition(
                f"client_id {client_id!r} has a live subscription; a request without a credential cannot take "
                "it over: retry once it has ended, or send your token"
            )
        subscription = self.api.open_subscription(agent, wanted)
        try:
            response = await sse.open_stream(request)
            await self._stream_deliveries(request, response, self.api.deliveries(subscription))
        finally:
            self.api.close_subscription(subscription)
        return response

    async def dashboard_stream(self, request: web.Request) -> web.StreamResponse:
        """Snapshots for the page: one now, another whenever what it shows changes."""
        self.checks.check_read_as(current_principal(), "*")
        response = await sse.open_stream(request)
        try:
            await self.dashboard.stream(response, self.closing)
        except (ConnectionResetError, asyncio.CancelledError):
            set_stream_code(request, grpc.StatusCode.CANCELLED)
            raise
        except Exception as exc:
            await self._end_with_error(request, response, exc)
            return response
        await self._end_with_error(request, response, None)
        return response

    # -- page, description, health ------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(body=self._static["index.html"], content_type="text/html", headers=_PAGE_HEADERS)

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = self._static.get(name)
        if body is None:
            raise web.HTTPNotFound()
        kind = _STATIC_TYPES.get(name[name.rfind(".") :], "application/octet-stream")
        return web.Response(body=body, content_type=kind, headers=_PAGE_HEADERS)

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")

    async def healthz(self, request: web.Request) -> web.Response:
        """Like grpc.health.v1: SERVING, or NOT_SERVING (503) while the server drains before stopping."""
        serving = not self.checks.gate_closed
        return _json({"status": "SERVING" if serving else "NOT_SERVING"}, status=200 if serving else 503)

    # -- streams --------------------------------------------------------------------------------------------

    async def _stream_deliveries(self, request: web.Request, response: web.StreamResponse, source: Any) -> None:
        try:
            async with aclosing(sse.with_heartbeats(source)) as items:
                async for payload in items:
                    if payload is None:
                        await self._send(response, sse.KEEPALIVE)
                        continue
                    await self._send(response, self._frames.get(payload, _delivery_frame))
                    self.metrics.deliveries.inc()
        except TimeoutError:  # the reader stopped reading: end its stream without waiting on it further
            self.metrics.http_streams_kicked.inc()
            log.info("%s: the reader took over %.1fs to accept data; stream ended", request.path, self.write_timeout)
            set_stream_code(request, grpc.StatusCode.RESOURCE_EXHAUSTED)
            if request.transport is not None:
                request.transport.abort()
            return
        except (ConnectionResetError, asyncio.CancelledError):
            set_stream_code(request, grpc.StatusCode.CANCELLED)
            raise
        except Exception as exc:  # shutdown, replaced by a newer stream, store failure: say why, then end
            await self._end_with_error(request, response, exc)
            return
        await self._end_with_error(request, response, None)

    async def _send(self, response: web.StreamResponse, frame: bytes) -> None:
        """Write one frame; TimeoutError when the reader does not take it within the write timeout (a
        reader that stops reading must not hold its subscription and buffers for ever)."""
        await asyncio.wait_for(response.write(frame), self.write_timeout)

    async def _end_with_error(self, request: web.Request, response: web.StreamResponse, exc: Exception | None) -> None:
        """The last event of a stream: `event: error` with the error body (as a JSON error response has)."""
        info = current_call()
        trace_id = info.trace_id if info is not None else ""
        if exc is None:  # the stream ended because the server is stopping
            exc = ShuttingDown("the server is shutting down; reconnect and resume shortly")
        mapped = map_exception(exc, trace_id)
        if mapped.unexpected:
            log.exception("%s failed unexpectedly (trace id %s)", request.path, trace_id, exc_info=exc)
        set_stream_code(request, mapped.code)
        body = error_json(mapped.code.name, mapped.reason, mapped.message, trace_id)
        with suppress(ConnectionResetError):
            await response.write(sse.event(json.dumps(body), name="error"))


# -- reading the query --------------------------------------------------------------------------------------


def _query_value(query: Mapping[str, str], name: str) -> str | None:
    """A query parameter by its snake_case or camelCase name."""
    value = query.get(name)
    if value is None:
        value = query.get(betterproto2.casing.camel_case(name))
    return value


def _text(query: Mapping[str, str], name: str) -> str:
    return (_query_value(query, name) or "").strip()


def _flag(query: Mapping[str, str], name: str) -> bool:
    value = (_query_value(query, name) or "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise InvalidArgument(name, f"{value[:20]!r} is not true or false")


def _number(
    query: Mapping[str, str], name: str, default: float, low: float, high: float, *, whole: bool = False
) -> float:
    raw = _query_value(query, name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (whole and not value.is_integer()):
        raise InvalidArgument(name, f"{raw[:20]!r} is not a {'whole ' if whole else ''}number")
    if not low <= value <= high:
        raise InvalidArgument(name, f"{raw} is out of range ({low:g}..{high:g})")
    return value


def _resume_point(request: web.Request) -> int:
    """Where a stream resumes: the Last-Event-ID an EventSource sends on reconnecting, else ?after."""
    header = request.headers.get("Last-Event-ID", "").strip()
    raw, name = (header, "Last-Event-ID header") if header else (_text(request.query, "after"), "after")
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) >= 2**63:
        raise InvalidArgument(name, f"{raw[:30]!r} is not a sequence number (a whole number, 0 or more)")
    return int(raw)


def _path_id(request: web.Request, in_body: str) -> str:
    """The notification id of the path (also named in the call's log lines); a body may only repeat it."""
    notification_id = request.match_info["notification_id"]
    set_notification_id(notification_id)
    if in_body and in_body != notification_id:
        raise InvalidArgument("notificationId", f"{in_body!r} in the body differs from {notification_id!r} in the path")
    return notification_id
