"""Per-agent rate limits are refusals with a retry hint, and one agent's limit never touches another's."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.hardening.helpers import as_person, stream, text_publish, trailing, unary
from toasty_client import RateLimited, ResilientNotificationClient, RetryPolicy, TextNotification
from toasty_proto import v1
from toasty_server.interceptors import AgentLimiters, RatePolicy
from toasty_server.testing import running_server

PUBLISH = v1.NOTIFICATION_SERVICE_PUBLISH
STATUS = v1.NOTIFICATION_SERVICE_GET_STATUS


def agent(name: str) -> tuple[tuple[str, str], ...]:
    return (("x-agent-id", name),)


async def test_over_the_limit_is_refused_at_once_with_a_retry_hint_and_others_are_unaffected() -> None:
    async with (
        running_server(rate_limit=3, rate_window=60) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        for i in range(3):
            await unary(channel, PUBLISH, text_publish(f"a{i}"), agent("noisy"))
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await unary(channel, PUBLISH, text_publish("one too many"), agent("noisy"))
        assert time.monotonic() - started < 0.5, "a refusal must not wait for capacity"
        error = refused.value
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert trailing(error, "toasty-reason") == "RATE_LIMITED"
        retry_ms = int(trailing(error, "toasty-retry-after-ms"))
        assert 0 < retry_ms <= 20_000  # one call every 60/3 = 20 s
        assert "noisy" in (error.details() or "")
        assert "TOASTY_RATE_OVERRIDES" in (error.details() or "")

        # Another agent has its own budget, untouched by the noisy one.
        for i in range(3):
            response = await unary(channel, PUBLISH, text_publish(f"b{i}"), agent("quiet"))
            assert response.success
        # Health checks are never limited, even for an agent over its limit.
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(10):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""), metadata=agent("noisy"))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_callers_without_an_agent_id_share_the_anonymous_budget() -> None:
    async with (
        running_server(call_rate_limit=2, rate_window=60) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        await unary(channel, STATUS, v1.StatusRequest())
        await unary(channel, STATUS, v1.StatusRequest(), agent("anonymous"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await unary(channel, STATUS, v1.StatusRequest())
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_overrides_and_burst() -> None:
    async with (
        running_server(rate_limit=2, rate_window=60, rate_overrides={"ci-bot": 100}, rate_burst=5) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        for i in range(5):  # the burst lets any agent show 5 new toasts at once...
            await unary(channel, PUBLISH, text_publish(f"dev {i}"), agent("dev"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await unary(channel, PUBLISH, text_publish("one too many"), agent("dev"))
        # ...and the sustained rate stays 2 per 60 s: the next toast is 30 s away.
        assert 20_000 < int(trailing(refused.value, "toasty-retry-after-ms")) <= 30_000
        assert "attention budget" in (refused.value.details() or "")
        for i in range(5):
            await unary(channel, PUBLISH, text_publish(f"bot {i}"), agent("ci-bot"))
        with pytest.raises(grpc.aio.AioRpcError) as bot_refused:
            await unary(channel, PUBLISH, text_publish("bot again"), agent("ci-bot"))
        assert int(trailing(bot_refused.value, "toasty-retry-after-ms")) <= 600  # 100 per 60 s


async def test_a_stream_counts_once_however_much_it_delivers() -> None:
    async with (
        running_server(call_rate_limit=25, rate_window=60) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        call = stream(channel, v1.SubscriptionRequest(client_id="reader"), agent("reader"))
        for _ in range(50):
            if server.broker.subscriptions:
                break
            await asyncio.sleep(0.02)
        for i in range(20):  # 20 of the publisher's 25 calls
            await unary(channel, PUBLISH, text_publish(f"n{i}"), agent("publisher"))
        got = []
        async for delivery in call:
            got.append(delivery)
            if len(got) == 20:
                break
        call.cancel()
        # Twenty messages on the stream cost the reader one call: 24 more are still allowed.
        for _ in range(24):
            await unary(channel, STATUS, v1.StatusRequest(), agent("reader"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await unary(channel, STATUS, v1.StatusRequest(), agent("reader"))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_refused_subscribe_is_refused_as_a_stream() -> None:
    async with (
        running_server(call_rate_limit=1, rate_window=60) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        await unary(channel, STATUS, v1.StatusRequest(), agent("x"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in stream(channel, v1.SubscriptionRequest(), agent("x")):
                pass
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert trailing(refused.value, "toasty-reason") == "RATE_LIMITED"


async def test_the_client_raises_rate_limited_with_the_hint_and_honours_it_when_retrying() -> None:
    async with running_server(rate_limit=2, rate_window=1) as server:
        no_retry = RetryPolicy(publish_attempts=1)
        async with ResilientNotificationClient(server.address, agent_id="eager", retry=no_retry) as eager:
            await eager.publish(TextNotification(title="1"))
            await eager.publish(TextNotification(title="2"))
            with pytest.raises(RateLimited) as refused:
                await eager.publish(TextNotification(title="3"))
            assert refused.value.reason == "RATE_LIMITED"
            assert refused.value.retry_after is not None
            assert 0 < refused.value.retry_after <= 0.5
        patient_policy = RetryPolicy(initial_backoff=0.001, max_backoff=0.002, jitter=0, publish_attempts=3)
        async with ResilientNotificationClient(server.address, agent_id="patient", retry=patient_policy) as patient:
            await patient.publish(TextNotification(title="1"))
            await patient.publish(TextNotification(title="2"))
            started = time.monotonic()
            response = await patient.publish(TextNotification(title="3"))  # refused once, retried after the hint
            assert response.success
            assert time.monotonic() - started >= 0.3


async def test_limiters_are_bounded_least_recently_seen_first() -> None:
    limiters = AgentLimiters(RatePolicy(limit=1, window=60, max_agents=2))
    assert await limiters.try_acquire("a") is None
    assert await limiters.try_acquire("b") is None
    assert await limiters.try_acquire("a") is not None  # a is over its limit and now the most recent
    assert await limiters.try_acquire("c") is None  # b, the least recently seen, is dropped
    assert len(limiters) == 2
    assert await limiters.try_acquire("a") is not None  # a's state was kept
    assert await limiters.try_acquire("b") is None  # b starts afresh


async def test_a_token_agent_spends_its_own_call_budget_even_without_an_agent_id(tmp_path: Path) -> None:
    """The budget is the proved principal's: a token agent that sends no x-agent-id is still that agent,
    so it neither spends nor is refused by the budget anonymous callers share."""
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('alice = "alice-token-0123456789"\n')
    alice = (("authorization", "Bearer alice-token-0123456789"),)
    async with (
        running_server(call_rate_limit=2, rate_window=60, token_file=tokens) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        await unary(channel, STATUS, v1.StatusRequest(), alice)
        await unary(channel, STATUS, v1.StatusRequest(), alice)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await unary(channel, STATUS, v1.StatusRequest(), alice)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "'alice'" in (refused.value.details() or "")
        # the person (another principal) still has its whole budget
        await unary(channel, STATUS, v1.StatusRequest(), as_person())
