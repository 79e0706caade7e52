"""The one error table (`interceptors.errors.map_exception`) seen through HTTP: a status per gRPC code and
a JSON body `{"error": {"code", "reason", "message", "trace_id"}}`, so an HTTP caller gets the same code,
reason and message a gRPC caller would."""

from __future__ import annotations

import json
import math
from typing import Any

import grpc
from aiohttp import web

from toasty_server.interceptors.errors import MappedError, RateLimited, map_exception

REASON_HEADER = "Toasty-Reason"
TRACE_ID_HEADER = "Toasty-Trace-Id"

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,  # the client went away (nginx's convention); it never sees this
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
"""HTTP status of each gRPC code; anything else (INTERNAL, UNKNOWN, DATA_LOSS) is 500."""


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def error_json(code: str, reason: str, message: str, trace_id: str) -> dict[str, Any]:
    return {"error": {"code": code, "reason": reason, "message": message, "trace_id": trace_id}}


def error_response(
    mapped: MappedError, trace_id: str, *, status: int | None = None, retry_after: float | None = None
) -> web.Response:
    """The JSON error response of a mapped exception; 429 carries Retry-After (whole seconds, rounded up)."""
    headers = {REASON_HEADER: mapped.reason}
    if trace_id:
        headers[TRACE_ID_HEADER] = trace_id
    body = error_json(mapped.code.name, mapped.reason, mapped.message, trace_id)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        body["error"]["retry_after_ms"] = max(1, math.ceil(retry_after * 1000))
    return web.Response(
        status=status if status is not None else http_status(mapped.code),
        text=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def exception_response(exc: Exception, trace_id: str) -> tuple[web.Response, MappedError]:
    mapped = map_exception(exc, trace_id)
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
    return error_response(mapped, trace_id, retry_after=retry_after), mapped
