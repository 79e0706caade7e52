"""Strict request decoding: bytes that are not a valid request are refused as INVALID_ARGUMENT.

betterproto2's parser is lenient where a server must not be. It raises UnicodeDecodeError on a string
that is not UTF-8 (grpc then answers INTERNAL "Exception deserializing request!"), it stores whatever a
field's wire type decodes to (an int in a string field, None for a group), it accepts truncated fields,
and it spends ~2 s of event-loop time on a 240 KB request of 120,000 empty repeated entries or unknown
fields, stalling every other agent meanwhile.

So each request is first parsed by the C protobuf runtime (upb) built from the schema's descriptor
set: it refuses bad UTF-8 and corrupt wire data. Unknown fields are dropped (a newer client's extra
fields are ignored, as protobuf intends), the number of nested messages is bounded, and betterproto2
parses the canonical bytes upb writes back, so every field has its declared type. This costs a few
microseconds per request. A request that fails any of this reaches its handler as an `Undecodable`,
which the handler refuses (see `service.registration`) instead of grpc answering INTERNAL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from toasty_proto import descriptor_set
from toasty_proto.method import RpcMethod
from toasty_server.errors import InvalidArgument

RequestT = TypeVar("RequestT")

MAX_NESTED_MESSAGES = 1024
"""Messages (and map entries) one request may nest. The largest valid request has about 110 (5 buttons,
5 selection inputs of 20 choices); betterproto2 needs ~20 µs per nested message."""


class UndecodableRequest(InvalidArgument):
    """The request bytes are not a valid message of the RPC's request type."""

    def __init__(self, type_name: str, problem: str) -> None:
        super().__init__("request", f"is not a valid {type_name} ({problem})")


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What the deserializer hands to the handler instead of a request it could not decode."""

    error: UndecodableRequest


class RequestDecoder(Generic[RequestT]):
    """`bytes → request` for one RPC: strict (upb), bounded, then betterproto2 on canonical bytes."""

    def __init__(self, method: RpcMethod[RequestT, Any], max_nested: int = MAX_NESTED_MESSAGES) -> None:
        package = method.service.rpartition(".")[0]
        self.type_name = f"{package}.{method.request_type.__name__}"
        self._strict: type[message.Message] = message_factory.GetMessageClass(
            _pool().FindMessageTypeByName(self.type_name)
        )
        self._parse: Callable[[bytes], RequestT] = method.deserialize_request
        self._max_nested = max_nested

    def __call__(self, data: bytes) -> RequestT | Undecodable:
        try:
            strict = self._strict.FromString(data)
        except message.DecodeError as exc:
            return self._refuse(_reason(exc))
        strict.DiscardUnknownFields()
        if _nested_messages(strict, self._max_nested) > self._max_nested:
            return self._refuse(f"it nests more than {self._max_nested} messages")
        try:
            return self._parse(strict.SerializeToString())
        except Exception as exc:  # canonical bytes should always parse; never let grpc answer INTERNAL
            return self._refuse(f"{type(exc).__name__}: {exc}")

    def _refuse(self, problem: str) -> Undecodable:
        return Undecodable(UndecodableRequest(self.type_name, problem))


@cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor_set()).file:
        pool.Add(file)
    return pool


def _reason(exc: message.DecodeError) -> str:
    """upb says "Error parsing message with type 'X': <why>"; keep the why."""
    text = str(exc)
    return text.rpartition(": ")[2] if ": " in text else text or "the wire format is corrupt"


def _nested_messages(msg: message.Message, limit: int) -> int:
    """How many messages `msg` nests (map entries included), counting no further than limit + 1."""
    count = 0
    stack = [msg]
    while stack:
        for field, value in stack.pop().ListFields():
            if field.message_type is None:
                continue  # a scalar, string or enum
            count += len(value) if field.is_repeated else 1  # (a map counts its entries)
            if count > limit:
                return count  # before touching the elements: wrapping 100,000 of them takes long
            if field.message_type.GetOptions().map_entry:
                continue  # maps of strings: no further messages in them here
            stack.extend(value if field.is_repeated else [value])
    return count
