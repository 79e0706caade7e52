"""Bounded under abuse (issue 15 part 4): each limit refuses with a status and a message that says what
to fix, and loses nothing else."""

from __future__ import annotations

import asyncio
import math

import aiohttp
import grpc
import pytest

from tests.hardening.helpers import unary
from toasty_client import (
    Button,
    InteractiveNotification,
    ResilientNotificationClient,
    TextNotification,
)
from toasty_client.errors import InvalidNotification, ToastyError
from toasty_proto import v1
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server


def http_url(server: ToastyServer) -> str:
    return f"http://127.0.0.1:{server.http_port}"


QUESTION = InteractiveNotification(title="Deploy?", buttons=[Button(id="yes", label="Yes")])


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "file:///etc/passwd", "JavaScript:alert(1)", "data:text/html,x"]
)
async def test_launch_url_takes_only_the_allowed_schemes(url: str) -> None:
    async with running_server() as server, ResilientNotificationClient(server.address, agent_id="a") as client:
        toast = TextNotification(title="t").to_proto()
        toast.launch_url = url
        with pytest.raises(InvalidNotification, match=r"launch_url.*TOASTY_LAUNCH_URL_SCHEMES"):
            await client.publish(toast)
        toast.launch_url = "https://example.org/build/42"
        assert (await client.publish(toast)).success


async def test_a_configured_scheme_is_allowed() -> None:
    async with (
        running_server(launch_url_schemes=["https", "vscode"]) as server,
        ResilientNotificationClient(server.address, agent_id="a") as client,
    ):
        toast = TextNotification(title="t").to_proto()
        toast.launch_url = "vscode://file/home/me/project/main.py:12"
        assert (await client.publish(toast)).success
        toast.launch_url = "http://example.org"
        with pytest.raises(InvalidNotification, match="launch_url"):
            await client.publish(toast)


@pytest.mark.parametrize("timeout", [math.nan, -1.0, math.inf])
async def test_await_timeouts_that_are_not_a_wait_are_invalid(timeout: float) -> None:
    async with running_server() as server, grpc.aio.insecure_channel(server.address) as channel:
        request = v1.AwaitInteractionRequest(notification_id="q", timeout_seconds=timeout)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await unary(channel, v1.NOTIFICATION_SERVICE_AWAIT_INTERACTION, request)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "timeout_seconds" in (failed.value.details() or "")


async def test_a_long_await_is_capped_and_can_be_repeated() -> None:
    async with running_server(max_await_seconds=0.5) as server:
        async with ResilientNotificationClient(server.address, agent_id="a") as client:
            published = await client.publish(QUESTION)
        async with grpc.aio.insecure_channel(server.address) as channel:
            person = (("authorization", f"Bearer {server.person_secret}"),)
            request = v1.AwaitInteractionRequest(notification_id=published.notification_id, timeout_seconds=3600)
            started = asyncio.get_running_loop().time()
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await unary(channel, v1.NOTIFICATION_SERVICE_AWAIT_INTERACTION, request, person, timeout=10)
            assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert asyncio.get_running_loop().time() - started < 5


async def test_open_questions_per_agent_are_bounded_and_others_are_unaffected() -> None:
    async with (
        running_server(max_open_questions_per_agent=3) as server,
        ResilientNotificationClient(server.address, agent_id="busy") as busy,
        ResilientNotificationClient(server.address, agent_id="calm") as calm,
    ):
        first = [await busy.publish(QUESTION) for _ in range(3)]
        with pytest.raises(ToastyError, match="TOASTY_MAX_OPEN_QUESTIONS_PER_AGENT"):
            await busy.publish(QUESTION)
        assert (await calm.publish(QUESTION)).success  # another agent's budget is its own
        assert (await busy.publish(TextNotification(title="plain toasts are not questions"))).success
        assert await busy.withdraw(first[0].notification_id)
        assert (await busy.publish(QUESTION)).success  # room again


async def test_waiting_awaits_per_agent_are_bounded() -> None:
    async with running_server(max_open_questions_per_agent=2) as server:
        async with ResilientNotificationClient(server.address, agent_id="waiter") as client:
            ids = [(await client.publish(QUESTION)).notification_id for _ in range(2)]
        async with grpc.aio.insecure_channel(server.address) as channel:
            person = (("x-agent-id", "waiter"), ("authorization", f"Bearer {server.person_secret}"))

            def wait(nid: str) -> asyncio.Future[object]:
                request = v1.AwaitInteractionRequest(notification_id=nid, timeout_seconds=10)
                return asyncio.ensure_future(unary(channel, v1.NOTIFICATION_SERVICE_AWAIT_INTERACTION, request, person))

            waiting = [wait(nid) for nid in ids]
            await asyncio.sleep(0.3)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await wait(ids[0])
            assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "already waiting" in (failed.value.details() or "")
            for call in waiting:
                call.cancel()


async def test_deeply_nested_json_is_400_not_500() -> None:
    async with (
        running_server(http_enabled=True, http_port=0) as server,
        aiohttp.ClientSession() as session,
    ):
        for depth in (40, 100_000):
            body = b"[" * depth + b"]" * depth
            async with session.post(http_url(server) + "/v1/publish", data=body) as reply:
                assert reply.status == 400
                assert "deeper than 32" in (await reply.json())["error"]["message"]
        # what was fine before still is
        ok = {"notification": {"textMessage": {"header": {"title": "still fine"}}}}
        async with session.post(http_url(server) + "/v1/publish", json=ok) as reply:
            assert reply.status == 200


async def test_metrics_answer_only_to_loopback_host_names() -> None:
    async with running_server() as server, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{server.metrics_port}/metrics"
        async with session.get(url, headers={"Host": "rebound.example.org"}) as reply:
            assert reply.status == 403
            assert "only answers to localhost" in await reply.text()
        async with session.get(url, headers={"Host": f"localhost:{server.metrics_port}"}) as reply:
            assert reply.status == 200
            assert "toasty_last_sequence" in await reply.text()
