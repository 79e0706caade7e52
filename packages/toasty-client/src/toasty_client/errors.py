"""The client's exceptions: one class per failure an agent may want to handle differently."""

from __future__ import annotations

from collections.abc import Iterable

import grpc

from toasty_proto import v1

REASON_KEY = "toasty-reason"
RETRY_AFTER_KEY = "toasty-retry-after-ms"
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}  # a PublishError carries the number


class ToastyError(Exception):
    """Base of everything this client raises. `code` is the gRPC status, `reason` a stable word."""

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class InvalidNotification(ToastyError):
    """The server refused the request (INVALID_ARGUMENT); the message names the field to fix."""


class NotFound(ToastyError):
    pass


class PermissionDenied(ToastyError):
    pass


class Unauthenticated(ToastyError):
    pass


class RateLimited(ToastyError):
    """Too many calls from this agent; `retry_after` seconds is the server's hint."""

    def __init__(self, message: str, *, retry_after: float | None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerUnavailable(ToastyError):
    """The server could not be reached, or is shutting down, after the client's retries."""


class SubscriptionReplaced(ToastyError):
    """Another Subscribe with the same client id took over this stream; it is not resumed."""


def metadata_value(metadata: Iterable[tuple[str, str | bytes]] | None, key: str) -> str:
    """One key of a call's metadata (None when the call ended before sending any), decoded."""
    for item_key, value in metadata or ():
        if item_key == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


def _metadata(error: grpc.aio.AioRpcError, key: str) -> str:
    return metadata_value(error.trailing_metadata(), key)


def retry_after_seconds(error: grpc.aio.AioRpcError) -> float | None:
    """The server's retry hint from trailing metadata, in seconds."""
    value = _metadata(error, RETRY_AFTER_KEY)
    try:
        return int(value) / 1000 if value else None
    except ValueError:
        return None


def from_rpc_error(error: grpc.aio.AioRpcError) -> ToastyError:
    """Turn a gRPC failure into the matching ToastyError (the original is kept as __cause__)."""
    return _from_status(error.code(), error.details() or "", _metadata(error, REASON_KEY), retry_after_seconds(error))


def from_publish_error(error: v1.PublishError) -> ToastyError:
    """Turn one PublishStream request's refusal into the exception a unary Publish would have raised."""
    return _from_status(status_code(error.code), error.message, error.reason, publish_retry_after(error))


def publish_retry_after(error: v1.PublishError) -> float | None:
    """A PublishError's retry hint in seconds (None when it has none)."""
    return error.retry_after_ms / 1000 if error.retry_after_ms else None


def status_code(number: int) -> grpc.StatusCode:
    """The StatusCode for a numeric gRPC status (a PublishError carries the number); UNKNOWN if unknown."""
    return _BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def _from_status(code: grpc.StatusCode, details: str, reason: str, retry_after: float | None) -> ToastyError:
    """The one table from a status (code, details, toasty-reason, retry hint) to the exception raised."""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidNotification(details, code=code, reason=reason)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(details, code=code, reason=reason)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(details, code=code, reason=reason)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthenticated(details, code=code, reason=reason)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return RateLimited(details, code=code, reason=reason, retry_after=retry_after)
    if code == grpc.StatusCode.ABORTED and reason == "SUBSCRIPTION_REPLACED":
        return SubscriptionReplaced(details, code=code, reason=reason)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        return ServerUnavailable(details or code.name, code=code, reason=reason)
    return ToastyError(f"{code.name}: {details}", code=code, reason=reason)
