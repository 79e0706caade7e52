"""A subscriber's bounded live queue.

Overflow policy: when a subscriber falls `depth` entries behind, its live queue is emptied and flagged;
its stream then reads what it missed from the store (catch-up) before going live again. Nothing is
dropped while the log retains it; memory per slow subscriber stays bounded by `depth`.
"""

from __future__ import annotations

import asyncio
from collections import deque

from toasty_server.store import LogEntry


class Mailbox:
    """Entries waiting to be written to one subscriber's stream, woken without polling."""

    __slots__ = ("_depth", "_entries", "_waiter", "closed", "overflow_count", "overflowed")

    def __init__(self, depth: int) -> None:
        self._depth = depth
        self._entries: deque[LogEntry] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.overflowed = False
        self.overflow_count = 0
        self.closed = False

    def __len__(self) -> int:
        return len(self._entries)

    def offer(self, entry: LogEntry) -> bool:
        """Queue an entry. Returns True when this offer made the mailbox overflow (drop and catch up)."""
        just_overflowed = False
        if self.overflowed:
            pass  # catch-up will read it from the store
        elif len(self._entries) >= self._depth:
            self._entries.clear()
            self.overflowed = True
            self.overflow_count += 1
            just_overflowed = True
        else:
            self._entries.append(entry)
        self._wake()
        return just_overflowed

    def take_overflow(self) -> bool:
        """True (once) if the stream must catch up from the store; empties the queue in that case."""
        if not self.overflowed:
            return False
        self.overflowed = False
        self._entries.clear()
        return True

    def clear(self) -> None:
        self._entries.clear()

    def pop(self) -> LogEntry | None:
        return self._entries.popleft() if self._entries else None

    async def wait(self) -> None:
        """Return once there is something to do: an entry, an overflow, or the mailbox closed."""
        if self._entries or self.overflowed or self.closed:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
