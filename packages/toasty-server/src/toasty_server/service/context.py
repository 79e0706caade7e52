"""Per-call facts read from gRPC metadata, and turning domain errors into statuses."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc

from toasty_server.errors import InvalidArgument, ToastyError

AGENT_ID_KEY = "x-agent-id"
REASON_KEY = "toasty-reason"
ANONYMOUS = "anonymous"


def metadata_value(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return ""


def agent_id(context: grpc.aio.ServicerContext[Any, Any], max_chars: int) -> str:
    """The caller's `x-agent-id`; `anonymous` when missing (limited as one agent)."""
    value = metadata_value(context, AGENT_ID_KEY).strip()
    if len(value) > max_chars:
        raise InvalidArgument(f"{AGENT_ID_KEY} metadata", f"is {len(value)} characters; the limit is {max_chars}")
    return value or ANONYMOUS


async def abort(context: grpc.aio.ServicerContext[Any, Any], error: ToastyError) -> NoReturn:
    """End the call with the error's status, its message, and its reason in trailing metadata."""
    await context.abort(error.code, str(error), trailing_metadata=((REASON_KEY, error.reason),))
    raise AssertionError("unreachable: context.abort raises")
