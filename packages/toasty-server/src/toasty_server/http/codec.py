"""JSON bodies in protobuf's JSON mapping (camelCase or the proto's snake_case names), read strictly.

betterproto2's `from_dict` trusts the types it is handed: a number where a string belongs, or two
payloads of one oneof, would get through and fail much later (in validation or serialization) as an
INTERNAL error. This walk checks the shape first and names the offending field, so a bad body is an
INVALID_ARGUMENT, as a malformed protobuf is over gRPC. The business rules stay in `ToastyApi`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import betterproto2

from toasty_server.errors import InvalidArgument

M = TypeVar("M", bound=betterproto2.Message)

_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "sint32": (-(2**31), 2**31 - 1),
    "sfixed32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "fixed32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "sint64": (-(2**63), 2**63 - 1),
    "sfixed64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "fixed64": (0, 2**64 - 1),
}
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_FLOAT_WORDS = frozenset({"NaN", "Infinity", "-Infinity"})


# The deepest a valid request goes is about 6 (a publish's selection choices); protobuf's own JSON parser
# stops at 100. Anything deeper is refused before parsing.
MAX_JSON_DEPTH = 32


def parse_body(raw: bytes) -> Any:
    """The request body as JSON (an empty body is `{}`), whatever Content-Type claims: `curl -d` sends
    form encoding by default, and the one-line publish must work."""
    if not raw.strip():
        return {}
    if _nesting(raw) > MAX_JSON_DEPTH:
        raise InvalidArgument("body", f"nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument("body", f"is not valid JSON ({exc}); send a JSON object") from None


def _nesting(raw: bytes) -> int:
    """How deep `[` and `{` nest outside strings: checked before parsing, since the parser and the
    walks after it recurse (a deep body would otherwise end in RecursionError, a 500)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def message_from_json(cls: type[M], data: Any, path: str = "") -> M:
    """Build `cls` from a JSON value, or raise InvalidArgument naming the field that is wrong."""
    _check_message(cls, data, path)
    try:
        return cls.from_dict(data)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:  # anything the walk did not foresee
        raise InvalidArgument(path or "body", f"cannot be read as {cls.__name__}: {exc}") from None


def message_to_json(message: betterproto2.Message) -> dict[str, Any]:
    """The message in protobuf's JSON mapping, every scalar present (defaults included, so clients and the
    OpenAPI schema can rely on them), unset messages and oneof members left out."""
    return _drop_nulls(message.to_dict(include_default_values=True))


def _drop_nulls(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        if isinstance(item, dict):
            item = _drop_nulls(item)
        elif isinstance(item, list):
            item = [_drop_nulls(x) if isinstance(x, dict) else x for x in item]
        out[key] = item
    return out


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_message(cls: type[betterproto2.Message], data: Any, path: str) -> None:
    if not isinstance(data, Mapping):
        raise InvalidArgument(path or "body", f"must be a JSON object ({cls.__name__}), not {_kind(data)}")
    described: Any = cls  # betterproto2's per-class field metadata is not in its type hints
    meta_by_name: Mapping[str, Any] = described._betterproto.meta_by_field_name
    cls_by_field: Mapping[str, Any] = described._betterproto.cls_by_field
    groups: dict[str, str] = {}
    for key, value in data.items():
        where = _join(path, str(key))
        name = betterproto2.casing.safe_snake_case(str(key))
        meta = meta_by_name.get(name)
        if meta is None:
            known = ", ".join(betterproto2.casing.camel_case(n) for n in meta_by_name)
            raise InvalidArgument(where, f"is not a field of {cls.__name__} (fields: {known})")
        if value is None:
            continue
        if meta.group is not None:
            other = groups.setdefault(meta.group, str(key))
            if other != key:
                raise InvalidArgument(path or "body", f"sets both {other} and {key}: only one of them may be set")
        if meta.proto_type == "map":
            if not isinstance(value, Mapping):
                raise InvalidArgument(where, f"must be a JSON object of key → value, not {_kind(value)}")
            key_meta, value_meta = meta.map_meta
            for map_key, item in value.items():
                _check_value(key_meta, str, map_key, f"{where}[{map_key!r}]")
                _check_value(value_meta, cls_by_field.get(f"{name}.value"), item, f"{where}[{map_key!r}]")
        elif meta.repeated:
            if not isinstance(value, list):
                raise InvalidArgument(where, f"must be a JSON array, not {_kind(value)}")
            for i, item in enumerate(value):
                _check_value(meta, cls_by_field.get(name), item, f"{where}[{i}]")
        else:
            _check_value(meta, cls_by_field.get(name), value, where)


def _check_value(meta: Any, field_cls: Any, value: Any, where: str) -> None:
    proto_type: str = meta.proto_type
    if proto_type == "message":
        _check_message(field_cls, value, where)
    elif proto_type == "string":
        if not isinstance(value, str):
            raise InvalidArgument(where, f"must be a string, not {_kind(value)}")
    elif proto_type == "bool":
        if not isinstance(value, bool):
            raise InvalidArgument(where, f"must be true or false, not {_kind(value)}")
    elif proto_type in _INT_RANGES:
        _check_integer(proto_type, value, where)
    elif proto_type in ("float", "double"):
        ok = (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and (value in _FLOAT_WORDS or _is_float_text(value))
        )
        if not ok:
            raise InvalidArgument(where, f"must be a number, not {_kind(value)}")
    elif proto_type == "enum":
        _check_enum(field_cls, value, where)
    elif proto_type == "bytes" and not isinstance(value, str):
        raise InvalidArgument(where, f"must be a base64 string, not {_kind(value)}")


def _check_integer(proto_type: str, value: Any, where: str) -> None:
    low, high = _INT_RANGES[proto_type]
    whole = (
        (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
        or (isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()) is not None)
    )
    if not whole:
        raise InvalidArgument(where, f"must be a whole number, not {_kind(value)}")
    number = int(value)
    if not low <= number <= high:
        raise InvalidArgument(where, f"{number} is out of range for {proto_type} ({low}..{high})")


def _check_enum(enum_cls: Any, value: Any, where: str) -> None:
    names: Mapping[str, int] = enum_cls.betterproto_renamed_proto_names_to_value()
    if isinstance(value, str) and value in names:
        return
    if isinstance(value, int) and not isinstance(value, bool) and value in names.values():
        return
    raise InvalidArgument(where, f"{value!r} is not one of {', '.join(names)}")


def _is_float_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, Mapping) else type(value).__name__
