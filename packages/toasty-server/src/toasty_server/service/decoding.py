"""Strict request decoding: bytes that are not a valid request are refused as INVALID_ARGUMENT.

betterproto2's parser is lenient where a server must not be. It raises UnicodeDecodeError on a string
that is not UTF-8 (grpc then answers INTERNAL "Exception deserializing request!"), it stores whatever a
field's wire type decodes to (an int in a string field, None for a group), it accepts truncated fields,
and it spends ~2 s of event-loop time on a 240 KB request of 120,000 empty repeated entries or unknown
fields, stalling every other agent meanwhile.

So each request is first parsed by the C protobuf runtime (upb) built from the schema's descriptor set:
it refuses bad UTF-8 and corrupt wire data. Unknown fields are dropped (a newer client's extra fields
are ignored, as protobuf intends), the number of nested messages is bounded, and the betterproto2
request is built field by field from upb's parse (`service.wire.to_betterproto`), so every field has its
declared type; that is also ~5x faster than betterproto2's own parser. A request that fails any of this
reaches its handler as an `Undecodable`, which the handler refuses (see `service.registration`) instead
of grpc answering INTERNAL.

Handlers that forward the request's bytes (publishing: the notification goes into every delivery) use
`WireRequestDecoder`, which also hands over the strict upb message, so those bytes are not written
again by betterproto2 (see `service.wire`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import DecodeError, Message

from toasty_proto.method import RpcMethod
from toasty_server.errors import InvalidArgument
from toasty_server.service.wire import to_betterproto, wire_class

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


@dataclass(frozen=True, slots=True)
class WithWire(Generic[RequestT]):
    """A decoded request and its strict upb parse (unknown fields dropped), whose parts can be
    serialized again without betterproto2."""

    message: RequestT
    wire: Message


class _StrictDecoder(Generic[RequestT]):
    def __init__(self, method: RpcMethod[RequestT, Any], max_nested: int = MAX_NESTED_MESSAGES) -> None:
        package = method.service.rpartition(".")[0]
        self.type_name = f"{package}.{method.request_type.__name__}"
        self._strict = wire_class(method.request_type.__name__)
        self._request_type: Any = method.request_type
        self._max_nested = max_nested

    def _decode(self, data: bytes) -> WithWire[RequestT] | Undecodable:
        try:
            strict = self._strict.FromString(data)
        except DecodeError as exc:
            return self._refuse(_reason(exc))
        strict.DiscardUnknownFields()
        # Each nested message takes at least two bytes on the wire (its tag and its length), so only a
        # request longer than twice the limit can exceed it: the usual few hundred bytes skip the walk.
        if len(data) > 2 * self._max_nested and _nested_messages(strict, self._max_nested) > self._max_nested:
            return self._refuse(f"it nests more than {self._max_nested} messages")
        try:
            request: RequestT = to_betterproto(strict, self._request_type)
            return WithWire(request, strict)
        except Exception as exc:  # a valid upb message always converts; never let grpc answer INTERNAL
            return self._refuse(f"{type(exc).__name__}: {exc}")

    def _refuse(self, problem: str) -> Undecodable:
        return Undecodable(UndecodableRequest(self.type_name, problem))


class RequestDecoder(_StrictDecoder[RequestT]):
    """`bytes → request` for one RPC: strict (upb), bounded, then betterproto2 on canonical bytes."""

    def __call__(self, data: bytes) -> RequestT | Undecodable:
        decoded = self._decode(data)
        return decoded if isinstance(decoded, Undecodable) else decoded.message


class WireRequestDecoder(_StrictDecoder[RequestT]):
    """Like `RequestDecoder`, keeping the upb parse next to the request (`WithWire`)."""

    def __call__(self, data: bytes) -> WithWire[RequestT] | Undecodable:
        return self._decode(data)


def _reason(exc: DecodeError) -> str:
    """upb says "Error parsing message with type 'X': <why>"; keep the why."""
    text = str(exc)
    return text.rpartition(": ")[2] if ": " in text else text or "the wire format is corrupt"


def _nested_messages(msg: Message, limit: int) -> int:
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
