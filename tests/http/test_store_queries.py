"""The two store queries the web page needs, on both stores: the newest entries, and all about one id."""

from __future__ import annotations

from toasty_server.store import LogEntry, Store


def entry(sequence: int, notification_id: str, target: str = "") -> LogEntry:
    return LogEntry(sequence, target, 1000.0 + sequence, notification_id, f"p{sequence}".encode(), publisher="a")


async def test_recent_is_the_newest_entries_of_every_target_newest_first(store: Store) -> None:
    assert await store.recent(5) == []
    await store.append([entry(1, "n1"), entry(2, "n2", "bob"), entry(3, "n3", "alice"), entry(4, "n4")])
    assert [e.sequence for e in await store.recent(3)] == [4, 3, 2]
    assert [e.sequence for e in await store.recent(100)] == [4, 3, 2, 1]
    assert await store.recent(0) == []
    newest = (await store.recent(1))[0]
    assert (newest.notification_id, newest.payload, newest.publisher) == ("n4", b"p4", "a")


async def test_entries_for_one_notification_oldest_first(store: Store) -> None:
    await store.append([entry(1, "ask"), entry(2, "other"), entry(3, "ask", "a"), entry(5, "ask", "a")])
    assert [e.sequence for e in await store.entries_for("ask")] == [1, 3, 5]
    assert await store.entries_for("nothing") == []


async def test_pruned_entries_are_gone_from_both(store: Store) -> None:
    await store.append([entry(i, f"n{i}") for i in range(1, 6)])
    await store.prune(max_entries=2, older_than=0)
    assert [e.sequence for e in await store.recent(10)] == [5, 4]
    assert await store.entries_for("n1") == []
