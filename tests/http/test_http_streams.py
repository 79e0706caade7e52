"""Server-sent event streams: a client's deliveries, resumed after a disconnect with Last-Event-ID or
?after, replaced by a newer stream, ended cleanly by a shutdown; and the page's snapshot stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from tests.conftest import ClientFactory
from tests.core.test_pubsub import wait_subscribed
from tests.http.helpers import INTERACTIVE, TEXT, Api, EventStream, as_person, http_url
from toasty_client import TextNotification
from toasty_server.app import ToastyServer
from toasty_server.http import sse
from toasty_server.testing import running_server


@asynccontextmanager
async def subscribed(
    api: Api, params: dict[str, str] | None = None, headers: dict[str, str] | None = None, agent: str = "reader"
) -> AsyncIterator[EventStream]:
    async with api.session.get(
        api.base + "/v1/subscribe", params=params or {}, headers=api.headers(headers, agent)
    ) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        yield EventStream(response)


def title_of(data: dict[str, object]) -> str:
    notification = data["notification"]
    assert isinstance(notification, dict)
    return str(notification["textMessage"]["header"]["title"])


async def test_deliveries_stream_live_then_resume_after_a_disconnect_with_last_event_id(
    server: ToastyServer, api: Api, connect: ClientFactory
) -> None:
    publisher = connect("publisher")
    async with subscribed(api) as stream:
        await wait_subscribed(server, "reader")
        await publisher.publish(TextNotification(title="one"))
        await publisher.publish(TextNotification(title="two"), target="reader")
        await publisher.publish(TextNotification(title="for someone else"), target="other")
        await publisher.publish(TextNotification(title="three"))
        events = await stream.take(3)
    assert [e.name for e in events] == ["delivery"] * 3
    assert [title_of(e.data) for e in events] == ["one", "two", "three"]
    assert [e.id for e in events] == [e.data["sequence"] for e in events]
    assert events[1].data["targetClientId"] == "reader"
    last_seen = events[1].id  # pretend the client only processed "two" before the connection dropped
    assert last_seen is not None

    await asyncio.sleep(0.1)  # the server notices the disconnect and releases the subscription
    await publisher.publish(TextNotification(title="four (while away)"))
    async with subscribed(api, headers={"Last-Event-ID": last_seen}) as stream:
        resumed = await stream.take(2)
    assert [title_of(e.data) for e in resumed] == ["three", "four (while away)"]

    async with subscribed(api, params={"after": str(resumed[-1].id)}) as stream:
        await wait_subscribed(server, "reader")
        await publisher.publish(TextNotification(title="five"))
        [live] = await stream.take(1)
    assert title_of(live.data) == "five"


async def test_from_beginning_and_an_explicit_client_id(server: ToastyServer, api: Api) -> None:
    await api.publish(TEXT)
    await api.publish(TEXT, targetClientId="board")
    async with subscribed(api, params={"client_id": "board", "from_beginning": "true"}) as stream:
        events = await stream.take(2)
    assert [e.data["targetClientId"] for e in events] == ["", "board"]


async def test_bad_resume_points_are_400(api: Api) -> None:
    for params, headers, field in (
        ({"after": "-3"}, {}, "after"),
        ({}, {"Last-Event-ID": "abc"}, "Last-Event-ID"),
        ({"from_beginning": "perhaps"}, {}, "from_beginning"),
        ({"client_id": "no spaces please"}, {}, "client_id"),
    ):
        reply = await api.session.get(api.base + "/v1/subscribe", params=params, headers=api.headers(headers))
        assert reply.status == 400, (params, headers)
        assert field in (await reply.json())["error"]["message"]


async def test_a_newer_stream_with_the_same_client_id_replaces_the_older(server: ToastyServer, api: Api) -> None:
    async with subscribed(api) as first:
        await wait_subscribed(server, "reader")
        async with subscribed(api) as second:
            ended = await first.next()
            assert ended.name == "error"
            assert ended.data["error"]["code"] == "ABORTED"
            assert ended.data["error"]["reason"] == "SUBSCRIPTION_REPLACED"
            await api.publish(TEXT)
            assert (await second.next()).name == "delivery"


async def test_keep_alive_comments_flow_while_nothing_happens(
    server: ToastyServer, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "HEARTBEAT_SECONDS", 0.1)
    async with subscribed(api) as stream:
        await wait_subscribed(server, "reader")
        await asyncio.sleep(0.35)
        await api.publish(TEXT)
        event = await stream.next()
        assert event.name == "delivery"
        assert stream.comments >= 2


async def test_a_vanished_client_releases_its_subscription(server: ToastyServer, api: Api) -> None:
    async with subscribed(api):
        await wait_subscribed(server, "reader")
    for _ in range(100):
        if not server.broker.subscriptions:
            break
        await asyncio.sleep(0.02)
    assert server.broker.subscriptions == []


async def test_shutdown_ends_streams_cleanly_with_shutting_down() -> None:
    server_cm = running_server(http_enabled=True, http_port=0)
    server = await server_cm.__aenter__()
    stopped = False
    try:
        async with aiohttp.ClientSession() as session:
            base = http_url(server)
            async with (
                session.get(base + "/v1/subscribe", headers={"X-Agent-Id": "reader"}) as deliveries,
                session.get(base + "/v1/dashboard", headers={"X-Agent-Id": "page", **as_person()}) as snapshots,
            ):
                page = EventStream(snapshots)
                assert (await page.next()).name == "snapshot"
                await wait_subscribed(server, "reader")
                stopping = asyncio.ensure_future(server_cm.__aexit__(None, None, None))
                stopped = True
                for stream in (EventStream(deliveries), page):
                    event = await stream.next()
                    while event.name == "snapshot":
                        event = await stream.next()
                    assert event.name == "error"
                    assert event.data["error"]["code"] == "UNAVAILABLE"
                    assert event.data["error"]["reason"] == "SHUTTING_DOWN"
                await asyncio.wait_for(stopping, 10)
    finally:
        if not stopped:
            await server_cm.__aexit__(None, None, None)


async def test_while_draining_calls_are_503_and_health_says_not_serving(server: ToastyServer, api: Api) -> None:
    server.gate.close()  # what stop() does first
    try:
        refused = await api.call("POST", "/v1/publish", {"notification": TEXT})
        assert refused.status == 503
        assert (refused.error["code"], refused.error["reason"]) == ("UNAVAILABLE", "SHUTTING_DOWN")
        health = await api.call("GET", "/healthz")
        assert (health.status, health.json) == (503, {"status": "NOT_SERVING"})
    finally:
        server.gate.closed = False


async def test_the_page_stream_sends_a_snapshot_after_each_change(server: ToastyServer, api: Api) -> None:
    async with api.session.get(api.base + "/v1/dashboard", headers=api.headers()) as response:
        stream = EventStream(response)
        first = await stream.next()
        assert first.name == "snapshot"
        assert first.data["asks"] == []
        assert first.data["status"]["store"] == "sqlite"
        await api.publish({**INTERACTIVE, "id": "ask-1"})
        snapshot = await stream.next()
        while not snapshot.data["asks"]:
            snapshot = await stream.next()
        [ask] = snapshot.data["asks"]
        assert ask["notificationId"] == "tester~ask-1"
        assert ask["delivery"]["notification"]["interactive"]["header"]["title"] == "Deploy v1.2?"
        assert snapshot.data["log"][0]["notification"]["id"] == "ask-1"
