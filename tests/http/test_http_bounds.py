"""The HTTP listener under abuse (issue 15 part 4): connections are capped, idle and trickling ones are
closed, a stream whose reader stops reading is ended without stalling the others, and a request without
a credential cannot take over someone's live stream."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from tests.core.test_pubsub import wait_subscribed
from tests.http.helpers import EventStream, as_person, http_url
from toasty_client import ResilientNotificationClient, TextNotification
from toasty_server.app import ToastyServer
from toasty_server.http import routes
from toasty_server.testing import running_server


@asynccontextmanager
async def http_server(**settings: Any) -> AsyncIterator[ToastyServer]:
    async with running_server(http_enabled=True, http_port=0, **settings) as server:
        yield server


def raw_connection(server: ToastyServer, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", server.http_port or 0))
    sock.settimeout(5)
    return sock


async def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""

    def read() -> bytes:
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    return await asyncio.to_thread(read)


async def test_connections_past_the_cap_get_503_and_the_others_are_served() -> None:
    async with http_server(http_max_connections=4, http_idle_timeout_seconds=30) as server:
        held = [raw_connection(server) for _ in range(4)]
        await asyncio.sleep(0.2)
        extra = raw_connection(server)
        refused = await read_all(extra)
        assert refused.startswith(b"HTTP/1.1 503")
        assert b"TOASTY_HTTP_MAX_CONNECTIONS" in refused
        held.pop().close()
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as session, session.get(http_url(server) + "/healthz") as reply:
            assert reply.status == 200
        for sock in held:
            sock.close()
        assert server.metrics.http_connections_refused._value.get() == 1


async def test_a_connection_that_never_finishes_its_headers_is_closed() -> None:
    async with http_server(http_idle_timeout_seconds=0.5) as server:
        trickle = raw_connection(server)
        trickle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        assert await asyncio.wait_for(read_all(trickle), 5) == b""
        silent = raw_connection(server)  # half-open: sends nothing at all
        assert await asyncio.wait_for(read_all(silent), 5) == b""
        assert server.metrics.http_connections_idle_closed._value.get() >= 2


async def test_an_event_stream_is_a_request_in_progress_not_an_idle_connection() -> None:
    async with (
        http_server(http_idle_timeout_seconds=0.3) as server,
        aiohttp.ClientSession() as session,
        session.get(http_url(server) + "/v1/subscribe", headers={"X-Agent-Id": "reader"}) as stream,
    ):
        await wait_subscribed(server, "reader")
        await asyncio.sleep(1.0)  # more than three idle timeouts
        async with ResilientNotificationClient(server.address, agent_id="pub") as pub:
            await pub.publish(TextNotification(title="still here"))
        event = await EventStream(stream).next()
        assert event.data["notification"]["textMessage"]["header"]["title"] == "still here"


async def test_a_reader_that_stops_reading_is_ended_and_the_others_get_everything() -> None:
    line = "x" * 2000
    async with (
        http_server(http_write_timeout_seconds=0.5, http_idle_timeout_seconds=60) as server,
        aiohttp.ClientSession() as session,
        session.get(http_url(server) + "/v1/subscribe", headers={"X-Agent-Id": "good"}) as good,
    ):
        stuck = raw_connection(server, receive_buffer=4096)
        stuck.sendall(b"GET /v1/subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Agent-Id: stuck\r\n\r\n")
        await wait_subscribed(server, "good", "stuck")
        reader = EventStream(good)
        received = 0

        async def read_good(count: int) -> None:
            nonlocal received
            while received < count:
                event = await reader.next()
                if event.name == "delivery":
                    received += 1

        reading = asyncio.ensure_future(read_good(1500))
        async with ResilientNotificationClient(server.address, agent_id="pub") as pub:
            for i in range(1500):
                await pub.publish(TextNotification(title=f"n{i}", line1=line, line2=line), skip_toast=True)
        await asyncio.wait_for(reading, 30)
        assert received == 1500
        for _ in range(100):
            if server.metrics.http_streams_kicked._value.get() >= 1:
                break
            await asyncio.sleep(0.1)
        assert server.metrics.http_streams_kicked._value.get() == 1
        assert "stuck" not in {s.client_id for s in server.broker.subscriptions}
        stuck.close()


async def test_a_request_without_a_credential_cannot_take_over_a_live_stream() -> None:
    async with (
        http_server() as server,
        aiohttp.ClientSession() as session,
        session.get(http_url(server) + "/v1/subscribe", headers={"X-Agent-Id": "reader"}) as first,
    ):
        await wait_subscribed(server, "reader")
        async with session.get(http_url(server) + "/v1/subscribe", headers={"X-Agent-Id": "reader"}) as second:
            assert second.status == 409
            assert "cannot take it over" in (await second.json())["error"]["message"]
        assert not first.content.at_eof()
        # with a credential (here the person's) a reconnect takes the client id over, as a resume must
        headers = {"X-Agent-Id": "reader", **as_person()}
        async with session.get(http_url(server) + "/v1/subscribe", headers=headers) as third:
            assert third.status == 200


@pytest.mark.parametrize("count", [300])
async def test_hundreds_of_readers_each_get_a_broadcast_encoded_once(
    count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[bytes] = []
    build = routes._delivery_frame

    def counting(payload: bytes) -> bytes:
        built.append(payload)
        return build(payload)

    monkeypatch.setattr(routes, "_delivery_frame", counting)
    async with (
        http_server(http_max_connections=count + 10) as server,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
    ):
        url = http_url(server) + "/v1/subscribe"
        streams = [await session.get(url, headers={"X-Agent-Id": f"r{i}"}) for i in range(count)]
        await wait_subscribed(server, *(f"r{i}" for i in range(count)))
        async with ResilientNotificationClient(server.address, agent_id="pub") as pub:
            await pub.publish(TextNotification(title="to everyone"))
        events = await asyncio.gather(*(EventStream(s).next() for s in streams))
        assert {e.data["notification"]["textMessage"]["header"]["title"] for e in events} == {"to everyone"}
        assert len(built) == 1, "one event frame for all readers"
        for s in streams:
            s.close()
