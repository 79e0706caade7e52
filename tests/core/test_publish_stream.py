"""PublishStream: many publishes on one call, each a full publish answered on its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
import pytest

from tests.core.helpers import take, titles
from tests.hardening.helpers import scrape, stream, text_publish, trailing
from toasty_proto import v1
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server

PUBLISH_STREAM = v1.NOTIFICATION_SERVICE_PUBLISH_STREAM


def item(request_id: int, title: str, target: str = "", **notification: Any) -> v1.PublishStreamRequest:
    publish = text_publish(title)
    publish.target_client_id = target
    assert publish.notification is not None
    for key, value in notification.items():
        setattr(publish.notification, key, value)
    return v1.PublishStreamRequest(request_id=request_id, publish=publish)


def open_call(channel: grpc.aio.Channel, agent: str = "streamer", raw: bool = False) -> Any:
    """A PublishStream call; `raw` sends bytes as given (to send what no client library would)."""
    rpc = channel.stream_stream(
        PUBLISH_STREAM.path,
        request_serializer=(lambda b: b) if raw else PUBLISH_STREAM.serialize,
        response_deserializer=PUBLISH_STREAM.deserialize_response,
    )
    return rpc(metadata=(("x-agent-id", agent),))


async def exchange(
    channel: grpc.aio.Channel, requests: Iterable[v1.PublishStreamRequest], agent: str = "streamer"
) -> dict[int, v1.PublishStreamResponse]:
    call = open_call(channel, agent)
    sent = list(requests)
    for request in sent:
        await call.write(request)
    await call.done_writing()
    answers = {}
    async for answer in call:
        answers[answer.request_id] = answer
    assert await call.code() == grpc.StatusCode.OK
    return answers


async def subscribed(server: ToastyServer, channel: grpc.aio.Channel, client_id: str) -> AsyncIterator[v1.Delivery]:
    deliveries = stream(channel, v1.SubscriptionRequest(client_id=client_id), (("x-agent-id", client_id),))
    for _ in range(200):
        if any(s.client_id == client_id for s in server.broker.subscriptions):
            return deliveries  # type: ignore[no-any-return]
        await asyncio.sleep(0.01)
    raise AssertionError("subscriber did not register")


async def test_every_request_is_stored_in_order_and_answered_with_its_id(server: ToastyServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        deliveries = await subscribed(server, channel, "reader")
        requests = [item(100 + i, f"n{i}", target="reader" if i % 2 else "") for i in range(50)]
        requests[7].publish.notification.id = "chosen-id-7"  # type: ignore[union-attr]
        answers = await exchange(channel, requests)

        assert sorted(answers) == [100 + i for i in range(50)]
        published = [answers[100 + i].published for i in range(50)]
        assert all(p is not None and p.success and not p.duplicate for p in published)
        sequences = [p.sequence for p in published if p is not None]
        assert sequences == sorted(sequences), "stored in the order sent"
        assert len(set(sequences)) == 50
        assert published[7] is not None
        assert published[7].notification_id == "chosen-id-7"

        received = await take(deliveries, 50)
        assert titles(received) == [f"n{i}" for i in range(50)]
        for delivery, answer in zip(received, published, strict=True):
            assert answer is not None
            assert delivery.sequence == answer.sequence
            assert delivery.publisher_agent_id == "streamer"
            # the server-assigned id is in the delivered bytes too (they are the request's, re-used)
            assert delivery.notification is not None
            assert delivery.notification.id == answer.notification_id
        assert received[1].target_client_id == "reader"
        assert received[0].target_client_id == ""


async def test_a_refused_request_gets_its_error_and_the_call_goes_on(server: ToastyServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        deliveries = await subscribed(server, channel, "reader")
        bad = item(2, "x" * 300)  # the title limit is 256
        no_notification = v1.PublishStreamRequest(request_id=3, publish=v1.PublishRequest(target_client_id="reader"))
        answers = await exchange(channel, [item(1, "first"), bad, no_notification, item(4, "last")])

        for request_id in (2, 3):
            error = answers[request_id].error
            assert error is not None
            assert answers[request_id].published is None
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
            assert error.reason == "INVALID_ARGUMENT"
        assert answers[2].error is not None
        assert "title" in answers[2].error.message
        assert "256" in answers[2].error.message
        assert answers[3].error is not None
        assert "notification" in answers[3].error.message
        assert titles(await take(deliveries, 2)) == ["first", "last"], "refused requests store nothing"


async def test_each_request_spends_the_agents_rate_budget() -> None:
    async with (
        running_server(rate_limit=3, rate_window=60) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        answers = await exchange(channel, [item(i, f"t{i}") for i in range(5)], agent="noisy")
        assert [answers[i].published is not None for i in range(5)] == [True, True, True, False, False]
        refused = answers[3].error
        assert refused is not None
        assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert refused.reason == "RATE_LIMITED"
        assert 0 < refused.retry_after_ms <= 20_000
        assert "TOASTY_RATE_OVERRIDES" in refused.message
        # another agent's budget is its own, and opening a stream spends nothing
        other = await exchange(channel, [item(i, f"q{i}") for i in range(3)], agent="quiet")
        assert all(a.published is not None for a in other.values())


async def test_an_undecodable_request_ends_the_call_after_answering_the_ones_before(server: ToastyServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = open_call(channel, raw=True)
        await call.write(bytes(item(1, "fine")))
        await call.write(b"\x0a\xff\xff\xff")  # a length far beyond the bytes that follow
        first = await asyncio.wait_for(call.read(), 5)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await call.read()
        answers = [first]
        assert [a.request_id for a in answers] == [1]
        assert answers[0].published is not None
        assert ended.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "PublishStreamRequest" in (ended.value.details() or "")
        assert server.broker.last_sequence == answers[0].published.sequence


async def test_no_more_than_the_in_flight_limit_is_read_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_server(stream_max_in_flight=3) as server, grpc.aio.insecure_channel(server.address) as channel:
        release = asyncio.Event()
        started: list[str] = []
        real_publish = server.api.publish

        async def held_publish(caller: str, request: v1.PublishRequest, wire: Any = None) -> v1.PublishResponse:
            started.append(caller)
            await release.wait()
            return await real_publish(caller, request, wire)

        monkeypatch.setattr(server.api, "publish", held_publish)
        call = open_call(channel)
        for i in range(10):
            await call.write(item(i, f"h{i}"))
        await asyncio.sleep(0.5)
        assert len(started) == 3, "the handler stops reading at stream_max_in_flight unanswered requests"
        release.set()
        await call.done_writing()
        answers = [answer async for answer in call]
        assert sorted(a.request_id for a in answers) == list(range(10))
        assert all(a.published is not None for a in answers)


async def test_shutdown_answers_what_was_read_then_ends_the_call_as_unavailable() -> None:
    async with running_server(store="memory") as server, grpc.aio.insecure_channel(server.address) as channel:
        call = open_call(channel)
        await call.write(item(1, "before"))
        first = await asyncio.wait_for(call.read(), 5)
        assert first.published is not None
        stopping = asyncio.create_task(server.stop(grace=2))
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await call.read()
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert trailing(ended.value, "toasty-reason") == "SHUTTING_DOWN"
        await stopping


async def test_a_new_call_while_draining_is_refused(server: ToastyServer) -> None:
    server.gate.close()
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = open_call(channel)
        await call.write(item(1, "late"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call.read()
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert trailing(refused.value, "toasty-reason") == "SHUTTING_DOWN"


async def test_publishes_are_counted_per_request_in_metrics() -> None:
    async with running_server() as server, grpc.aio.insecure_channel(server.address) as channel:
        await exchange(channel, [item(i, f"m{i}") for i in range(4)] + [item(9, "x" * 300)])
        assert server.metrics_port is not None
        metrics = scrape(server.metrics_port)
        assert metrics['toasty_publishes_total{method="PublishStream"}'] == 4
        calls = 'toasty_rpc_calls_total{code="OK",method="/toasty.v1.NotificationService/PublishStream"}'
        assert metrics[calls] == 1
