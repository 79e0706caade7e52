"""Domain errors, each carrying the gRPC status it maps to and a stable machine-readable reason.

The service raises these; one place (`service.errors`) turns them into statuses, so every RPC maps the
same failure the same way.
"""

from __future__ import annotations

import grpc


class ToastyError(Exception):
    """Base: a failure the caller can act on. `reason` is stable; the message says what to fix."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"


class InvalidArgument(ToastyError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(ToastyError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class PermissionDenied(ToastyError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class FailedPrecondition(ToastyError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class Unavailable(ToastyError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


class Replaced(ToastyError):
    """A newer Subscribe with the same client id took over; the old stream must not reconnect."""

    code = grpc.StatusCode.ABORTED
    reason = "SUBSCRIPTION_REPLACED"


class DeadlineExceeded(ToastyError):
    """Nothing happened within the caller's wait (e.g. no answer yet); the call may be repeated."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXCEEDED"
