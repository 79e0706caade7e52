"""The C protobuf runtime (upb) for the bytes on the hot path: deliveries and responses.

betterproto2 is what the rest of the server reads and builds (typed dataclasses), but its pure-Python
codec is slow: on our 2-core reference VM, serializing one Delivery took ~240 µs and one PublishResponse
~90 µs, against ~5 µs and ~3 µs with upb classes built from the same schema. So the bytes that leave the
server per publish are written by upb: a delivery is upb's envelope with the event's canonical bytes
merged in (the notification's bytes come straight from the request's upb parse, see
`service.decoding`), and responses whose fields are all plain scalars are copied field by field into
their upb twin. Requests go the other way: upb parses them (strictly, see `service.decoding`) and
`to_betterproto` builds the dataclasses field by field (~20 µs for a publish, against ~110 µs for
betterproto2's own parser).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any, TypeVar

import betterproto2
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message, message_factory

from toasty_proto import descriptor_set

PACKAGE = "toasty.v1"
MessageT = TypeVar("MessageT", bound=betterproto2.Message)
FieldConverter = Callable[[Any], Any]


@cache
def pool() -> descriptor_pool.DescriptorPool:
    """Our schema in a private descriptor pool (never the process-wide default one)."""
    schema = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor_set()).file:
        schema.Add(file)
    return schema


@cache
def wire_class(type_name: str) -> type[message.Message]:
    """The upb class of a message of our schema, e.g. `wire_class("Delivery")`."""
    return message_factory.GetMessageClass(pool().FindMessageTypeByName(f"{PACKAGE}.{type_name}"))


def wire_constructor(type_name: str) -> Callable[..., message.Message]:
    """`wire_class(type_name)` as a keyword constructor. upb classes take their fields as keywords, but
    types-protobuf declares no `Message.__init__` parameters, so callers build through this signature."""
    constructor: Callable[..., message.Message] = wire_class(type_name)
    return constructor


def submessage(msg: message.Message, field: str) -> message.Message | None:
    """`msg.<field>` when it is set, else None (upb answers an empty default message for unset fields)."""
    part: message.Message = getattr(msg, field)
    return part if msg.HasField(field) else None


def delivery_bytes(
    sequence: int,
    published_at: float,
    publisher: str,
    target: str,
    event: str,
    event_bytes: bytes,
    skip_toast: bool = False,
) -> bytes:
    """One serialized Delivery whose `event` field (notification, interaction, receipt) is `event_bytes`."""
    delivery = wire_constructor("Delivery")(
        sequence=sequence,
        published_at_unix_ms=int(published_at * 1000),
        publisher_agent_id=publisher,
        target_client_id=target,
        skip_toast=skip_toast,
    )
    part = getattr(delivery, event)
    part.SetInParent()  # selects the oneof even for an event whose fields are all defaults
    part.MergeFromString(event_bytes)
    return delivery.SerializeToString()


def response_serializer(response_type: type[Any]) -> Callable[[Any], bytes]:
    """`response → bytes` for grpc: through upb when every field is a plain scalar, else betterproto2."""
    if _flat_fields(response_type.__name__) is None:
        return _betterproto_bytes

    def serialize(response: Any) -> bytes:
        return flat_wire(response).SerializeToString()

    return serialize


def flat_wire(response: betterproto2.Message) -> message.Message:
    """The upb twin of a message whose fields are all plain scalars (PublishResponse, ...), field by field."""
    type_name = type(response).__name__
    names = _flat_fields(type_name)
    if names is None:
        raise TypeError(f"{type_name} has message, enum or repeated fields: serialize it with betterproto2")
    return wire_constructor(type_name)(**{name: getattr(response, name) for name in names})


@cache
def _flat_fields(type_name: str) -> tuple[str, ...] | None:
    """The field names of a message made only of singular scalars, else None."""
    fields = wire_class(type_name).DESCRIPTOR.fields
    nested = (descriptor.FieldDescriptor.TYPE_MESSAGE, descriptor.FieldDescriptor.TYPE_ENUM)
    if any(f.type in nested or f.is_repeated for f in fields):
        return None
    return tuple(f.name for f in fields)


def _betterproto_bytes(response: betterproto2.Message) -> bytes:
    return bytes(response)


def to_betterproto(wire: message.Message, cls: type[MessageT]) -> MessageT:
    """The betterproto2 message equal to `wire` (a upb message of the same type), built field by field:
    what `cls.parse(wire.SerializeToString())` gives, without betterproto2's slow parser."""
    converters = _converters(cls)
    return cls(**{field.name: converters[field.name](value) for field, value in wire.ListFields()})


@cache
def _converters(cls: type[betterproto2.Message]) -> dict[str, FieldConverter]:
    """How each field's upb value becomes its betterproto2 value, from the schema and the dataclass."""
    classes: Mapping[str, Any] = getattr(cls, "_betterproto").cls_by_field  # noqa: B009  (betterproto2's class metadata)
    out: dict[str, FieldConverter] = {}
    for field in wire_class(cls.__name__).DESCRIPTOR.fields:
        out[field.name] = _converter(field, classes.get(field.name))
    return out


def _converter(field: Any, target: Any) -> FieldConverter:
    """`field`: a upb FieldDescriptor (typed loosely: the stubs know two FieldDescriptor classes)."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_type = field.message_type.fields_by_name["value"]
        if value_type.message_type is not None or value_type.enum_type is not None:
            raise TypeError(f"{field.full_name}: only maps of scalars are converted")
        return _as_dict
    if field.message_type is not None:
        sub: type[betterproto2.Message] = target
        if field.is_repeated:
            return lambda values: [to_betterproto(v, sub) for v in values]
        return lambda value: to_betterproto(value, sub)
    if field.enum_type is not None:
        enum: Callable[[int], Any] = target
        return (lambda values: [enum(v) for v in values]) if field.is_repeated else enum
    return _as_list if field.is_repeated else _same


def _as_dict(value: Mapping[Any, Any]) -> dict[Any, Any]:
    return dict(value)


def _same(value: Any) -> Any:
    return value


def _as_list(values: Iterable[Any]) -> list[Any]:
    return list(values)
