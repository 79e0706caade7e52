"""PublishStream: many publishes on one call, each answered on its own.

A unary Publish pays for a whole gRPC call per notification (most of the server's CPU per publish is
grpc's own call handling); on a stream the same publish costs one message each way. Each request is
still a full publish: the same validation, rate limit, durability (answered only once committed) and
error table as the unary call, so a refused request is answered with its PublishError and the call goes
on. Requests are stored in the order they arrive (except those with an idempotency key, which are
looked up first); answers go out as each commit completes.

At most `max_in_flight` requests of a call are unanswered at once: beyond that the handler stops
reading, and HTTP/2 flow control holds the client back, so a fast publisher cannot queue unbounded work.
The call ends early only for what concerns the call itself: a request that cannot be decoded (after
answering everything before it) or a server shutdown (the requests already read are answered first).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

from toasty_proto import v1
from toasty_server.interceptors.errors import RateLimited, ShuttingDown, map_and_log
from toasty_server.interceptors.ratelimit import AgentLimiters
from toasty_server.interceptors.shutdown import ShutdownGate
from toasty_server.observability.context import begin_item
from toasty_server.observability.metrics import ServerMetrics
from toasty_server.service.api import ToastyApi
from toasty_server.service.decoding import Undecodable, WithWire
from toasty_server.service.wire import flat_wire, submessage, wire_constructor

log = logging.getLogger(__name__)

StreamItem = WithWire[v1.PublishStreamRequest] | Undecodable
METHOD = v1.NOTIFICATION_SERVICE_PUBLISH_STREAM.path


@dataclass(frozen=True, slots=True)
class _End:
    """Everything read has been answered; `error` (if any) ends the call."""

    error: Exception | None


class PublishStreamHandler:
    """Runs PublishStream calls for the gRPC servicer."""

    def __init__(
        self,
        api: ToastyApi,
        gate: ShutdownGate,
        metrics: ServerMetrics,
        limiters: AgentLimiters | None = None,
        max_in_flight: int = 256,
    ) -> None:
        self.api = api
        self.gate = gate
        self.metrics = metrics
        self.limiters = limiters
        self.max_in_flight = max_in_flight
        self._response = wire_constructor("PublishStreamResponse")
        self._error = wire_constructor("PublishError")
        self._published = metrics.publishes.labels(method="PublishStream")

    async def run(self, agent: str, requests: AsyncIterator[StreamItem]) -> AsyncIterator[bytes]:
        """Serialized PublishStreamResponses, one per request; raises what ends the call."""
        answers: asyncio.Queue[bytes | _End] = asyncio.Queue()
        room = asyncio.Semaphore(self.max_in_flight)
        reader = asyncio.create_task(self._read(agent, requests, answers, room), name="toasty-publish-stream")
        try:
            while True:
                answer = await answers.get()
                if isinstance(answer, _End):
                    if answer.error is not None:
                        raise answer.error
                    return
                room.release()
                yield answer
        finally:
            reader.cancel()  # a no-op once it has ended; the call was cancelled otherwise

    async def _read(
        self,
        agent: str,
        requests: AsyncIterator[StreamItem],
        answers: asyncio.Queue[bytes | _End],
        room: asyncio.Semaphore,
    ) -> None:
        pending: set[asyncio.Task[None]] = set()
        error: Exception | None = None
        reader = asyncio.current_task()
        stop_reading = self.gate.on_close(reader.cancel if reader is not None else lambda: None)
        try:
            async for item in requests:
                if isinstance(item, Undecodable):
                    error = item.error
                    break
                await room.acquire()
                task = asyncio.create_task(self._answer(agent, item, answers))
                pending.add(task)
                task.add_done_callback(pending.discard)
        except asyncio.CancelledError:
            if not self.gate.closed:
                raise  # the call itself was cancelled: nobody is left to answer
            error = ShuttingDown("the server is shutting down; publish again after reconnecting")
        finally:
            stop_reading()
        if pending:
            await asyncio.wait(pending)
        answers.put_nowait(_End(error))

    async def _answer(
        self, agent: str, item: WithWire[v1.PublishStreamRequest], answers: asyncio.Queue[bytes | _End]
    ) -> None:
        request_id = item.message.request_id
        publish = item.message.publish
        if publish is None:  # (not `or`: a betterproto2 message's truth walks all its fields)
            publish = v1.PublishRequest()
        begin_item(publish.notification.id if publish.notification is not None else "")
        wire = submessage(item.wire, "publish")
        notification = submessage(wire, "notification") if wire is not None else None
        self.gate.enter()  # the drain before a stop waits for it
        try:
            try:
                await self._admit(agent)
                response = await self.api.publish(agent, publish, notification)
            finally:
                self.gate.leave()
            self._published.inc()
            answer = self._response(request_id=request_id, published=flat_wire(response))
        except Exception as exc:
            mapped = map_and_log(exc, f"{METHOD} request {request_id}")
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else 0.0
            error = self._error(
                code=mapped.code.value[0],
                reason=mapped.reason,
                message=mapped.message,
                retry_after_ms=max(1, math.ceil(retry_after * 1000)) if retry_after else 0,
            )
            answer = self._response(request_id=request_id, error=error)
        answers.put_nowait(answer.SerializeToString())

    async def _admit(self, agent: str) -> None:
        """Each request spends the agent's rate budget, as a unary Publish would (never suspends when
        there is room, so requests keep their order)."""
        if self.limiters is None:
            return
        retry_after = await self.limiters.try_acquire(agent)
        if retry_after is None:
            return
        self.metrics.rate_limit_refusals.inc()
        raise self.limiters.refusal(agent, retry_after)
