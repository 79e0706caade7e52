"""Plumbing the interceptors share: wrap a handler's behaviour, refuse a call, read metadata.

grpc.aio interceptors only see the call's method and metadata, and hand back a method handler. To act
around the call itself (time it, map its exceptions, see its request) an interceptor returns a copy of
the handler whose behaviour runs inside an async context manager. To refuse a call it returns a
handler that raises a domain error: the errors interceptor, further out, turns it into a status.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc

from toasty_proto import v1

# grpc's classes are generic only in the type stubs: these aliases stay strings at runtime.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]"

AGENT_ID_KEY = "x-agent-id"
ANONYMOUS = "anonymous"

# Health checks and reflection are for tooling: never limited, never asked for a token.
INFRASTRUCTURE_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
STREAMING_PATHS = frozenset(m.path for m in v1.ALL_METHODS if m.server_streaming)
CLIENT_STREAMING_PATHS = frozenset(m.path for m in v1.ALL_METHODS if m.client_streaming)


def is_infrastructure(method: str) -> bool:
    return method.startswith(INFRASTRUCTURE_PREFIXES)


def metadata_value(metadata: Iterable[tuple[str, str | bytes]] | None, key: str) -> str:
    """The first value of `key` (keys arrive lower-cased), decoded; empty when absent."""
    for item_key, value in metadata or ():
        if item_key == key:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return ""


def agent_from(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The caller's `x-agent-id`, or `anonymous` (all callers without one share that identity)."""
    return metadata_value(metadata, AGENT_ID_KEY).strip() or ANONYMOUS


@dataclass(slots=True)
class CallRecord:
    """What a wrapper sees of one call: the request, then the response (unary) or messages sent."""

    method: str
    request: Any
    response: Any = None
    messages: int = 0
    streaming: bool = False
    on_message: Callable[[], object] | None = None  # set by an `around` to see each streamed message


Around: TypeAlias = "Callable[[CallRecord, Context], AbstractAsyncContextManager[None]]"


def wrap(method: str, handler: Handler, around: Around) -> Handler:
    """The same handler, its behaviour run inside `around(record, context)`.

    Unary-unary, unary-stream (async generator or `context.write` style) and stream-stream async
    generators (PublishStream, reflection) are wrapped, with the request iterator as `record.request`;
    other client-streaming handlers and synchronous behaviours are returned unchanged.
    """
    if handler.request_streaming:
        return _wrap_bidi(method, handler, around) if handler.response_streaming else handler
    if handler.response_streaming:
        return _wrap_stream(method, handler, around)
    inner: Any = handler.unary_unary  # the stubs describe sync behaviours; grpc.aio's are coroutines
    if inner is None or not inspect.iscoroutinefunction(inner):
        return handler
    call_unary: Callable[[Any, Context], Awaitable[Any]] = inner

    async def unary(request: Any, context: Context) -> Any:
        record = CallRecord(method, request)
        async with around(record, context):
            record.response = await call_unary(request, context)
        return record.response

    return grpc.unary_unary_rpc_method_handler(
        unary, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )


def _wrap_stream(method: str, handler: Handler, around: Around) -> Handler:
    inner: Any = handler.unary_stream
    if inspect.isasyncgenfunction(inner):
        behaviour: Any = _around_messages(method, inner, around)
    elif inspect.iscoroutinefunction(inner):
        call_writer: Callable[[Any, Context], Awaitable[None]] = inner

        async def writer(request: Any, context: Context) -> None:
            record = CallRecord(method, request, streaming=True)
            async with around(record, context):
                await call_writer(request, context)

        behaviour = writer
    else:
        return handler
    return grpc.unary_stream_rpc_method_handler(
        behaviour, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )


def _wrap_bidi(method: str, handler: Handler, around: Around) -> Handler:
    inner: Any = handler.stream_stream
    if not inspect.isasyncgenfunction(inner):
        return handler
    return grpc.stream_stream_rpc_method_handler(
        _around_messages(method, inner, around),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _around_messages(
    method: str, behaviour: Callable[[Any, Context], AsyncIterator[Any]], around: Around
) -> Callable[[Any, Context], AsyncIterator[Any]]:
    """A streaming behaviour (its request, or request iterator, first) run inside `around`, each message
    it yields counted in the record (server-streaming and bidi calls alike)."""

    async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
        record = CallRecord(method, request, streaming=True)
        async with around(record, context):
            async for message in behaviour(request, context):
                record.messages += 1
                if record.on_message is not None:
                    record.on_message()
                yield message

    return streaming


def refusal(method: str, error: Exception) -> Handler:
    """A handler that refuses the call with `error` (its kind matches the method's, per the RPC table)."""
    if method in STREAMING_PATHS or method in CLIENT_STREAMING_PATHS:

        async def refuse_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            raise error
            yield  # pragma: no cover  (makes this an async generator, as a streaming handler must be)

        if method in CLIENT_STREAMING_PATHS:
            return grpc.stream_stream_rpc_method_handler(refuse_stream)
        return grpc.unary_stream_rpc_method_handler(refuse_stream)

    async def refuse(request: Any, context: Context) -> Any:
        raise error

    return grpc.unary_unary_rpc_method_handler(refuse)
