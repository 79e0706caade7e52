"""Durability with a real server process: kill -9, restart on the same SQLite file, resume."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.core.helpers import nothing_more, take, titles
from tests.core.process import ServerProcess
from toasty_client import ResilientNotificationClient, RetryPolicy, ServerUnavailable, TextNotification

RETRY = RetryPolicy(initial_backoff=0.05, max_backoff=0.5, jitter=0.1, publish_attempts=2)


async def test_acknowledged_publishes_survive_kill_9_and_resume(proc: ServerProcess) -> None:
    async with (
        ResilientNotificationClient(proc.address, agent_id="pub", retry=RETRY) as pub,
        ResilientNotificationClient(proc.address, agent_id="worker", retry=RETRY) as worker,
    ):
        await pub.publish(TextNotification(title="first"), target="worker")
        stream = worker.subscribe(from_beginning=True)
        [first] = await take(stream, 1)
        await stream.aclose()  # type: ignore[attr-defined]  # the worker goes away...

        acked = [await pub.publish(TextNotification(title=f"while-away-{i}"), target="worker") for i in range(10)]
        assert all(r.success for r in acked)
        proc.kill()  # ...and the server dies without any chance to flush

        with pytest.raises(ServerUnavailable):  # nothing is acknowledged while it is down
            await pub.publish(TextNotification(title="never-acked"), target="worker")

        proc.start()
        resumed = worker.subscribe(after_sequence=first.sequence)
        got = await take(resumed, 10, timeout=15)
        assert titles(got) == [f"while-away-{i}" for i in range(10)]
        assert [d.sequence for d in got] == [r.sequence for r in acked]
        await nothing_more(resumed)


async def test_live_subscriber_reconnects_by_itself_across_a_restart(proc: ServerProcess) -> None:
    async with (
        ResilientNotificationClient(proc.address, agent_id="pub", retry=RETRY) as pub,
        ResilientNotificationClient(proc.address, agent_id="worker", retry=RETRY) as worker,
    ):
        stream = worker.subscribe()
        reader = asyncio.ensure_future(take(stream, 6, timeout=30))
        await asyncio.sleep(0.3)
        for i in range(3):
            await pub.publish(TextNotification(title=f"before-{i}"), target="worker")
        proc.kill()
        proc.start()
        for i in range(3):
            await pub.publish(TextNotification(title=f"after-{i}"), target="worker")
        got = await reader
        assert titles(got) == [f"before-{i}" for i in range(3)] + [f"after-{i}" for i in range(3)]
        sequences = [d.sequence for d in got]
        assert sequences == sorted(sequences)
        assert len(set(sequences)) == 6


async def test_sigterm_stops_gracefully_and_keeps_the_log(proc: ServerProcess) -> None:
    async with ResilientNotificationClient(proc.address, agent_id="pub", retry=RETRY) as pub:
        kept = await pub.publish(TextNotification(title="kept"))
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0
    assert "stopping gracefully" in proc.log()
    assert "stopped" in proc.log()
    proc.start()
    async with ResilientNotificationClient(proc.address, agent_id="reader", retry=RETRY) as reader:
        [delivery] = await take(reader.subscribe(from_beginning=True), 1)
        assert delivery.sequence == kept.sequence
        assert titles([delivery]) == ["kept"]
