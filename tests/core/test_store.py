"""The SQLite store on real files: durability, retention, refusing files that are not ours."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from toasty_server.store import LogEntry, SQLiteStore, StoreCorrupt


def entry(seq: int, target: str = "", at: float | None = None) -> LogEntry:
    return LogEntry(seq, target, time.time() if at is None else at, f"n{seq}", f"payload-{seq}".encode())


async def test_entries_survive_reopening_and_are_read_per_client(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    assert await store.open() == 0
    await store.append([entry(1), entry(2, "alice"), entry(3, "bob"), entry(4)])
    await store.close()

    again = SQLiteStore(tmp_path / "t.db")
    assert await again.open() == 4
    assert [e.sequence for e in await again.read_after("alice", 0, 10)] == [1, 2, 4]
    assert [e.sequence for e in await again.read_after("bob", 1, 10)] == [3, 4]
    assert [e.sequence for e in await again.read_after("alice", 0, 2)] == [1, 2]
    assert (await again.read_after("alice", 0, 10))[1].payload == b"payload-2"
    await again.close()


async def test_retention_by_count_and_by_age(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    now = time.time()
    await store.append([entry(i, at=now - 1000 if i <= 3 else now) for i in range(1, 21)])
    assert await store.prune(max_entries=100, older_than=now - 500) == 3
    assert await store.oldest_sequence() == 4
    assert await store.prune(max_entries=10, older_than=now - 500) == 7
    assert await store.oldest_sequence() == 11
    await store.close()


async def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    before = path.read_bytes()
    store = SQLiteStore(path)
    with pytest.raises(StoreCorrupt, match=r"other\.db is an SQLite database of another program"):
        await store.open()
    await store.close()
    assert path.read_bytes() == before


async def test_corrupt_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database at all" * 100)
    store = SQLiteStore(path)
    with pytest.raises(StoreCorrupt, match=r"broken\.db is not a usable Toasty database"):
        await store.open()
    await store.close()
    assert path.read_bytes() == b"this is not a database at all" * 100
