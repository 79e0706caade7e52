"""Server-sent events: framing, and a source read with keep-alives in the quiet periods.

A keep-alive comment every HEARTBEAT_SECONDS keeps proxies from closing an idle stream and shows a
vanished client early (the write fails), so its subscription is released instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TypeVar

from aiohttp import web

from toasty_server.http.errors import TRACE_ID_HEADER
from toasty_server.observability.context import current_call

T = TypeVar("T")

HEARTBEAT_SECONDS = 15.0
KEEPALIVE = b": keep-alive\n\n"
RECONNECT_MS = 1000  # what an EventSource waits before reconnecting (it then sends Last-Event-ID)


class FrameCache:
    """Event frames by the delivery bytes they encode: the broker hands every subscriber of a publish the
    same bytes, so with N readers the frame is built once, not N times (at 1,000 readers, building it per
    reader stalled the event loop). Bounded: the oldest frames are forgotten first."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._frames: OrderedDict[bytes, bytes] = OrderedDict()

    def get(self, payload: bytes, build: Callable[[bytes], bytes]) -> bytes:
        frame = self._frames.get(payload)
        if frame is None:
            frame = self._frames[payload] = build(payload)
            if len(self._frames) > self._size:
                self._frames.popitem(last=False)
        return frame


def event(data: str, *, name: str | None = None, event_id: str | None = None) -> bytes:
    """One event; `data` must be a single line (compact JSON is)."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if name is not None:
        lines.append(f"event: {name}")
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode()


async def open_stream(request: web.Request) -> web.StreamResponse:
    """Start a 200 text/event-stream response (its headers go out now)."""
    info = current_call()
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # reverse proxies: do not buffer the stream
            TRACE_ID_HEADER: info.trace_id if info is not None else "",
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RECONNECT_MS}\n\n".encode())
    return response


async def with_heartbeats(source: AsyncIterator[T], every: float | None = None) -> AsyncGenerator[T | None, None]:
    """The items of `source`, and None each time `every` seconds pass without one.

    The pending read of `source` is kept across the quiet periods (never cancelled mid-item), and is
    cancelled, then `source` closed, when this generator is closed.
    """
    every = HEARTBEAT_SECONDS if every is None else every
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=every)
            if not done:
                yield None
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        close = getattr(source, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
