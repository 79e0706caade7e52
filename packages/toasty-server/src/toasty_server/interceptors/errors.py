"""Exceptions → gRPC statuses, in one table, for every RPC.

Each row: the exception, the status code, the stable reason sent in the `toasty-reason` trailing
metadata, and when it happens. The message tells the caller what to fix; for an unexpected exception
it says nothing of the internals, only the trace id under which the server logged the details.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

from toasty_server.broker import BrokerClosed, SubscriptionReplaced
from toasty_server.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Replaced,
    ToastyError,
    Unavailable,
)
from toasty_server.interceptors.base import CallRecord, Context, Continuation, Handler, wrap
from toasty_server.observability.context import current_call
from toasty_server.store import StoreUnavailable

log = logging.getLogger(__name__)

REASON_KEY = "toasty-reason"
RETRY_AFTER_KEY = "toasty-retry-after-ms"
TRACE_ID_KEY = "toasty-trace-id"


class RateLimited(ToastyError):
    """The agent made more calls than its limit; `retry_after` seconds is when one will be accepted."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return ((RETRY_AFTER_KEY, str(max(1, math.ceil(self.retry_after * 1000)))),)


class Unauthenticated(ToastyError):
    """Tokens are configured and the call carries no valid `authorization: Bearer` for its agent."""

    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class ShuttingDown(ToastyError):
    """The server is draining before it stops: new calls are refused, in-flight ones finish."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "SHUTTING_DOWN"


@dataclass(frozen=True, slots=True)
class ErrorRow:
    """One line of the table. `message` (if set) replaces the exception's text; `{trace_id}` and
    `{error}` are filled in."""

    exception: type[BaseException]
    code: grpc.StatusCode
    reason: str
    when: str
    message: str | None = None


def _domain(cls: type[ToastyError], when: str) -> ErrorRow:
    """Domain errors carry their own code and reason; the row repeats them so the table is complete."""
    return ErrorRow(cls, cls.code, cls.reason, when)


ERROR_TABLE: tuple[ErrorRow, ...] = (
    _domain(InvalidArgument, "a request field breaks a rule or limit; the message names the field and the fix"),
    _domain(NotFound, "an id the server does not know or no longer retains (e.g. AwaitInteraction)"),
    _domain(PermissionDenied, "the agent may not act on this (another agent's notification, a client id not its own)"),
    _domain(FailedPrecondition, "the request is valid but the state does not allow it"),
    _domain(DeadlineExceeded, "nothing happened within the caller's wait; the call may be repeated"),
    _domain(Replaced, "a newer Subscribe with the same client id took over this stream"),
    _domain(Unavailable, "the server cannot take the call now; retry with backoff"),
    _domain(
        RateLimited,
        "the agent spent its attention budget (TOASTY_RATE_LIMIT new toasts) or its call budget "
        "(TOASTY_CALL_RATE_LIMIT); toasty-retry-after-ms says when to retry",
    ),
    _domain(Unauthenticated, "tokens are configured and the call's bearer token is missing or wrong for its agent"),
    _domain(ShuttingDown, "a new call while the server drains in-flight calls before stopping; retry shortly"),
    ErrorRow(
        BrokerClosed,
        grpc.StatusCode.UNAVAILABLE,
        "SHUTTING_DOWN",
        "the server is stopping",
        "the server is shutting down; retry shortly (subscribers: reconnect and resume)",
    ),
    ErrorRow(
        SubscriptionReplaced,
        Replaced.code,
        Replaced.reason,
        "the broker ended a stream because a newer Subscribe took its client id",
        "a newer Subscribe with client_id {error} replaced this stream; do not reconnect with the same id",
    ),
    ErrorRow(
        StoreUnavailable,
        grpc.StatusCode.UNAVAILABLE,
        "STORE_UNAVAILABLE",
        "the delivery log cannot be written (disk full, read-only, locked)",
        "the delivery log cannot be written, nothing was stored ({error}); retry later",
    ),
    ErrorRow(ToastyError, ToastyError.code, ToastyError.reason, "any other domain error: its own code and reason"),
    ErrorRow(
        Exception,
        grpc.StatusCode.INTERNAL,
        "INTERNAL",
        "a bug: anything else a handler raised",
        "internal error (trace id {trace_id}); the server log has the details under this trace id",
    ),
)
_BY_TYPE = {row.exception: row for row in ERROR_TABLE}
# Refusals that point at a bug in the calling agent are logged at INFO; routine ones (rate limits, which
# their interceptor logs once per streak, long-poll timeouts, shutdown) at DEBUG.
_WORTH_INFO = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION}
)


@dataclass(frozen=True, slots=True)
class MappedError:
    code: grpc.StatusCode
    reason: str
    message: str
    trailing_metadata: tuple[tuple[str, str], ...]
    unexpected: bool


def map_exception(exc: Exception, trace_id: str = "") -> MappedError:
    """The status, reason, message and trailing metadata for `exc`, from the first row of its MRO."""
    row = next(_BY_TYPE[cls] for cls in type(exc).__mro__ if cls in _BY_TYPE)
    code, reason = row.code, row.reason
    if isinstance(exc, ToastyError) and row.exception is ToastyError:
        code, reason = exc.code, exc.reason  # a domain error added later: trust its own attributes
    message = row.message.format(trace_id=trace_id, error=exc) if row.message else str(exc)
    metadata: tuple[tuple[str, str], ...] = ((REASON_KEY, reason),)
    if trace_id:
        metadata += ((TRACE_ID_KEY, trace_id),)
    extra = getattr(exc, "trailing_metadata", ())
    if isinstance(extra, tuple):
        metadata += extra
    return MappedError(code, reason, message, metadata, unexpected=row.exception is Exception)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Turns whatever a handler (or an inner interceptor's refusal) raises into its status."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return wrap(handler_call_details.method, handler, _mapping_errors)


@asynccontextmanager
async def _mapping_errors(record: CallRecord, context: Context) -> AsyncIterator[None]:
    try:
        yield
    except grpc.aio.AbortError:
        raise  # the handler already chose its status
    except Exception as exc:
        mapped = map_and_log(exc, record.method)
        await context.abort(mapped.code, mapped.message, trailing_metadata=mapped.trailing_metadata)


def map_and_log(exc: Exception, what: str) -> MappedError:
    """`map_exception` under the current call's trace id, logged: a bug with its traceback, a refusal
    at INFO when it points at a bug in the calling agent, else at DEBUG. Call it in an `except`."""
    info = current_call()
    trace_id = info.trace_id if info else ""
    mapped = map_exception(exc, trace_id)
    if mapped.unexpected:
        log.exception("%s failed unexpectedly (trace id %s)", what, trace_id)
    else:
        level = logging.INFO if mapped.code in _WORTH_INFO else logging.DEBUG
        log.log(level, "%s refused: %s %s: %s", what, mapped.code.name, mapped.reason, mapped.message)
    return mapped
