"""`winrt.system`: the base object with `as_` (a QueryInterface) and boxed strings."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


class Object:
    """Stands for IInspectable: every WinRT object can be cast to an interface it implements."""

    def as_(self, cls: type[T]) -> T:
        if isinstance(self, cls):
            return self
        raise TypeError(f"{type(self).__name__} does not implement {cls.__name__}")


class _BoxedString(Object):
    def __init__(self, value: str) -> None:
        self.value = value


def box_string(value: str) -> Object:
    return _BoxedString(value)


def unbox_string(value: Any) -> str:
    if not isinstance(value, _BoxedString):
        raise TypeError(f"not a boxed string: {value!r}")
    return value.value
