"""The broker on its own (no gRPC): ordering, overflow policy, replacement, store failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from toasty_server.broker import Broker, RetentionGap, SubscriptionReplaced
from toasty_server.store import LogEntry, MemoryStore, StoreUnavailable


def encoder(text: str) -> object:
    return lambda seq, ts: f"{seq}:{text}".encode()


async def drain(stream: AsyncIterator[LogEntry | RetentionGap], count: int) -> list[LogEntry | RetentionGap]:
    out = []
    async for item in stream:
        out.append(item)
        if len(out) == count:
            break
    return out


async def test_overflowing_mailbox_switches_to_catch_up_and_keeps_order() -> None:
    broker = Broker(MemoryStore(), mailbox_depth=4, catch_up_page=7)
    await broker.start()
    sub = broker.subscribe("slow")
    stream = broker.deliveries(sub)
    await asyncio.gather(*(broker.publish("", f"n{i}", encoder(f"m{i}")) for i in range(50)))  # type: ignore[arg-type]
    assert sub.mailbox.overflow_count == 1
    assert broker.overflows == 1
    assert len(sub.mailbox) == 0  # the overflowed queue was released, memory stays bounded
    got = await drain(stream, 50)
    assert [e.payload for e in got if isinstance(e, LogEntry)] == [f"{i + 1}:m{i}".encode() for i in range(50)]
    await broker.close()


async def test_mailbox_within_depth_does_not_overflow() -> None:
    broker = Broker(MemoryStore(), mailbox_depth=10)
    await broker.start()
    sub = broker.subscribe("c")
    for i in range(10):
        await broker.publish("c", f"n{i}", encoder("x"))  # type: ignore[arg-type]
    assert sub.mailbox.overflow_count == 0
    assert len(sub.mailbox) == 10
    await broker.close()


async def test_replaced_subscription_ends_with_replaced_error() -> None:
    broker = Broker(MemoryStore())
    await broker.start()
    first = broker.subscribe("c")
    stream = broker.deliveries(first)
    reader = asyncio.ensure_future(drain(stream, 1))
    await asyncio.sleep(0)
    second = broker.subscribe("c")
    with pytest.raises(SubscriptionReplaced):
        await reader
    broker.unsubscribe(first)  # the old stream's cleanup must not remove the new one
    assert broker.subscriptions == [second]
    await broker.close()


class FailingStore(MemoryStore):
    """A store whose disk is full until `healthy` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.healthy = False

    async def append(self, entries: Sequence[LogEntry]) -> None:
        if not self.healthy:
            raise StoreUnavailable("disk full")
        await super().append(entries)


async def test_store_failure_refuses_publish_and_delivers_nothing() -> None:
    store = FailingStore()
    broker = Broker(store)
    await broker.start()
    sub = broker.subscribe("c", 0)
    with pytest.raises(StoreUnavailable):
        await broker.publish("", "n1", encoder("lost"))  # type: ignore[arg-type]
    assert len(sub.mailbox) == 0
    assert broker.last_sequence == 0
    store.healthy = True
    outcome = await broker.publish("", "n2", encoder("kept"))  # type: ignore[arg-type]
    assert outcome.queued_subscribers == 1
    assert broker.last_sequence == outcome.sequence
    [entry] = await drain(broker.deliveries(sub), 1)
    assert isinstance(entry, LogEntry)
    assert entry.payload.endswith(b"kept")
    await broker.close()


async def test_sequences_survive_reopen_of_the_same_store() -> None:
    store = MemoryStore()
    broker = Broker(store)
    await broker.start()
    last = (await broker.publish("", "n", encoder("a"))).sequence  # type: ignore[arg-type]
    again = Broker(store)
    await again.start()
    assert (await again.publish("", "n", encoder("b"))).sequence == last + 1  # type: ignore[arg-type]


class HeldStore(MemoryStore):
    """Holds every write until `release` is set, so a test can act while a batch is being stored."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.release = asyncio.Event()
        self.fail = False

    async def append(self, entries: Sequence[LogEntry]) -> None:
        self.writing.set()
        await self.release.wait()
        if self.fail:
            raise StoreUnavailable("disk full")
        await super().append(entries)


@pytest.mark.parametrize("store_fails", [False, True])
async def test_publisher_cancelled_during_the_write_leaves_its_batch_intact(store_fails: bool) -> None:
    """The cancelled publish is still committed and delivered (it was already written), and the
    publishes batched after it are answered as usual."""
    store = HeldStore()
    broker = Broker(store)
    await broker.start()
    sub = broker.subscribe("c", 0)
    first = asyncio.create_task(broker.publish("c", "n1", encoder("gone")))  # type: ignore[arg-type]
    await store.writing.wait()  # n1 is being written on its own; n2 and n3 form the next batch
    second = asyncio.create_task(broker.publish("c", "n2", encoder("a")))  # type: ignore[arg-type]
    third = asyncio.create_task(broker.publish("c", "n3", encoder("b")))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    first.cancel()  # its entry is in the batch being written
    second.cancel()  # its entry is queued for the next batch, ahead of third's
    store.fail = store_fails
    store.release.set()
    if store_fails:
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(third, 5)
    else:
        outcome = await asyncio.wait_for(third, 5)
        assert (outcome.sequence, outcome.queued_subscribers) == (3, 1)
        got = await drain(broker.deliveries(sub), 3)
        assert [e.notification_id for e in got if isinstance(e, LogEntry)] == ["n1", "n2", "n3"]
    assert first.cancelled()
    assert second.cancelled()
    await broker.close()
