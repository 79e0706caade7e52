"""Bind the servicer to the paths of the generated RPC table (no hand-written paths).

Requests are decoded strictly (`service.decoding`); bytes that are not a valid request reach the
handler as `Undecodable` and are refused with INVALID_ARGUMENT before the servicer sees them. The
publishing RPCs keep the request's upb parse (`WithWire`) so deliveries reuse its bytes, and flat
responses are written by upb (`service.wire`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from toasty_proto import v1
from toasty_proto.method import RpcMethod
from toasty_server.service.context import abort
from toasty_server.service.decoding import RequestDecoder, Undecodable, WireRequestDecoder
from toasty_server.service.servicer import NotificationServicer
from toasty_server.service.wire import response_serializer

Context = grpc.aio.ServicerContext[Any, Any]


def _raw(data: bytes) -> bytes:
    """Subscribe yields deliveries already serialized by the broker, PublishStream its answers."""
    return data


def register(server: grpc.aio.Server, servicer: NotificationServicer) -> None:
    """Every RPC of the table gets its handler; a method without one fails here, not at call time."""
    unary: dict[RpcMethod[Any, Any], Callable[..., Awaitable[Any]]] = {
        v1.NOTIFICATION_SERVICE_PUBLISH: servicer.publish,
        v1.NOTIFICATION_SERVICE_SEND_NOTIFICATION: servicer.send_notification,
        v1.NOTIFICATION_SERVICE_AWAIT_INTERACTION: servicer.await_interaction,
        v1.NOTIFICATION_SERVICE_WITHDRAW: servicer.withdraw,
        v1.NOTIFICATION_SERVICE_ANSWER: servicer.answer,
        v1.NOTIFICATION_SERVICE_GET_STATUS: servicer.get_status,
        v1.NOTIFICATION_SERVICE_LIST_QUESTIONS: servicer.list_questions,
        v1.NOTIFICATION_SERVICE_SET_DO_NOT_DISTURB: servicer.set_do_not_disturb,
        v1.NOTIFICATION_SERVICE_GET_ATTENTION: servicer.get_attention,
        v1.NOTIFICATION_SERVICE_MUTE: servicer.mute,
        v1.NOTIFICATION_SERVICE_SNOOZE: servicer.snooze,
    }
    keeps_wire = {v1.NOTIFICATION_SERVICE_PUBLISH}
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        method.name: grpc.unary_unary_rpc_method_handler(
            _refusing_undecodable(behaviour),
            request_deserializer=WireRequestDecoder(method) if method in keeps_wire else RequestDecoder(method),
            response_serializer=response_serializer(method.response_type),
        )
        for method, behaviour in unary.items()
    }
    subscribe = v1.NOTIFICATION_SERVICE_SUBSCRIBE
    handlers[subscribe.name] = grpc.unary_stream_rpc_method_handler(
        servicer.subscribe,  # refuses an undecodable request itself (one generator less per idle stream)
        request_deserializer=RequestDecoder(subscribe),
        response_serializer=_raw,
    )
    publish_stream = v1.NOTIFICATION_SERVICE_PUBLISH_STREAM
    handlers[publish_stream.name] = grpc.stream_stream_rpc_method_handler(
        servicer.publish_stream,  # refuses an undecodable request itself, after answering those before it
        request_deserializer=WireRequestDecoder(publish_stream),
        response_serializer=_raw,
    )
    missing = {m.name for m in v1.ALL_METHODS} - set(handlers)
    if missing:
        raise RuntimeError(f"RPCs without a handler: {', '.join(sorted(missing))}")
    service = subscribe.service
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)


def _refusing_undecodable(behaviour: Callable[[Any, Context], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def handler(request: Any, context: Context) -> Any:
        if isinstance(request, Undecodable):
            await abort(context, request.error)
        return await behaviour(request, context)

    return handler
