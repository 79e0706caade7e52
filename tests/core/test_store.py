"""The SQLite store on real files: durability, retention, refusing files that are not ours; retention by
bytes on both stores."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from toasty_server.store import Ask, LogEntry, SQLiteStore, Store, StoreCorrupt


def entry(seq: int, target: str = "", at: float | None = None) -> LogEntry:
    return LogEntry(seq, target, time.time() if at is None else at, f"n{seq}", f"payload-{seq}".encode())


def sized(seq: int, size: int, ask: Ask | None = None) -> LogEntry:
    """An entry whose payload is exactly `size` bytes."""
    return LogEntry(seq, "", time.time(), ask.notification_id if ask else f"n{seq}", b"x" * size, ask=ask)


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


async def test_retention_by_bytes_keeps_exactly_the_newest_entries_that_fit(store: Store) -> None:
    await store.append([sized(seq, size) for seq, size in enumerate([500, 400, 300, 200, 100, 50], start=1)])
    assert store.payload_bytes == 1550
    assert await store.prune(max_entries=1000, older_than=0, max_bytes=350) == 3  # 50 + 100 + 200 = 350 fit
    assert [e.sequence for e in await store.recent(10)] == [6, 5, 4]
    assert await store.oldest_sequence() == 4
    assert store.payload_bytes == 350
    assert await store.prune(max_entries=1000, older_than=0, max_bytes=350) == 0
    assert await store.prune(max_entries=1000, older_than=0, max_bytes=349) == 1
    assert [e.sequence for e in await store.recent(10)] == [6, 5]


async def test_retention_counts_entries_removed_by_every_rule(store: Store) -> None:
    now = time.time()
    await store.append([LogEntry(i, "", now - 1000 if i <= 3 else now, f"n{i}", b"y" * 100) for i in range(1, 13)])
    # count takes 1-2 (10 kept), age 3, bytes 4-7 (5 x 100 fit)
    assert await store.prune(max_entries=10, older_than=now - 500, max_bytes=500) == 7
    assert await store.oldest_sequence() == 8
    assert store.payload_bytes == 500


async def test_retention_by_bytes_keeps_the_newest_entry_whatever_its_size(store: Store) -> None:
    """An empty log would restart its sequences after a restart and give a resuming subscriber no gap."""
    await store.append([sized(1, 4000), sized(2, 3000)])
    assert await store.prune(max_entries=1000, older_than=0, max_bytes=1024) == 1
    assert [e.sequence for e in await store.recent(10)] == [2]
    assert await store.prune(max_entries=1000, older_than=0, max_bytes=1024) == 0
    assert store.payload_bytes == 3000


async def test_retention_by_bytes_leaves_open_questions_open(store: Store) -> None:
    question = Ask("q1", "agent", button_ids=("yes", "no"))
    await store.append([sized(1, 2000, ask=question), *(sized(seq, 600) for seq in range(2, 6))])
    assert await store.prune(max_entries=1000, older_than=0, max_bytes=1500) == 3
    assert await store.oldest_sequence() == 4
    assert await store.pending_asks() == [question]
    assert await store.ask_outcome("q1") == (question, None)


async def test_retained_bytes_are_summed_again_on_reopening(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    await store.append([sized(1, 700), sized(2, 800), sized(3, 900)])
    await store.prune(max_entries=1000, older_than=0, max_bytes=2000)
    await store.close()
    again = SQLiteStore(tmp_path / "t.db")
    await again.open()
    assert again.payload_bytes == 1700
    await again.close()


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
