"""The store interface: an append-only log of serialized deliveries, read back per client.

Shaped so a networked engine (Redis Streams, Postgres) can implement it later for several server
processes: every call is async, entries are opaque bytes plus the few columns needed to route them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One published event, as stored and as streamed (payload is the serialized `Delivery`)."""

    sequence: int
    target: str  # client id it is addressed to; "" for a broadcast
    published_at: float  # unix seconds
    notification_id: str
    payload: bytes


class StoreError(Exception):
    """Base of store failures."""


class StoreUnavailable(StoreError):
    """The log cannot be written right now (disk full, read-only, locked). Nothing was acknowledged."""


class StoreCorrupt(StoreError):
    """The database file is damaged or belongs to another program; it was not modified."""


class Store(Protocol):
    """Durable (or not) home of the delivery log. `append` returns only once the entries are stored."""

    @property
    def name(self) -> str: ...

    async def open(self) -> int:
        """Prepare the store and return the highest sequence it holds (0 when empty)."""
        ...

    async def append(self, entries: Sequence[LogEntry]) -> None:
        """Store a batch atomically, in order; raise StoreUnavailable if it could not be stored."""
        ...

    async def read_after(self, client_id: str, after: int, limit: int) -> list[LogEntry]:
        """Entries addressed to client_id or broadcast, with sequence > after, oldest first."""
        ...

    async def oldest_sequence(self) -> int:
        """Lowest sequence still retained (0 when empty)."""
        ...

    async def prune(self, max_entries: int, older_than: float) -> int:
        """Drop entries beyond the newest max_entries or published before older_than; return how many."""
        ...

    async def close(self) -> None: ...
