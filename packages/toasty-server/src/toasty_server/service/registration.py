"""Bind the servicer to the paths of the generated RPC table (no hand-written paths)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from toasty_proto import v1
from toasty_proto.method import RpcMethod
from toasty_server.service.servicer import NotificationServicer


def _raw(data: bytes) -> bytes:
    """Subscribe yields deliveries already serialized by the broker."""
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
    }
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        method.name: grpc.unary_unary_rpc_method_handler(
            behaviour, request_deserializer=method.deserialize_request, response_serializer=method.serialize
        )
        for method, behaviour in unary.items()
    }
    subscribe = v1.NOTIFICATION_SERVICE_SUBSCRIBE
    handlers[subscribe.name] = grpc.unary_stream_rpc_method_handler(
        servicer.subscribe, request_deserializer=subscribe.deserialize_request, response_serializer=_raw
    )
    missing = {m.name for m in v1.ALL_METHODS} - set(handlers)
    if missing:
        raise RuntimeError(f"RPCs without a handler: {', '.join(sorted(missing))}")
    service = subscribe.service
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)
