"""Draining before a stop: once closed, new calls get UNAVAILABLE (reason SHUTTING_DOWN) while the
unary calls already in flight finish; the server then stops without cutting any of them off.

Without this, calls that arrive after grpc's own stop has begun are cancelled (CANCELLED, no reason),
and health checks cannot be answered at all; with it, health keeps answering NOT_SERVING meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import grpc

from toasty_server.interceptors.base import (
    CallRecord,
    Context,
    Continuation,
    Handler,
    is_infrastructure,
    refusal,
    wrap,
)
from toasty_server.interceptors.errors import ShuttingDown


class ShutdownGate(grpc.aio.ServerInterceptor):
    """Counts unary calls in flight; `close()` refuses new calls, `wait_idle()` waits for the rest."""

    def __init__(self) -> None:
        self.closed = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._on_close: set[Callable[[], object]] = set()

    def close(self) -> None:
        self.closed = True
        for callback in list(self._on_close):
            callback()

    def on_close(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Run `callback` when the gate closes (a PublishStream stops reading then); returns the undo."""
        self._on_close.add(callback)
        return lambda: self._on_close.discard(callback)

    async def wait_idle(self, within: float) -> bool:
        """True when no unary call is in flight any more, False if `within` seconds passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        method = handler_call_details.method
        if is_infrastructure(method):
            return await continuation(handler_call_details)
        if self.closed:
            return refusal(method, ShuttingDown("the server is shutting down; retry shortly (or reconnect and resume)"))
        handler = await continuation(handler_call_details)
        if handler is None or handler.response_streaming:
            return handler  # streams are ended by the broker, not waited for
        return wrap(method, handler, self._counting)

    @asynccontextmanager
    async def _counting(self, record: CallRecord, context: Context) -> AsyncIterator[None]:
        async with self.in_flight_call():
            yield

    @asynccontextmanager
    async def in_flight_call(self) -> AsyncIterator[None]:
        """Count one unary call as in flight (also for the HTTP endpoint, so the drain waits for both)."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def enter(self) -> None:
        """One more call (or PublishStream request) in flight; pair with `leave()` in a `finally`."""
        self.in_flight += 1
        self._idle.clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()
