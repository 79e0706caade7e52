"""In-memory store: no durability, for tests, benchmarks and throwaway servers."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from toasty_server.store.base import LogEntry


class MemoryStore:
    """The log as a list ordered by sequence; lost when the process exits."""

    name = "memory"

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []
        self._sequences: list[int] = []

    async def open(self) -> int:
        return self._sequences[-1] if self._sequences else 0

    async def append(self, entries: Sequence[LogEntry]) -> None:
        self._entries.extend(entries)
        self._sequences.extend(e.sequence for e in entries)

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

    async def prune(self, max_entries: int, older_than: float) -> int:
        cut = max(0, len(self._entries) - max_entries)
        while cut < len(self._entries) and self._entries[cut].published_at < older_than:
            cut += 1
        del self._entries[:cut], self._sequences[:cut]
        return cut

    async def close(self) -> None:
        return None
