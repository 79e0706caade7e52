"""Promises 7 and 8, in-process: the request decoder and the validator take any bytes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.reliability import fuzz, hostile
from toasty_proto import v1
from toasty_proto.method import RpcMethod
from toasty_server.service.decoding import RequestDecoder, Undecodable
from toasty_server.service.wire import to_betterproto


@pytest.mark.parametrize("method", hostile.ALL_METHODS, ids=lambda m: m.name)
def test_decoder_and_validator_take_any_bytes(method: RpcMethod[Any, Any]) -> None:
    """200 hypothesis examples per RPC: decoding returns the request or Undecodable (never raises),
    validation passes or raises InvalidArgument (nothing else), a valid Publish round-trips through the
    stored Delivery, and no request takes more than 250 ms of CPU."""
    stats = fuzz.FuzzStats()
    fuzz.fuzz(method, 200, stats)
    print(f"{method.name}: {stats}")
    assert stats.undecodable
    assert stats.invalid or stats.valid


def test_invalid_utf8_is_refused_not_crashed_on() -> None:
    """betterproto2 raises UnicodeDecodeError on a string that is not UTF-8 (grpc then answered
    INTERNAL); the server's decoder turns it into an INVALID_ARGUMENT naming the request type."""
    title = b"\x0a\x03\xff\xfeA"  # Header.title = bytes that are not UTF-8
    header = b"\x0a" + bytes([len(title)]) + title
    text = b"\x52" + bytes([len(header)]) + header  # Notification.text_message (field 10)
    request = b"\x0a" + bytes([len(text)]) + text  # PublishRequest.notification
    with pytest.raises(UnicodeDecodeError):
        v1.PublishRequest.FromString(request)
    decoded = RequestDecoder(v1.NOTIFICATION_SERVICE_PUBLISH)(request)
    assert isinstance(decoded, Undecodable)
    assert str(decoded.error) == "request: is not a valid toasty.v1.PublishRequest (String field had bad UTF-8)"


def test_wrong_wire_types_never_reach_the_validator_as_wrong_python_types() -> None:
    """betterproto2 stores whatever a field's wire type decodes to: an int in a string field. The
    decoder hands the validator only requests whose fields have their declared types."""
    request = b"\x0a\x02\x18\x63"  # notification { idempotency_key (a string) = varint 99 }
    assert v1.PublishRequest.FromString(request).notification.idempotency_key == 99  # type: ignore[union-attr,comparison-overlap]
    decoded = RequestDecoder(v1.NOTIFICATION_SERVICE_PUBLISH)(request)
    assert isinstance(decoded, v1.PublishRequest)
    assert decoded.notification is not None
    assert decoded.notification.idempotency_key == ""  # the mistyped field is dropped as unknown


def test_huge_repeated_fields_are_refused_before_betterproto2_parses_them() -> None:
    """120,000 empty buttons in 240 KB took betterproto2 ~2 s of event-loop time; the decoder refuses
    the request after counting, in milliseconds."""
    import time

    buttons = b"\x22\x00" * 120_000
    interactive = b"\x62" + hostile.varint(len(buttons)) + buttons
    request = b"\x0a" + hostile.varint(len(interactive)) + interactive
    started = time.thread_time()
    decoded = RequestDecoder(v1.NOTIFICATION_SERVICE_PUBLISH)(request)
    assert time.thread_time() - started < 0.2
    assert isinstance(decoded, Undecodable)
    assert "nests more than 1024 messages" in str(decoded.error)


@pytest.mark.parametrize("buttons", [8, 9])
def test_the_nesting_limit_holds_for_the_tightest_encoding(buttons: int) -> None:
    """Requests short enough to skip the count cannot exceed the limit: even empty buttons (two bytes
    each, the fewest a nested message takes) go over it only in a request the decoder does count."""
    limit = 10
    interactive = b"\x22\x00" * buttons
    notification = b"\x62" + hostile.varint(len(interactive)) + interactive
    request = b"\x0a" + hostile.varint(len(notification)) + notification  # nests 2 + buttons messages
    decoded = RequestDecoder(v1.NOTIFICATION_SERVICE_PUBLISH, max_nested=limit)(request)
    if 2 + buttons > limit:
        assert isinstance(decoded, Undecodable)
        assert f"nests more than {limit} messages" in str(decoded.error)
    else:
        assert isinstance(decoded, v1.PublishRequest)


_SCHEMA_MESSAGES = sorted(
    {m.request_type.__name__ for m in hostile.ALL_METHODS} | {"Delivery", "InteractionEvent", "StatusResponse"}
)


@pytest.mark.parametrize("type_name", _SCHEMA_MESSAGES)
def test_the_field_by_field_conversion_equals_betterproto2s_own_parse(type_name: str) -> None:
    """The decoder builds requests from upb's parse instead of betterproto2's parser (5x faster): for any
    message of the schema, the result must be exactly what betterproto2 itself would have parsed."""
    cls = getattr(v1, type_name)
    strategy = hostile.messages(hostile.pool().FindMessageTypeByName(f"toasty.v1.{type_name}"), big=False)

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(wire=strategy)
    def check(wire: Any) -> None:
        converted, parsed = to_betterproto(wire, cls), cls.parse(wire.SerializeToString())
        assert converted == parsed
        assert_same_types(converted, parsed)  # == alone takes an int for an enum, a upb container for a list

    check()


def assert_same_types(a: Any, b: Any, where: str = "") -> None:
    assert type(a) is type(b), f"{where or 'message'}: {type(a).__name__} vs {type(b).__name__}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same_types(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_types(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        for key in a:
            assert_same_types(a[key], b[key], f"{where}[{key!r}]")
