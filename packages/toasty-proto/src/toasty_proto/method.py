"""`RpcMethod`: one RPC's path and codecs, so the server and the client never spell a path by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import betterproto2

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


@dataclass(frozen=True, slots=True)
class RpcMethod(Generic[RequestT, ResponseT]):
    """A method of a gRPC service with the (de)serializers grpc.aio expects."""

    service: str
    name: str
    request_type: type[RequestT]
    response_type: type[ResponseT]
    client_streaming: bool
    server_streaming: bool

    @property
    def path(self) -> str:
        """The HTTP/2 path, e.g. `/toasty.v1.NotificationService/Publish`."""
        return f"/{self.service}/{self.name}"

    @staticmethod
    def serialize(message: betterproto2.Message) -> bytes:
        return bytes(message)

    def deserialize_request(self, data: bytes) -> RequestT:
        return self.request_type.FromString(data)  # type: ignore[attr-defined,no-any-return]

    def deserialize_response(self, data: bytes) -> ResponseT:
        return self.response_type.FromString(data)  # type: ignore[attr-defined,no-any-return]
