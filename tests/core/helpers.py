"""Small helpers for tests: reading subscription streams, waiting for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from toasty_proto import v1

T = TypeVar("T")


async def wait_until(check: Callable[[], T | None], within: float = 5.0) -> T:
    """Poll `check()` every few ms until it returns something truthy; return that."""
    deadline = time.monotonic() + within
    while not (result := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {within} s")
        await asyncio.sleep(0.005)
    return result


async def take(stream: AsyncIterator[v1.Delivery], count: int, timeout: float = 5.0) -> list[v1.Delivery]:
    """Read exactly `count` deliveries, failing the test if they do not come in time."""
    out: list[v1.Delivery] = []

    async def read() -> None:
        async for delivery in stream:
            out.append(delivery)
            if len(out) == count:
                return

    await asyncio.wait_for(read(), timeout)
    return out


async def nothing_more(stream: AsyncIterator[v1.Delivery], wait: float = 0.3) -> None:
    """Assert no delivery arrives within `wait` seconds."""
    try:
        extra = await asyncio.wait_for(anext(stream), wait)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected delivery {extra}")


def titles(deliveries: list[v1.Delivery]) -> list[str]:
    out = []
    for d in deliveries:
        assert d.notification is not None
        assert d.notification.text_message is not None
        assert d.notification.text_message.header is not None
        out.append(d.notification.text_message.header.title)
    return out
