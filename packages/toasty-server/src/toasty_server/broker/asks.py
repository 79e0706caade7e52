"""Pending asks of this process: exactly one outcome each, awaitable, with server-side deadlines.

The store is the durable record; this registry is its in-memory index, rebuilt from the store at
start-up, so an ask published before a restart can still be answered and awaited after it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from toasty_server.store import Ask

RECENT_OUTCOMES = 4096  # answered asks kept in memory for fast AwaitInteraction; older ones come from the store


class AskRegistry:
    """Tracks which asks still wait, who waits for them, and when they time out."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._pending: dict[str, Ask] = {}
        self._claimed: set[str] = set()
        self._recent: OrderedDict[str, bytes] = OrderedDict()
        self._waiters: dict[str, list[asyncio.Future[bytes]]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.on_deadline: Callable[[Ask], None] = lambda ask: None

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, ask: Ask) -> None:
        """Register a committed ask and arm its deadline."""
        self._pending[ask.notification_id] = ask
        if ask.deadline:
            delay = max(0.0, ask.deadline - self._clock())
            loop = asyncio.get_running_loop()
            self._timers[ask.notification_id] = loop.call_later(delay, self._expire, ask.notification_id)

    def pending(self) -> list[Ask]:
        """The open asks, oldest first (for status pages and tests)."""
        return list(self._pending.values())

    def get(self, notification_id: str) -> Ask | None:
        return self._pending.get(notification_id)

    def claim(self, notification_id: str) -> Ask | None:
        """Take the right to record the outcome: the first caller wins, later ones get None."""
        if notification_id in self._claimed:
            return None
        ask = self._pending.get(notification_id)
        if ask is not None:
            self._claimed.add(notification_id)
        return ask

    def release(self, notification_id: str) -> None:
        """The outcome could not be stored: let a later outcome try again."""
        self._claimed.discard(notification_id)

    def settle(self, notification_id: str, outcome: bytes) -> None:
        """The outcome is stored: wake the waiters and forget the ask."""
        self._claimed.discard(notification_id)
        self._pending.pop(notification_id, None)
        timer = self._timers.pop(notification_id, None)
        if timer is not None:
            timer.cancel()
        self._recent[notification_id] = outcome
        if len(self._recent) > RECENT_OUTCOMES:
            self._recent.popitem(last=False)
        for waiter in self._waiters.pop(notification_id, []):
            if not waiter.done():
                waiter.set_result(outcome)

    def recent_outcome(self, notification_id: str) -> bytes | None:
        return self._recent.get(notification_id)

    async def wait(self, notification_id: str) -> bytes:
        """The outcome of a pending ask, once recorded."""
        # A caller may check for a recorded outcome, then start this coroutine as a task (asyncio.wait_for
        # does): an outcome settled in between would never wake it. So look again, now that it runs.
        settled = self._recent.get(notification_id)
        if settled is not None:
            return settled
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(notification_id, []).append(waiter)
        try:
            return await waiter
        finally:
            waiters = self._waiters.get(notification_id)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[notification_id]

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _expire(self, notification_id: str) -> None:
        self._timers.pop(notification_id, None)
        ask = self._pending.get(notification_id)
        if ask is not None:
            self.on_deadline(ask)
