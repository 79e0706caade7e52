"""A subscriber resuming with a sequence of another log (new database, in-memory server restarted) is
told so and gets the server's log from its beginning, instead of silently skipping it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from tests.core.helpers import take, titles
from tests.core.process import ServerProcess
from tests.hardening.helpers import stream, text_publish, unary
from toasty_client import ResilientNotificationClient, RetryPolicy, TextNotification
from toasty_proto import v1
from toasty_server.app import ToastyServer

RETRY = RetryPolicy(initial_backoff=0.05, max_backoff=0.5, jitter=0.1, publish_attempts=3)
PUBLISH = v1.NOTIFICATION_SERVICE_PUBLISH


def log_id_of(metadata: object) -> str:
    for key, value in metadata or ():  # type: ignore[attr-defined]
        if key == "toasty-log-id":
            return str(value)
    return ""


async def test_the_client_follows_an_in_memory_server_that_restarted(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "unused.db", None, "--store", "memory")
    server.start()
    try:
        async with (
            ResilientNotificationClient(server.address, agent_id="pub", retry=RETRY) as pub,
            ResilientNotificationClient(server.address, agent_id="worker", retry=RETRY) as worker,
        ):
            deliveries = worker.subscribe()
            reader = asyncio.ensure_future(take(deliveries, 6, timeout=30))
            await asyncio.sleep(0.3)
            for i in range(3):
                await pub.publish(TextNotification(title=f"old-{i}"), target="worker")
            server.kill()
            server.start()  # a new, empty log: its sequences start at 1 again
            await asyncio.sleep(1.0)  # the worker reconnects (with sequence 3 of the old log)
            for i in range(2):
                await pub.publish(TextNotification(title=f"new-{i}"), target="worker")
            got = await reader
            assert titles(got[:3]) == ["old-0", "old-1", "old-2"]
            reset = got[3].reset
            assert reset is not None, f"expected a LogReset, got {got[3]}"
            assert got[3].sequence == 0
            assert reset.resumed_after == got[2].sequence
            assert titles(got[4:]) == ["new-0", "new-1"], "the new log's entries are not skipped"
            assert [d.sequence for d in got[4:]] == [1, 2]
    finally:
        server.kill()


async def test_a_sequence_of_another_database_is_detected_by_its_log_id(tmp_path: Path) -> None:
    """Even when the new log already passed the subscriber's sequence (so the sequence alone cannot
    tell), the log id does: the stream starts with a LogReset and replays the new log."""
    server = ServerProcess(tmp_path / "first.db")
    server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            call = stream(channel, v1.SubscriptionRequest(client_id="w"), (("x-agent-id", "w"),))
            old_log = log_id_of(await call.initial_metadata())
            assert old_log
            call.cancel()
            await unary(channel, PUBLISH, text_publish("old"))
        server.kill()
        server.db_path.rename(tmp_path / "moved-away.db")  # what the corrupt-file message suggests
        server.start()  # a new file: a new log
        async with grpc.aio.insecure_channel(server.address) as channel:
            for i in range(5):
                await unary(channel, PUBLISH, text_publish(f"new-{i}"))
            call = stream(channel, v1.SubscriptionRequest(client_id="w", after_sequence=1, log_id=old_log))
            new_log = log_id_of(await call.initial_metadata())
            assert new_log
            assert new_log != old_log
            first = await asyncio.wait_for(call.read(), 5)
            assert first.reset is not None
            assert first.reset.log_id == new_log
            assert (first.reset.resumed_after, first.reset.log_end) == (1, 5)
            replayed = [await asyncio.wait_for(call.read(), 5) for _ in range(5)]
            assert titles(replayed) == [f"new-{i}" for i in range(5)]
            call.cancel()
    finally:
        server.kill()


async def test_same_log_resumes_without_a_reset_and_plain_clients_get_one_past_the_end(server: ToastyServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        for i in range(3):
            await unary(channel, PUBLISH, text_publish(f"n{i}"))
        own = stream(channel, v1.SubscriptionRequest(client_id="a", after_sequence=1, log_id=server.api.log_id))
        got = [await asyncio.wait_for(own.read(), 5) for _ in range(2)]
        assert titles(got) == ["n1", "n2"], "a valid resume in the same log is not a reset"
        own.cancel()
        # a plain client that knows no log id, resuming past this log's end: only another log does that
        beyond = stream(channel, v1.SubscriptionRequest(client_id="b", after_sequence=99))
        first = await asyncio.wait_for(beyond.read(), 5)
        assert first.reset is not None
        assert (first.reset.resumed_after, first.reset.log_end) == (99, 3)
        assert titles([await asyncio.wait_for(beyond.read(), 5) for _ in range(3)]) == ["n0", "n1", "n2"]
        beyond.cancel()
