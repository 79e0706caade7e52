"""Per-call facts read from gRPC metadata, and turning domain errors into statuses."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc

from toasty_server.errors import ToastyError

AGENT_ID_KEY = "x-agent-id"
REASON_KEY = "toasty-reason"
ANONYMOUS = "anonymous"


def metadata_value(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return ""


async def abort(context: grpc.aio.ServicerContext[Any, Any], error: ToastyError) -> NoReturn:
    """End the call with the error's status, its message, and its reason in trailing metadata."""
    await context.abort(error.code, str(error), trailing_metadata=((REASON_KEY, error.reason),))
    raise AssertionError("unreachable: context.abort raises")
