"""Several hubs on one PostgreSQL database behave as one hub (issue 19).

Real parts only: a real PostgreSQL server (tests/postgres.py), hubs as real `toasty-server` processes
(`--store postgres`), agents and the person through the real client.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.core.process import ServerProcess
from tests.postgres import PostgresServer
from toasty_client import (
    Button,
    InteractiveNotification,
    Outcome,
    ResilientNotificationClient,
    TextNotification,
)
from toasty_proto import v1
from toasty_server.store import LogEntry, PendingEntry
from toasty_server.store.postgres import PostgresStore

pytestmark = pytest.mark.timeout(90)

QUESTION = InteractiveNotification(
    title="Deploy?", buttons=[Button(id="yes", label="Yes"), Button(id="no", label="No")]
)


class PostgresHub(ServerProcess):
    """A hub process whose log is the shared PostgreSQL database."""

    def __init__(self, directory: Path, url: str, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        super().__init__(directory / f"{name}.db", env={"TOASTY_DATABASE_URL": url})

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "toasty_server",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--store", "postgres", "--renderer", "none",
        ]  # fmt: skip


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.create_database()


@pytest.fixture
def hubs(tmp_path: Path, database: str) -> Iterator[tuple[PostgresHub, PostgresHub]]:
    first, second = PostgresHub(tmp_path, database, "a"), PostgresHub(tmp_path, database, "b")
    first.start()
    second.start()
    yield first, second
    for hub in (first, second):
        if hub.proc is not None and hub.proc.poll() is None:
            hub.proc.send_signal(signal.SIGTERM)
            hub.proc.wait(timeout=10)


async def read(stream: grpc.aio.UnaryStreamCall, count: int, within: float = 10.0) -> list[v1.Delivery]:  # type: ignore[type-arg]
    got: list[v1.Delivery] = []

    async def take() -> None:
        async for delivery in stream:
            got.append(delivery)
            if len(got) == count:
                return

    await asyncio.wait_for(take(), within)
    return got


def raw_subscribe(channel: grpc.aio.Channel, request: v1.SubscriptionRequest, token: str) -> grpc.aio.UnaryStreamCall:  # type: ignore[type-arg]
    method = v1.NOTIFICATION_SERVICE_SUBSCRIBE
    rpc = channel.unary_stream(
        method.path, request_serializer=method.serialize, response_deserializer=method.deserialize_response
    )
    return rpc(request, metadata=(("authorization", f"Bearer {token}"),))


async def test_what_one_hub_publishes_reaches_the_subscribers_of_the_other(
    hubs: tuple[PostgresHub, PostgresHub],
) -> None:
    a, b = hubs
    async with (
        ResilientNotificationClient(a.address, agent_id="publisher") as on_a,
        ResilientNotificationClient(b.address, agent_id="publisher") as on_b,
        grpc.aio.insecure_channel(b.address) as channel_b,
        grpc.aio.insecure_channel(a.address) as channel_a,
    ):
        watch_b = raw_subscribe(channel_b, v1.SubscriptionRequest(client_id="watcher-b"), a.person_secret)
        watch_a = raw_subscribe(channel_a, v1.SubscriptionRequest(client_id="watcher-a"), a.person_secret)
        await asyncio.sleep(0.3)  # both streams registered at the live edge
        first = await on_a.publish(TextNotification(title="through a"))
        second = await on_b.publish(TextNotification(title="through b"))
        for stream in (watch_a, watch_b):
            got = await read(stream, 2)
            assert [d.notification.text_message.header.title for d in got] == ["through a", "through b"]
            assert [d.sequence for d in got] == [first.sequence, second.sequence]  # one log, one order
        watch_a.cancel()
        watch_b.cancel()
        status_a, status_b = await on_a.status(), await on_b.status()
        assert status_a.store == status_b.store == "postgres"


async def test_a_subscriber_resumes_on_the_other_hub_after_kill_9(hubs: tuple[PostgresHub, PostgresHub]) -> None:
    a, b = hubs
    async with ResilientNotificationClient(b.address, agent_id="publisher") as publisher:
        async with grpc.aio.insecure_channel(a.address) as channel:
            stream = raw_subscribe(
                channel, v1.SubscriptionRequest(client_id="reader", from_beginning=True), a.person_secret
            )
            for i in range(3):
                await publisher.publish(TextNotification(title=f"n{i}"))
            seen = await read(stream, 3)
            log_id = next(v for k, v in await stream.initial_metadata() if k == "toasty-log-id")
            stream.cancel()
        assert a.proc is not None
        a.proc.send_signal(signal.SIGKILL)  # the hub the reader used dies
        a.proc.wait(timeout=10)
        for i in range(3, 5):
            await publisher.publish(TextNotification(title=f"n{i}"))
        async with grpc.aio.insecure_channel(b.address) as channel:
            resumed = raw_subscribe(
                channel,
                v1.SubscriptionRequest(client_id="reader", after_sequence=seen[-1].sequence, log_id=str(log_id)),
                b.person_secret,
            )
            rest = await read(resumed, 2)
            resumed.cancel()
    titles = [d.notification.text_message.header.title for d in (*seen, *rest)]
    assert titles == ["n0", "n1", "n2", "n3", "n4"]  # nothing lost, nothing twice, no reset first


async def test_an_answer_through_one_hub_decides_a_question_asked_through_the_other(
    hubs: tuple[PostgresHub, PostgresHub],
) -> None:
    a, b = hubs
    async with (
        ResilientNotificationClient(a.address, agent_id="deployer") as agent,
        ResilientNotificationClient(b.address) as person_on_b,
        ResilientNotificationClient(a.address) as person_on_a,
    ):
        asking = asyncio.ensure_future(agent.ask(QUESTION, timeout=60))
        question = await _open_question(person_on_b)
        first, second = await asyncio.gather(person_on_b.answer(question, "yes"), person_on_a.answer(question, "no"))
        assert sorted([first, second]) == [False, True]  # decided once, across hubs
        answer = await asyncio.wait_for(asking, 10)
        assert answer.outcome is Outcome.BUTTON
        assert answer.button_id == ("yes" if first else "no")
        assert not await person_on_b.answer(question, "no")  # already decided


async def _open_question(person: ResilientNotificationClient, within: float = 10.0) -> str:
    """The id of the one open question, as the other hub lists it (it follows the shared log)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        listed = await person.open_questions()
        if listed:
            return str(listed[0].notification_id)
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the question never showed up on the other hub")
        await asyncio.sleep(0.05)


async def test_interleaved_appends_of_two_hubs_number_in_commit_order_with_no_gap(database: str) -> None:
    """Two stores (two hubs) append concurrently while a reader follows the log: every page it reads
    continues exactly where the last one stopped, so a subscriber resuming after N can never miss an
    entry numbered below N that committed later."""
    hub_a, hub_b = PostgresStore(database), PostgresStore(database)
    await hub_a.open()
    await hub_b.open()
    holes: list[tuple[int, int]] = []
    done = asyncio.Event()

    async def append(store: PostgresStore, name: str, batches: int) -> None:
        for i in range(batches):
            size = 1 + i % 4
            pending = [PendingEntry("", 0.0, f"{name}-{i}-{j}", lambda seq, at: f"{seq}".encode()) for j in range(size)]
            await store.append_assigning(pending)

    async def follow() -> int:
        last = 0
        while True:
            finished = done.is_set()
            page: list[LogEntry] = await hub_a.read_log_after(last, 1000)
            for entry in page:
                if entry.sequence != last + 1:
                    holes.append((last, entry.sequence))
                assert entry.payload == str(entry.sequence).encode()  # encoded with its final number
                last = entry.sequence
            if finished and not page:
                return last
            await asyncio.sleep(0)

    reader = asyncio.ensure_future(follow())
    await asyncio.gather(
        *(append(store, f"{name}{k}", 40) for k in range(4) for name, store in (("a", hub_a), ("b", hub_b)))
    )
    done.set()
    last = await reader
    await hub_a.close()
    await hub_b.close()
    assert holes == []
    assert last == 8 * sum(1 + i % 4 for i in range(40))


async def test_the_attention_budget_holds_for_the_deployment_not_per_hub(database: str) -> None:
    """An agent with a budget of 3 new toasts a minute gets 3 in all through two hubs, not 3 through each."""
    from toasty_client import RateLimited, RetryPolicy
    from toasty_server.testing import running_server

    no_retry = RetryPolicy(publish_attempts=1)
    async with (
        running_server(store="postgres", database_url=database, rate_limit=3, rate_window=60) as a,
        running_server(store="postgres", database_url=database, rate_limit=3, rate_window=60) as b,
        ResilientNotificationClient(a.address, agent_id="chatty", retry=no_retry) as via_a,
        ResilientNotificationClient(b.address, agent_id="chatty", retry=no_retry) as via_b,
        ResilientNotificationClient(b.address, agent_id="quiet", retry=no_retry) as quiet,
    ):
        await via_a.publish(TextNotification(title="1"))
        await via_b.publish(TextNotification(title="2"))
        await via_a.publish(TextNotification(title="3"))
        for client in (via_a, via_b):
            with pytest.raises(RateLimited) as refused:
                await client.publish(TextNotification(title="one too many"))
            assert refused.value.retry_after is not None
            assert 0 < refused.value.retry_after <= 20  # one toast every 60/3 s
        await quiet.publish(TextNotification(title="another agent's budget is its own"))


async def test_question_deadlines_move_to_another_hub_when_the_one_running_them_dies(
    tmp_path: Path, database: str
) -> None:
    """Deadlines run on one hub (an advisory lock); kill -9 that hub and another one times the question out."""
    a = PostgresHub(tmp_path, database, "a")
    a.start()
    try:
        async with ResilientNotificationClient(a.address, agent_id="first") as first:
            quick = InteractiveNotification(title="Quick?", buttons=[Button(id="y", label="Y")])
            assert (await asyncio.wait_for(first.ask(quick, timeout=1), 10)).outcome is Outcome.TIMED_OUT
        assert "runs deadlines for the deployment" in a.log()  # a took the job
        b = PostgresHub(tmp_path, database, "b")
        b.start()
        try:
            async with ResilientNotificationClient(b.address, agent_id="second") as second:
                asking = asyncio.ensure_future(second.ask(QUESTION, timeout=3))
                await asyncio.sleep(0.5)
                assert a.proc is not None
                a.proc.send_signal(signal.SIGKILL)  # the hub running deadlines dies before this one's
                a.proc.wait(timeout=10)
                answer = await asyncio.wait_for(asking, 15)
            assert answer.outcome is Outcome.TIMED_OUT
            assert "runs deadlines for the deployment" in b.log()
        finally:
            b.kill()
    finally:
        if a.proc is not None and a.proc.poll() is None:
            a.kill()
