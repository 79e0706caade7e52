"""Publish/subscribe over real gRPC against a server with the SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from tests.conftest import ClientFactory
from tests.core.helpers import nothing_more, take, titles
from toasty_client import SubscriptionReplaced, TextNotification
from toasty_proto import v1
from toasty_server.app import ToastyServer


async def wait_subscribed(server: ToastyServer, *client_ids: str) -> None:
    """Subscribing is asynchronous: wait until the server has registered these streams."""
    for _ in range(200):
        if set(client_ids) <= {s.client_id for s in server.broker.subscriptions}:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"subscribers {client_ids} never registered")


async def test_targeted_publish_reaches_only_its_target(server: ToastyServer, connect: ClientFactory) -> None:
    alice, bob, publisher = connect("alice"), connect("bob"), connect("publisher")
    alice_stream, bob_stream = alice.subscribe(), bob.subscribe()
    alice_next = asyncio.ensure_future(take(alice_stream, 1))
    bob_next = asyncio.ensure_future(take(bob_stream, 1))
    await wait_subscribed(server, "alice", "bob")

    response = await publisher.publish(TextNotification(title="for alice"), target="alice")
    assert response.success
    assert response.queued_subscribers == 1
    assert response.sequence > 0

    [delivery] = await alice_next
    assert titles([delivery]) == ["for alice"]
    assert delivery.target_client_id == "alice"
    assert delivery.publisher_agent_id == "publisher"
    assert delivery.sequence == response.sequence
    assert delivery.notification is not None
    assert delivery.notification.id == response.notification_id
    await asyncio.sleep(0.2)
    assert not bob_next.done()
    bob_next.cancel()


async def test_broadcast_reaches_every_subscriber_in_order(server: ToastyServer, connect: ClientFactory) -> None:
    subscribers = [connect(f"sub-{i}") for i in range(5)]
    readers = [asyncio.ensure_future(take(c.subscribe(), 3)) for c in subscribers]
    await wait_subscribed(server, *(f"sub-{i}" for i in range(5)))
    publisher = connect("publisher")
    sequences = [(await publisher.publish(TextNotification(title=f"n{i}"))).sequence for i in range(3)]
    for reader in readers:
        got = await reader
        assert titles(got) == ["n0", "n1", "n2"]
        assert [d.sequence for d in got] == sequences


async def test_subscriber_resumes_after_disconnect_without_loss(server: ToastyServer, connect: ClientFactory) -> None:
    publisher = connect("publisher")
    first = connect("worker")
    stream = first.subscribe()
    reader = asyncio.ensure_future(take(stream, 2))
    await wait_subscribed(server, "worker")
    for i in range(2):
        await publisher.publish(TextNotification(title=f"before-{i}"), target="worker")
    seen = await reader
    last = seen[-1].sequence
    await stream.aclose()  # type: ignore[attr-defined]
    await first.close()

    for i in range(3):  # published while the worker is away
        await publisher.publish(TextNotification(title=f"away-{i}"), target="worker")
    await publisher.publish(TextNotification(title="someone else's"), target="other")

    again = connect("worker")
    resumed = again.subscribe(after_sequence=last)
    assert titles(await take(resumed, 3)) == ["away-0", "away-1", "away-2"]
    await nothing_more(resumed)


async def test_new_subscriber_starts_at_live_edge_unless_from_beginning(
    server: ToastyServer, connect: ClientFactory
) -> None:
    publisher = connect("publisher")
    await publisher.publish(TextNotification(title="old"))
    live_reader = asyncio.ensure_future(take(connect("live").subscribe(), 1))
    replay = connect("replay").subscribe(from_beginning=True)
    assert titles(await take(replay, 1)) == ["old"]
    await wait_subscribed(server, "live", "replay")
    await publisher.publish(TextNotification(title="new"))
    assert titles(await live_reader) == ["new"]
    assert titles(await take(replay, 1)) == ["new"]


async def test_second_subscribe_with_same_client_id_replaces_the_first(
    server: ToastyServer, connect: ClientFactory
) -> None:
    first = connect("dup").subscribe()
    first_reader = asyncio.ensure_future(take(first, 1))
    await wait_subscribed(server, "dup")
    original = server.broker.subscriptions[0]

    second = connect("dup").subscribe()
    second_reader = asyncio.ensure_future(take(second, 1))
    for _ in range(200):
        if server.broker.subscriptions and server.broker.subscriptions[0] is not original:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(SubscriptionReplaced, match="replaced"):
        await first_reader
    await connect("publisher").publish(TextNotification(title="after"), target="dup")
    assert titles(await second_reader) == ["after"]
    assert len(server.broker.subscriptions) == 1


async def test_slow_subscriber_does_not_hold_back_others_and_loses_nothing(tmp_path: object) -> None:
    from tests.conftest import FAST_RETRY
    from toasty_client import ResilientNotificationClient
    from toasty_server.testing import running_server

    async with (
        running_server(store="sqlite", db_path=f"{tmp_path}/t.db", mailbox_depth=4) as srv,
        ResilientNotificationClient(srv.address, agent_id="slow", retry=FAST_RETRY) as slow,
        ResilientNotificationClient(srv.address, agent_id="fast", retry=FAST_RETRY) as fast,
        ResilientNotificationClient(srv.address, agent_id="pub", retry=FAST_RETRY) as pub,
    ):
        slow_stream, fast_stream = slow.subscribe(), fast.subscribe()
        slow_first = asyncio.ensure_future(take(slow_stream, 1))
        fast_reader = asyncio.ensure_future(take(fast_stream, 301, timeout=20))
        await wait_subscribed(srv, "slow", "fast")
        await pub.publish(TextNotification(title="warm-up"))
        await slow_first
        # `slow` now reads nothing while 300 broadcasts go out: far past its mailbox depth of 4.
        for batch in range(10):
            await asyncio.gather(*(pub.publish(TextNotification(title=f"m{batch * 30 + i:03d}")) for i in range(30)))
        assert sorted(titles(await fast_reader))[:300] == [f"m{i:03d}" for i in range(300)]
        got = await take(slow_stream, 300, timeout=20)
        assert sorted(titles(got)) == [f"m{i:03d}" for i in range(300)]
        sequences = [d.sequence for d in got]
        assert sequences == sorted(sequences)
        assert len(set(sequences)) == 300


async def test_retention_gap_is_reported_not_silent(tmp_path: object) -> None:
    from toasty_client import ResilientNotificationClient
    from toasty_server.testing import running_server

    async with (
        running_server(store="memory", retention_max_entries=100) as srv,
        ResilientNotificationClient(srv.address, agent_id="pub") as pub,
    ):
        first = await pub.publish(TextNotification(title="first"))
        for i in range(150):
            await pub.publish(TextNotification(title=f"n{i}"))
        assert await srv.broker.prune(100, 3600) > 0
        stream = pub.subscribe("late", after_sequence=first.sequence)
        [gap, *rest] = await take(stream, 101)
        assert gap.gap is not None
        assert gap.gap.from_sequence == first.sequence + 1
        assert rest[0].sequence == gap.gap.to_sequence + 1
        assert titles(rest)[-1] == "n149"


async def test_retention_by_bytes_bounds_the_log_and_reports_the_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large notifications cannot fill the disk: the server's own pruning keeps the log's payloads under
    TOASTY_RETENTION_MAX_BYTES, and a subscriber resuming past what went gets a gap, not silence."""
    from tests.hardening.helpers import ascrape
    from toasty_client import ResilientNotificationClient
    from toasty_server import app
    from toasty_server.testing import running_server

    monkeypatch.setattr(app, "PRUNE_INTERVAL_SECONDS", 0.05)
    bound = 16 * 1024
    async with (
        running_server(store="sqlite", db_path=tmp_path / "t.db", retention_max_bytes=bound) as srv,
        ResilientNotificationClient(srv.address, agent_id="pub") as pub,
    ):
        first = await pub.publish(TextNotification(title="first", line1="a" * 2000, line2="b" * 2000))
        for i in range(30):
            await pub.publish(TextNotification(title=f"n{i}", line1="a" * 2000, line2="b" * 2000))
        store = srv.broker.store
        for _ in range(200):
            if await store.oldest_sequence() > first.sequence and store.payload_bytes <= bound:
                break
            await asyncio.sleep(0.02)
        retained = await store.recent(1000)
        assert 1 < len(retained) < 31
        assert sum(len(e.payload) for e in retained) == store.payload_bytes <= bound
        assert srv.metrics_port
        metrics = await ascrape(srv.metrics_port)
        assert metrics["toasty_log_bytes"] == store.payload_bytes
        assert metrics['toasty_limit{setting="retention_max_bytes"}'] == bound

        stream = pub.subscribe("late", after_sequence=first.sequence)
        [gap, *rest] = await take(stream, 1 + len(retained))
        assert gap.gap is not None
        assert gap.gap.from_sequence == first.sequence + 1
        assert gap.gap.to_sequence == retained[-1].sequence - 1
        assert [d.sequence for d in rest] == [e.sequence for e in reversed(retained)]
        assert titles(rest)[-1] == "n29"


async def test_legacy_send_notification_is_a_broadcast_text(server: ToastyServer, connect: ClientFactory) -> None:
    listener = connect("listener").subscribe()
    reader = asyncio.ensure_future(take(listener, 1))
    await wait_subscribed(server, "listener")
    response = await connect("old-agent").send_notification("Backup done", "42 GB", v1.UrgencyLevel.WARNING)
    assert response.success
    assert response.notification_id
    [delivery] = await reader
    assert delivery.notification is not None
    assert delivery.notification.urgency == v1.UrgencyLevel.WARNING
    assert delivery.notification.text_message is not None
    assert delivery.notification.text_message.body_text_line1 == "42 GB"
    assert titles([delivery]) == ["Backup done"]


async def test_toast_is_requested_even_with_no_subscriber(tmp_path: object) -> None:
    """The seed sketch only showed a toast when a subscriber happened to be connected: not us."""
    import io

    from toasty_client import ResilientNotificationClient
    from toasty_server.render.console import ConsoleBackend
    from toasty_server.testing import running_server

    out = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(out)]) as srv,
        ResilientNotificationClient(srv.address, agent_id="lonely") as client,
    ):
        response = await client.publish(TextNotification(title="Nobody listens", line1="still shown"))
        assert response.queued_subscribers == 0
        assert response.toast_requested
        await srv.renderer.drain()
    assert "Nobody listens — still shown (from lonely" in out.getvalue()


async def test_status_reports_subscribers_and_sequence(server: ToastyServer, connect: ClientFactory) -> None:
    stream = connect("watcher").subscribe()
    reader = asyncio.ensure_future(take(stream, 1))
    await wait_subscribed(server, "watcher")
    await connect("p").publish(TextNotification(title="x"))
    await reader
    status = await connect("p").status()
    assert status.store == "sqlite"
    assert status.last_sequence >= 1
    assert [s.client_id for s in status.subscribers] == ["watcher"]


async def test_server_shutdown_ends_streams_with_unavailable(tmp_path: object) -> None:
    from toasty_server.testing import running_server

    async with running_server() as srv:
        channel = grpc.aio.insecure_channel(srv.address)
        method = v1.NOTIFICATION_SERVICE_SUBSCRIBE
        call = channel.unary_stream(
            method.path, request_serializer=bytes, response_deserializer=v1.Delivery.FromString
        )(v1.SubscriptionRequest(client_id="c"), metadata=(("x-agent-id", "c"),))
        await wait_subscribed(srv, "c")
        await srv.stop(grace=0.5)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call.read()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        await channel.close()
