"""In-memory store: no durability, for tests, benchmarks and throwaway servers."""

from __future__ import annotations

import bisect
import logging
import uuid
from collections.abc import Sequence

from toasty_server.store.base import Ask, LogEntry

log = logging.getLogger(__name__)


class MemoryStore:
    """The log as a list ordered by sequence; lost when the process exits."""

    name = "memory"

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []
        self._sequences: list[int] = []
        self._asks: dict[str, tuple[Ask, float, bytes | None]] = {}  # id -> (ask, published_at, outcome)
        self._idempotency: dict[tuple[str, str], tuple[str, int]] = {}
        self.log_id = uuid.uuid4().hex  # a new log with every process: nothing survives a restart
        self.payload_bytes = 0  # running total, so the byte rule of prune costs O(entries removed)

    async def open(self) -> int:
        return self._sequences[-1] if self._sequences else 0

    async def append(self, entries: Sequence[LogEntry]) -> None:
        for e in entries:
            self._entries.append(e)
            self._sequences.append(e.sequence)
            self.payload_bytes += len(e.payload)
            if e.idempotency_key:
                self._idempotency[(e.publisher, e.idempotency_key)] = (e.notification_id, e.sequence)
            if e.ask is not None:
                self._asks[e.ask.notification_id] = (e.ask, e.published_at, None)
            if e.outcome is not None and e.notification_id in self._asks:
                ask, at, outcome = self._asks[e.notification_id]
                if outcome is None:
                    self._asks[e.notification_id] = (ask, at, e.outcome)

    async def read_after(self, client_id: str, after: int, limit: int) -> list[LogEntry]:
        out: list[LogEntry] = []
        for i in range(bisect.bisect_right(self._sequences, after), len(self._entries)):
            entry = self._entries[i]
            if entry.target in ("", client_id):
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    async def oldest_sequence(self) -> int:
        return self._sequences[0] if self._sequences else 0

    async def prune(self, max_entries: int, older_than: float, max_bytes: int | None = None) -> int:
        cut = max(0, len(self._entries) - max_entries)
        while cut < len(self._entries) and self._entries[cut].published_at < older_than:
            cut += 1
        for entry in self._entries[:cut]:
            self.payload_bytes -= len(entry.payload)
        by_bytes = 0
        if max_bytes is not None:  # the newest entry stays whatever its size (see Store.prune)
            while self.payload_bytes > max_bytes and cut < len(self._entries) - 1:
                self.payload_bytes -= len(self._entries[cut].payload)
                cut += 1
                by_bytes += 1
        if by_bytes:
            log.debug("%d entries removed to bring the log's payloads under %d bytes", by_bytes, max_bytes)
        for entry in self._entries[:cut]:
            self._idempotency.pop((entry.publisher, entry.idempotency_key), None)
        del self._entries[:cut], self._sequences[:cut]
        for nid in [nid for nid, (_, at, _) in self._asks.items() if at < older_than]:
            del self._asks[nid]
        return cut

    async def pending_asks(self) -> list[Ask]:
        return [ask for ask, _, outcome in self._asks.values() if outcome is None]

    async def ask_outcome(self, notification_id: str) -> tuple[Ask, bytes | None] | None:
        found = self._asks.get(notification_id)
        return None if found is None else (found[0], found[2])

    async def find_idempotent(self, publisher: str, key: str) -> tuple[str, int] | None:
        return self._idempotency.get((publisher, key))

    async def recent(self, limit: int) -> list[LogEntry]:
        return self._entries[: -limit - 1 : -1] if limit > 0 else []

    async def entries_for(self, notification_id: str) -> list[LogEntry]:
        return [e for e in self._entries if e.notification_id == notification_id]

    async def close(self) -> None:
        return None
