"""Turning domain errors into statuses for a servicer that ends a call itself."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc

from toasty_server.errors import ToastyError

REASON_KEY = "toasty-reason"


async def abort(context: grpc.aio.ServicerContext[Any, Any], error: ToastyError) -> NoReturn:
    """End the call with the error's status, its message, and its reason in trailing metadata."""
    await context.abort(error.code, str(error), trailing_metadata=((REASON_KEY, error.reason),))
    raise AssertionError("unreachable: context.abort raises")
