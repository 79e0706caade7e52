"""Bind the servicer to the paths of the generated RPC table (no hand-written paths)."""

from __future__ import annotations

from typing import Any

import grpc

from toasty_proto import v1
from toasty_server.service.servicer import NotificationServicer


def _raw(data: bytes) -> bytes:
    """Subscribe yields deliveries already serialized by the broker."""
    return data


def register(server: grpc.aio.Server, servicer: NotificationServicer) -> None:
    publish = v1.NOTIFICATION_SERVICE_PUBLISH
    subscribe = v1.NOTIFICATION_SERVICE_SUBSCRIBE
    legacy = v1.NOTIFICATION_SERVICE_SEND_NOTIFICATION
    status = v1.NOTIFICATION_SERVICE_GET_STATUS
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        publish.name: grpc.unary_unary_rpc_method_handler(
            servicer.publish, request_deserializer=publish.deserialize_request, response_serializer=publish.serialize
        ),
        subscribe.name: grpc.unary_stream_rpc_method_handler(
            servicer.subscribe, request_deserializer=subscribe.deserialize_request, response_serializer=_raw
        ),
        legacy.name: grpc.unary_unary_rpc_method_handler(
            servicer.send_notification,
            request_deserializer=legacy.deserialize_request,
            response_serializer=legacy.serialize,
        ),
        status.name: grpc.unary_unary_rpc_method_handler(
            servicer.get_status, request_deserializer=status.deserialize_request, response_serializer=status.serialize
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(publish.service, handlers),))
    server.add_registered_method_handlers(publish.service, handlers)
