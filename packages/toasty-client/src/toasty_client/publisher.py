"""`StreamPublisher`: many concurrent publishes multiplexed on one PublishStream call.

A unary Publish pays for a whole gRPC call per notification; on one PublishStream call each publish
costs one message each way, so the server takes many more per second. Each `publish()` here is one
attempt: it writes its request with a fresh request id and waits for the answer carrying that id. The
caller (the client) retries failed attempts under its RetryPolicy, so this class never retries.

One writer task and one reader task own the call: grpc.aio cancels the whole call when a `write()` or
`read()` is cancelled, so a caller that gives up (cancelled, timed out) only drops its own wait and is
skipped if not written yet. Nothing is buffered beyond the callers' own waiting requests: the writer
writes one request at a time, each `write()` awaiting HTTP/2 flow control, and the server stops reading
beyond its in-flight limit.

A new call carries one request until its first answer. grpc.aio reports a write that fails because the
call has ended as INTERNAL and overwrites the call's real status with it, so a burst of writes into a
call the server refused at once (UNIMPLEMENTED on an older server, UNAUTHENTICATED) would hide why. Once
a call has answered, the server ends it only when it goes away (restart, shutdown, network), so a
failed write there means a broken call: UNAVAILABLE, retried on a new call.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from toasty_client.errors import publish_retry_after, status_code
from toasty_proto import v1

log = logging.getLogger(__name__)

StreamCall = grpc.aio.StreamStreamCall[v1.PublishStreamRequest, v1.PublishStreamResponse]


class PublishRefused(Exception):
    """One attempt failed while the call goes on: the server's PublishError, or no answer in time.

    `code` is the status a unary Publish would have ended with, so the same retry rules apply to it.
    """

    def __init__(self, error: v1.PublishError) -> None:
        super().__init__(error.message)
        self.error = error
        self.code = status_code(error.code)
        self.retry_after = publish_retry_after(error)


class StreamUnsupported(Exception):
    """The server answered PublishStream with UNIMPLEMENTED (an older server): publish unary instead."""


@dataclass(frozen=True, slots=True)
class _HalfClose:
    """The writer's last item: tell the server no more requests come, so it ends the call once it has
    answered all of them."""


_Waiter = asyncio.Future[v1.PublishStreamResponse]
_Outgoing = tuple[int, v1.PublishRequest, _Waiter]


@dataclass(eq=False)
class _Call:
    """One PublishStream call with the requests it has not answered yet."""

    grpc_call: StreamCall
    answers: int = 0  # answers read so far: a call silent for a whole timeout is not used again
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)  # its first answer came
    write_failed: bool = False  # so an INTERNAL status is grpc.aio's report of that write, not the server's
    pending: dict[int, _Waiter] = field(default_factory=dict)
    outbox: collections.deque[_Outgoing | _HalfClose] = field(default_factory=collections.deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    retired: bool = False  # new requests go to another call; cancelled once its pending are done
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class StreamPublisher:
    """Publishes on one long-lived PublishStream call, opened on first use and reopened after it failed."""

    def __init__(self, open_call: Callable[[], StreamCall], *, timeout: float) -> None:
        # `open_call` starts a PublishStream call with the client's metadata (agent id, token)
        self._open_call = open_call
        self.timeout = timeout  # per attempt, as a unary call's deadline
        self._ids = itertools.count(1)
        self._current: _Call | None = None
        self._calls: set[_Call] = set()  # calls whose reader has not finished
        self._closed = False
        self._unsupported = ""  # why, once the server answered UNIMPLEMENTED: never open another call

    async def publish(self, request: v1.PublishRequest) -> v1.PublishResponse:
        """One attempt. Raises grpc.aio.AioRpcError when the call failed (every unanswered request of
        it gets the error), PublishRefused for this request alone, StreamUnsupported on an old server."""
        if self._closed:
            raise RuntimeError("the client is closed")
        if self._unsupported:
            raise StreamUnsupported(self._unsupported)
        loop = asyncio.get_running_loop()
        call = self._current if self._current is not None else self._open()
        request_id = next(self._ids)
        waiter: _Waiter = loop.create_future()
        call.pending[request_id] = waiter
        call.outbox.append((request_id, request, waiter))
        call.wakeup.set()
        answers_before = call.answers
        try:
            async with asyncio.timeout(self.timeout):
                answer = await waiter
        except TimeoutError:
            if call.answers == answers_before:
                self._retire(call)
            deadline = v1.PublishError(
                code=grpc.StatusCode.DEADLINE_EXCEEDED.value[0],
                message=f"no answer within {self.timeout:g}s",
            )
            raise PublishRefused(deadline) from None
        finally:
            if call.pending.get(request_id) is waiter:
                del call.pending[request_id]
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # retrieved, also when this caller was cancelled as it was set
            if call.retired and not call.pending:
                call.grpc_call.cancel()
        if answer.published is not None:
            return answer.published
        if answer.error is not None:
            raise PublishRefused(answer.error)
        raise PublishRefused(
            v1.PublishError(code=grpc.StatusCode.INTERNAL.value[0], message="an answer without a result")
        )

    async def aclose(self, grace: float) -> None:
        """Half-close every call and wait up to `grace` seconds for the answers still due; then cancel."""
        self._closed = True
        self._current = None
        calls = list(self._calls)
        for call in calls:
            call.outbox.append(_HalfClose())
            call.wakeup.set()
        try:
            if calls:
                await asyncio.wait([call.tasks[0] for call in calls], timeout=grace)
        finally:
            for call in calls:
                call.grpc_call.cancel()  # a no-op for the calls that ended
                for task in call.tasks:
                    task.cancel()
        await asyncio.gather(*(task for call in calls for task in call.tasks), return_exceptions=True)

    def _open(self) -> _Call:
        call = _Call(self._open_call())
        call.tasks = [
            asyncio.create_task(self._read(call), name="toasty-publish-stream-reader"),
            asyncio.create_task(self._write(call), name="toasty-publish-stream-writer"),
        ]
        self._current = call
        self._calls.add(call)
        log.debug("opened a PublishStream call")
        return call

    def _retire(self, call: _Call) -> None:
        """Send no more requests on a call that answered nothing for a whole timeout (a unary retry
        would get a fresh call too); it is cancelled once its last pending request is done."""
        if call.retired:
            return
        call.retired = True
        if self._current is call:
            self._current = None
        log.info("no answer on the PublishStream call for %gs; publishing on a new call", self.timeout)

    async def _write(self, call: _Call) -> None:
        """Write the outbox in order; stop at the first failure (the reader reports the call's status)."""
        try:
            while True:
                while not call.outbox:
                    call.wakeup.clear()
                    await call.wakeup.wait()
                item = call.outbox.popleft()
                if isinstance(item, _HalfClose):
                    await call.grpc_call.done_writing()
                    return
                request_id, request, waiter = item
                if waiter.done():
                    continue  # its caller gave up before it was sent
                if call.grpc_call.done():
                    return
                await call.grpc_call.write(v1.PublishStreamRequest(request_id=request_id, publish=request))
                if not call.confirmed.is_set():
                    await call.confirmed.wait()
        except grpc.aio.AioRpcError as exc:
            call.write_failed = True
            log.debug("PublishStream write failed: %s", exc)
        except asyncio.InvalidStateError as exc:
            log.debug("PublishStream write failed: %s", exc)
        except asyncio.CancelledError:
            if _task_cancelled() or not call.grpc_call.cancelled():
                raise
            # the call was cancelled (retired or closed): its reader reports that

    async def _read(self, call: _Call) -> None:
        """Hand each answer to its waiter; when the call ends, fail everything it left unanswered."""
        error: grpc.aio.AioRpcError
        try:
            while True:
                answer = await call.grpc_call.read()
                if not isinstance(answer, v1.PublishStreamResponse):  # EOF: the server ended the call
                    error = grpc.aio.AioRpcError(
                        grpc.StatusCode.UNAVAILABLE, details="the server ended the PublishStream call"
                    )
                    break
                call.answers += 1
                call.confirmed.set()
                waiter = call.pending.pop(answer.request_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(answer)
        except grpc.aio.AioRpcError as exc:
            error = exc
            if exc.code() == grpc.StatusCode.INTERNAL and call.write_failed:
                error = grpc.aio.AioRpcError(
                    grpc.StatusCode.UNAVAILABLE, details="the PublishStream call broke while sending"
                )
        except asyncio.CancelledError:
            if _task_cancelled() or not call.grpc_call.cancelled():
                self._end(call, grpc.aio.AioRpcError(grpc.StatusCode.CANCELLED, details="the publisher stopped"))
                raise
            error = grpc.aio.AioRpcError(grpc.StatusCode.CANCELLED, details="the PublishStream call was cancelled")
        self._end(call, error)

    def _end(self, call: _Call, error: grpc.aio.AioRpcError) -> None:
        self._calls.discard(call)
        if self._current is call:
            self._current = None
        if error.code() == grpc.StatusCode.UNIMPLEMENTED:
            self._unsupported = error.details() or "PublishStream is not implemented by this server"
        call.tasks[1].cancel()  # the writer, if still waiting for work
        if call.pending:
            log.debug("PublishStream call ended (%s) with %d unanswered", error.code().name, len(call.pending))
        for waiter in call.pending.values():
            if not waiter.done():
                waiter.set_exception(_failure(error))
        call.pending.clear()


def _task_cancelled() -> bool:
    """Whether this task is being cancelled (rather than grpc raising CancelledError for a cancelled call)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _failure(error: grpc.aio.AioRpcError) -> Exception:
    """A fresh exception per waiter (one instance raised in many tasks would share its traceback)."""
    if error.code() == grpc.StatusCode.UNIMPLEMENTED:
        return StreamUnsupported(error.details() or "PublishStream is not implemented by this server")
    return grpc.aio.AioRpcError(
        error.code(), error.initial_metadata(), error.trailing_metadata(), error.details(), error.debug_error_string()
    )
