"""Every row of the error table, as a unit and over the wire: code, stable reason, a useful message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from tests.hardening.helpers import stream, text_publish, trailing, unary
from toasty_proto import v1
from toasty_server.access.credentials import Credentials
from toasty_server.app import ToastyServer
from toasty_server.broker import Broker, BrokerClosed, SubscriptionReplaced
from toasty_server.config import load_settings
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
from toasty_server.interceptors import ERROR_TABLE, RateLimited, ShutdownGate, Unauthenticated, build_interceptors
from toasty_server.interceptors.errors import ShuttingDown, map_exception
from toasty_server.observability.metrics import ServerMetrics
from toasty_server.store import StoreUnavailable
from toasty_server.testing import running_server

SECRET = "s3cret-internal-detail /home/user/.ssh"


class TeapotError(ToastyError):
    """A domain error the table does not list: it keeps its own code and reason."""

    code = grpc.StatusCode.OUT_OF_RANGE
    reason = "TEAPOT"


# One example per row, with the status and reason it must produce.
EXAMPLES: dict[type[BaseException], tuple[Callable[[], Exception], grpc.StatusCode, str]] = {
    InvalidArgument: (
        lambda: InvalidArgument("title", "is required"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    ),
    NotFound: (lambda: NotFound("no notification n1"), grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
    PermissionDenied: (lambda: PermissionDenied("not yours"), grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
    FailedPrecondition: (
        lambda: FailedPrecondition("not now"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "FAILED_PRECONDITION",
    ),
    DeadlineExceeded: (
        lambda: DeadlineExceeded("no answer yet"),
        grpc.StatusCode.DEADLINE_EXCEEDED,
        "DEADLINE_EXCEEDED",
    ),
    Replaced: (lambda: Replaced("replaced"), grpc.StatusCode.ABORTED, "SUBSCRIPTION_REPLACED"),
    Unavailable: (lambda: Unavailable("busy"), grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
    RateLimited: (lambda: RateLimited("slow down", 1.5), grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
    Unauthenticated: (lambda: Unauthenticated("who are you"), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
    ShuttingDown: (lambda: ShuttingDown("stopping"), grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN"),
    BrokerClosed: (lambda: BrokerClosed("closing"), grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN"),
    SubscriptionReplaced: (lambda: SubscriptionReplaced("c1"), grpc.StatusCode.ABORTED, "SUBSCRIPTION_REPLACED"),
    StoreUnavailable: (lambda: StoreUnavailable("disk full"), grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE"),
    ToastyError: (lambda: TeapotError("short and stout"), grpc.StatusCode.OUT_OF_RANGE, "TEAPOT"),
    Exception: (lambda: RuntimeError(SECRET), grpc.StatusCode.INTERNAL, "INTERNAL"),
}
ROWS = [row.exception for row in ERROR_TABLE]


def test_every_row_has_an_example() -> None:
    assert set(ROWS) == set(EXAMPLES)


@pytest.mark.parametrize("row", ROWS, ids=lambda cls: cls.__name__)
def test_table_row(row: type[BaseException]) -> None:
    make, code, reason = EXAMPLES[row]
    mapped = map_exception(make(), trace_id="4bf92f3577b34da6a3ce929d0e0e4736")
    assert (mapped.code, mapped.reason) == (code, reason)
    assert ("toasty-reason", reason) in mapped.trailing_metadata
    assert ("toasty-trace-id", "4bf92f3577b34da6a3ce929d0e0e4736") in mapped.trailing_metadata
    assert mapped.message
    if row is Exception:
        assert SECRET not in mapped.message
        assert "4bf92f3577b34da6a3ce929d0e0e4736" in mapped.message
    if row is RateLimited:
        assert ("toasty-retry-after-ms", "1500") in mapped.trailing_metadata


@asynccontextmanager
async def raising_server(make: Callable[[], Exception]) -> AsyncIterator[str]:
    """A bare grpc.aio server with Toasty's interceptor chain, whose Publish and Subscribe raise `make()`.

    Independent of the servicer (which may map some errors itself): this is the interceptor's table.
    """

    async def unary_handler(request: bytes, context: Any) -> bytes:
        raise make()

    async def stream_handler(request: bytes, context: Any) -> AsyncIterator[bytes]:
        yield b""  # one message first: mapping still works mid-stream
        raise make()

    settings = load_settings(host="127.0.0.1", port=0, store="memory", rate_limit=0)
    server = grpc.aio.server(
        interceptors=build_interceptors(
            settings, ServerMetrics(), ShutdownGate(), Credentials("a person secret for the test")
        )
    )
    handlers = {
        v1.NOTIFICATION_SERVICE_PUBLISH.name: grpc.unary_unary_rpc_method_handler(unary_handler),
        v1.NOTIFICATION_SERVICE_SUBSCRIBE.name: grpc.unary_stream_rpc_method_handler(stream_handler),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(v1.NOTIFICATION_SERVICE_PUBLISH.service, handlers),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


async def collect(call: Any, into: list[bytes]) -> None:
    async for message in call:
        into.append(message)


@pytest.mark.parametrize("row", ROWS, ids=lambda cls: cls.__name__)
async def test_row_over_the_wire(row: type[BaseException]) -> None:
    make, code, reason = EXAMPLES[row]
    async with raising_server(make) as address, grpc.aio.insecure_channel(address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as unary_failed:
            await channel.unary_unary(v1.NOTIFICATION_SERVICE_PUBLISH.path)(b"", metadata=(("x-agent-id", "a"),))
        received: list[bytes] = []
        with pytest.raises(grpc.aio.AioRpcError) as stream_failed:
            await collect(channel.unary_stream(v1.NOTIFICATION_SERVICE_SUBSCRIBE.path)(b""), received)
    assert received == [b""]
    for error in (unary_failed.value, stream_failed.value):
        assert error.code() == code
        assert trailing(error, "toasty-reason") == reason
        assert len(trailing(error, "toasty-trace-id")) == 32
        if row is Exception:
            assert SECRET not in (error.details() or "")
            assert trailing(error, "toasty-trace-id") in (error.details() or "")
        if row is RateLimited:
            assert trailing(error, "toasty-retry-after-ms") == "1500"


async def test_internal_error_in_the_real_service_leaks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(self: Broker) -> int:
        raise RuntimeError(SECRET)

    async with running_server() as server, grpc.aio.insecure_channel(server.address) as channel:
        with monkeypatch.context() as patch:
            patch.setattr(Broker, "last_sequence", property(explode))
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await unary(channel, v1.NOTIFICATION_SERVICE_GET_STATUS, v1.StatusRequest(), (("x-agent-id", "a"),))
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    assert trailing(failed.value, "toasty-reason") == "INTERNAL"
    assert SECRET not in (failed.value.details() or "")
    assert trailing(failed.value, "toasty-trace-id") in (failed.value.details() or "")


async def test_internal_error_in_a_stream_leaks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(self: Broker, sub: Any) -> AsyncIterator[Any]:
        raise RuntimeError(SECRET)
        yield

    monkeypatch.setattr(Broker, "deliveries", broken)
    async with running_server() as server, grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            async for _ in stream(channel, v1.SubscriptionRequest(client_id="c")):
                pass
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    assert trailing(failed.value, "toasty-reason") == "INTERNAL"
    assert SECRET not in (failed.value.details() or "")


async def test_invalid_argument_names_the_field() -> None:
    async with running_server() as server, grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await unary(channel, v1.NOTIFICATION_SERVICE_PUBLISH, v1.PublishRequest())
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailing(failed.value, "toasty-reason") == "INVALID_ARGUMENT"
    assert "notification" in (failed.value.details() or "")


async def test_an_agent_id_over_the_limit_is_invalid_argument() -> None:
    async with running_server(max_id_chars=8) as server, grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await unary(channel, v1.NOTIFICATION_SERVICE_GET_STATUS, v1.StatusRequest(), (("x-agent-id", "x" * 9),))
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x-agent-id" in (failed.value.details() or "")
    assert "TOASTY_MAX_ID_CHARS" in (failed.value.details() or "")


async def test_unknown_notification_id_is_not_found() -> None:
    async with running_server() as server, grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await unary(
                channel,
                v1.NOTIFICATION_SERVICE_AWAIT_INTERACTION,
                v1.AwaitInteractionRequest(notification_id="never-published", timeout_seconds=1),
                (("x-agent-id", "a"),),
            )
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    assert trailing(failed.value, "toasty-reason") == "NOT_FOUND"
    assert "never-published" in (failed.value.details() or "")


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        (v1.NOTIFICATION_SERVICE_WITHDRAW, v1.WithdrawRequest(notification_id="never-published")),
        (v1.NOTIFICATION_SERVICE_ANSWER, v1.AnswerRequest(notification_id="never-published", dismiss=True)),
    ],
)
async def test_withdraw_and_answer_of_an_unknown_id_are_not_found(method: Any, request_: Any) -> None:
    async with running_server() as server, grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await unary(channel, method, request_, (("x-agent-id", "a"),))
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    assert "never-published" in (failed.value.details() or "")


async def test_a_plain_toast_is_withdrawn_by_its_publisher_only() -> None:
    async with running_server() as server, grpc.aio.insecure_channel(server.address) as channel:
        title = v1.TextMessage(header=v1.Header(title="t"))
        toast = v1.PublishRequest(notification=v1.Notification(id="n1", text_message=title))
        await unary(channel, v1.NOTIFICATION_SERVICE_PUBLISH, toast, (("x-agent-id", "a"),))
        withdraw = v1.WithdrawRequest(notification_id="n1")
        with pytest.raises(grpc.aio.AioRpcError) as failed:  # b's own "n1": there is none
            await unary(channel, v1.NOTIFICATION_SERVICE_WITHDRAW, withdraw, (("x-agent-id", "b"),))
        assert failed.value.code() == grpc.StatusCode.NOT_FOUND
        theirs = v1.WithdrawRequest(notification_id="a~n1")
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await unary(channel, v1.NOTIFICATION_SERVICE_WITHDRAW, theirs, (("x-agent-id", "b"),))
        assert failed.value.code() == grpc.StatusCode.PERMISSION_DENIED
        done = await unary(channel, v1.NOTIFICATION_SERVICE_WITHDRAW, withdraw, (("x-agent-id", "a"),))
        assert done.withdrawn


async def test_calls_during_the_drain_are_unavailable_and_in_flight_ones_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In process: stop() while a call is in flight; a new call gets UNAVAILABLE / SHUTTING_DOWN."""
    started = asyncio.Event()
    release = asyncio.Event()
    original = Broker.publish

    async def slow_publish(self: Broker, *args: Any, **kwargs: Any) -> Any:
        started.set()
        await release.wait()
        return await original(self, *args, **kwargs)

    server = ToastyServer(load_settings(host="127.0.0.1", port=0, store="memory", metrics_enabled=False), backends=())
    await server.start()
    async with grpc.aio.insecure_channel(server.address) as channel:
        monkeypatch.setattr(Broker, "publish", slow_publish)
        in_flight = asyncio.ensure_future(unary(channel, v1.NOTIFICATION_SERVICE_PUBLISH, text_publish("slow")))
        await started.wait()
        stopping = asyncio.ensure_future(server.stop())
        for _ in range(100):
            if server.gate.closed:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await unary(channel, v1.NOTIFICATION_SERVICE_GET_STATUS, v1.StatusRequest())
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert trailing(refused.value, "toasty-reason") == "SHUTTING_DOWN"
        release.set()
        assert (await in_flight).success
        await stopping
