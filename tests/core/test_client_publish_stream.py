"""The client publishes over one multiplexed PublishStream call, with the unary call's errors and retries."""

from __future__ import annotations

import asyncio
import collections
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from tests.conftest import FAST_RETRY, ClientFactory
from tests.core.helpers import nothing_more, take, titles
from tests.core.process import ServerProcess, free_port
from tests.hardening.helpers import ascrape
from toasty_client import (
    InvalidNotification,
    RateLimited,
    ResilientNotificationClient,
    RetryPolicy,
    ServerUnavailable,
    TextNotification,
)
from toasty_proto import v1
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server

SERVICE = "/toasty.v1.NotificationService"
STREAM_CALLS_OK = f'toasty_rpc_calls_total{{code="OK",method="{SERVICE}/PublishStream"}}'
STREAM_PUBLISHES = 'toasty_publishes_total{method="PublishStream"}'
UNARY_PUBLISHES = 'toasty_publishes_total{method="Publish"}'


def stream_calls(metrics: dict[str, float]) -> float:
    """PublishStream calls the server has finished, whatever their status."""
    prefix = "toasty_rpc_calls_total{"
    return sum(v for k, v in metrics.items() if k.startswith(prefix) and f'method="{SERVICE}/PublishStream"' in k)


async def metrics_when(port: int, done: Callable[[dict[str, float]], bool], timeout: float = 5.0) -> dict[str, float]:
    """Scrape until `done` holds (a call is counted once the server has finished it, a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        metrics = await ascrape(port)
        if done(metrics) or time.monotonic() > deadline:
            return metrics
        await asyncio.sleep(0.02)


def bad_title() -> v1.Notification:
    """A notification only the server refuses (the builders would refuse it before sending)."""
    return v1.Notification(text_message=v1.TextMessage(header=v1.Header(title="x" * 300)))


# ~8 MB of publishes: more than HTTP/2 flow control lets through to a server that stopped reading
FLOW_CONTROL_BURST = 2000

PublishFn = Callable[[str, v1.PublishRequest, Any], Awaitable[v1.PublishResponse]]


class Held:
    """The server's publishes wait while `gate` is clear; `started` lists the ids they were called with."""

    def __init__(self, server: ToastyServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.started: list[str] = []
        self._arrived = asyncio.Event()
        self._publish: PublishFn = server.api.publish
        monkeypatch.setattr(server.api, "publish", self.publish)

    async def publish(self, caller: str, request: v1.PublishRequest, wire: Any = None) -> v1.PublishResponse:
        self.started.append(request.notification.id if request.notification is not None else "")
        self._arrived.set()
        await self.gate.wait()
        return await self._publish(caller, request, wire)

    async def until_started(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.started) < count:
                self._arrived.clear()
                await self._arrived.wait()


async def test_concurrent_publishes_share_one_stream_and_arrive_in_order(
    server: ToastyServer, connect: ClientFactory
) -> None:
    pub = connect("pub")
    responses = await asyncio.gather(
        *(pub.publish(TextNotification(title=f"n{i}"), target="reader") for i in range(500))
    )
    assert all(r.success and not r.duplicate for r in responses)
    sequences = [r.sequence for r in responses]
    assert sequences == sorted(sequences), "stored in the order publish() was called"
    assert len(set(sequences)) == 500

    reader = connect("reader")
    got = await take(reader.subscribe(from_beginning=True), 500, timeout=15)
    assert titles(got) == [f"n{i}" for i in range(500)]
    assert [d.sequence for d in got] == sequences
    assert [d.notification.id for d in got if d.notification] == [r.notification_id for r in responses]

    await pub.close()  # ends the stream cleanly: the server sees the call end OK
    assert server.metrics_port is not None
    metrics = await metrics_when(server.metrics_port, lambda m: STREAM_CALLS_OK in m)
    assert metrics[STREAM_CALLS_OK] == 1, "one PublishStream call for all 500"
    assert stream_calls(metrics) == 1
    assert metrics[STREAM_PUBLISHES] == 500
    assert metrics.get(UNARY_PUBLISHES, 0) == 0


async def test_an_invalid_notification_raises_as_unary_would_while_the_others_succeed(
    server: ToastyServer, connect: ClientFactory
) -> None:
    pub = connect("pub")
    goods = [pub.publish(TextNotification(title=f"good-{i}")) for i in range(20)]
    results = await asyncio.gather(*goods[:10], pub.publish(bad_title()), *goods[10:], return_exceptions=True)
    refused = results.pop(10)
    assert all(isinstance(r, v1.PublishResponse) and r.success for r in results), results
    assert isinstance(refused, InvalidNotification)
    assert "title" in str(refused)
    assert "256" in str(refused)
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.reason == "INVALID_ARGUMENT"

    unary = connect("pub", publish_stream=False)
    with pytest.raises(InvalidNotification) as same:
        await unary.publish(bad_title())
    assert (str(same.value), same.value.code, same.value.reason) == (str(refused), refused.code, refused.reason)

    assert (await pub.publish(TextNotification(title="after"))).success  # the call went on
    await pub.close()
    assert server.metrics_port is not None
    metrics = await metrics_when(server.metrics_port, lambda m: STREAM_CALLS_OK in m)
    assert metrics[STREAM_CALLS_OK] == 1
    assert metrics[STREAM_PUBLISHES] == 21


async def test_rate_limited_publishes_honour_the_hint_then_raise_rate_limited() -> None:
    async with running_server(rate_limit=1, rate_window=1) as server:
        no_retry = RetryPolicy(publish_attempts=1)
        async with ResilientNotificationClient(server.address, agent_id="eager", retry=no_retry) as eager:
            await eager.publish(TextNotification(title="1"))
            with pytest.raises(RateLimited) as refused:
                await eager.publish(TextNotification(title="2"))
            assert refused.value.reason == "RATE_LIMITED"
            assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert refused.value.retry_after is not None
            assert 0 < refused.value.retry_after <= 1.0
            assert "TOASTY_RATE_OVERRIDES" in str(refused.value)

        # Two attempts each, backoff far below the hint: both refused, both retry after the hint, when
        # the bucket has room for one; the other is refused again and out of attempts.
        patient_policy = RetryPolicy(initial_backoff=0.001, max_backoff=0.002, jitter=0, publish_attempts=2)
        async with ResilientNotificationClient(server.address, agent_id="patient", retry=patient_policy) as patient:
            await patient.publish(TextNotification(title="1"))
            started = time.monotonic()
            results = await asyncio.gather(
                patient.publish(TextNotification(title="2")),
                patient.publish(TextNotification(title="3")),
                return_exceptions=True,
            )
            elapsed = time.monotonic() - started
        assert sorted(type(r).__name__ for r in results) == ["PublishResponse", "RateLimited"], results
        assert elapsed >= 0.5, "the retries waited for the server's hint, not the 1 ms backoff"
        assert server.metrics_port is not None
        metrics = await metrics_when(server.metrics_port, lambda m: stream_calls(m) == 2)
        assert metrics["toasty_rate_limit_refusals_total"] == 4  # eager's one, patient's three
        assert metrics[STREAM_PUBLISHES] == 3
        assert stream_calls(metrics) == 2  # one call per client
        assert metrics.get(UNARY_PUBLISHES, 0) == 0


@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
async def test_publishes_pending_when_the_server_dies_are_retried_on_a_new_call(proc: ServerProcess, stop: str) -> None:
    count = 600
    patient = RetryPolicy(initial_backoff=0.05, max_backoff=0.5, jitter=0.1, publish_attempts=80)
    answered = 0
    pending_at_stop: int | None = None
    stopped = asyncio.Event()

    async with ResilientNotificationClient(proc.address, agent_id="pub", retry=patient) as pub:

        async def publish(i: int) -> v1.PublishResponse:
            nonlocal answered, pending_at_stop
            response = await pub.publish(TextNotification(title=f"p{i}"), skip_toast=True)
            answered += 1
            if answered == 100:
                pending_at_stop = count - answered
                if stop == "kill -9":
                    proc.kill()
                else:
                    proc.signal(signal.SIGTERM)
                stopped.set()
            return response

        async def restart() -> None:
            await stopped.wait()
            await asyncio.to_thread(proc.wait, 20)
            proc.env["TOASTY_METRICS_PORT"] = str(free_port())
            await asyncio.to_thread(proc.start)

        responses, _ = await asyncio.gather(asyncio.gather(*(publish(i) for i in range(count))), restart())

    assert pending_at_stop, "some publishes were unanswered when the server went away"
    assert all(r.success for r in responses)
    assert len({r.notification_id for r in responses}) == count

    metrics = await ascrape(int(proc.env["TOASTY_METRICS_PORT"]))
    assert metrics[STREAM_PUBLISHES] > 0, "the retries went to the restarted server on a new PublishStream call"
    assert metrics.get(UNARY_PUBLISHES, 0) == 0

    async with ResilientNotificationClient(proc.address, agent_id="reader", retry=FAST_RETRY) as reader:
        stream = reader.subscribe(from_beginning=True)  # a retried publish stored twice is seen once
        got = await take(stream, count, timeout=30)
        assert sorted(titles(got)) == sorted(f"p{i}" for i in range(count)), "nothing acknowledged was lost"
        assert {d.notification.id for d in got if d.notification} == {r.notification_id for r in responses}
        await nothing_more(stream)


class UnaryOnlyServer:
    """A server from before PublishStream: it implements Publish alone (anything else is UNIMPLEMENTED)."""

    def __init__(self) -> None:
        self.methods: collections.Counter[str] = collections.Counter()
        self.published: list[str] = []
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers((self._Handler(self),))
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"

    class _Handler(grpc.GenericRpcHandler):
        def __init__(self, outer: UnaryOnlyServer) -> None:
            self.outer = outer

        def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
            method: str = handler_call_details.method  # type: ignore[attr-defined]
            self.outer.methods[method] += 1
            if method != v1.NOTIFICATION_SERVICE_PUBLISH.path:
                return None
            return grpc.unary_unary_rpc_method_handler(
                self.outer.publish,
                request_deserializer=v1.NOTIFICATION_SERVICE_PUBLISH.deserialize_request,
                response_serializer=bytes,
            )

    async def publish(self, request: v1.PublishRequest, context: Any) -> v1.PublishResponse:
        assert request.notification is not None
        self.published.append(request.notification.id)
        return v1.PublishResponse(notification_id=request.notification.id, success=True, sequence=len(self.published))


@pytest.fixture
async def unary_only() -> AsyncIterator[UnaryOnlyServer]:
    old = UnaryOnlyServer()
    await old.server.start()
    yield old
    await old.server.stop(None)


async def test_a_server_without_publish_stream_gets_unary_publishes_for_good(
    unary_only: UnaryOnlyServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="toasty_client")
    async with ResilientNotificationClient(unary_only.address, agent_id="old", retry=FAST_RETRY) as client:
        first = await asyncio.gather(*(client.publish(TextNotification(title=f"t{i}")) for i in range(50)))
        later = [await client.publish(TextNotification(title=f"u{i}")) for i in range(5)]
    assert all(r.success for r in [*first, *later])
    assert sorted(unary_only.published) == sorted(r.notification_id for r in [*first, *later])
    assert unary_only.methods[v1.NOTIFICATION_SERVICE_PUBLISH_STREAM.path] == 1, "tried once, then never again"
    assert unary_only.methods[v1.NOTIFICATION_SERVICE_PUBLISH.path] == 55
    fallbacks = [r for r in caplog.records if "no PublishStream" in r.getMessage()]
    assert [r.levelno for r in fallbacks] == [logging.INFO]


async def test_publish_stream_false_publishes_unary(server: ToastyServer, connect: ClientFactory) -> None:
    client = connect("plain", publish_stream=False)
    assert (await client.publish(TextNotification(title="unary"))).success
    assert server.metrics_port is not None
    metrics = await ascrape(server.metrics_port)
    assert metrics[UNARY_PUBLISHES] == 1
    assert metrics.get(STREAM_PUBLISHES, 0) == 0


async def test_cancelling_some_publishes_leaves_the_stream_to_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_server(stream_max_in_flight=2) as server:
        held = Held(server, monkeypatch)
        async with ResilientNotificationClient(server.address, agent_id="pub", retry=FAST_RETRY) as pub:
            assert (await pub.publish(TextNotification(title="warm-up"))).success
            held.gate.clear()  # the server now holds what it reads: after two, it stops reading the call
            body = "y" * 2000
            tasks = [
                asyncio.ensure_future(
                    pub.publish(TextNotification(title=f"c{i}", line1=body, line2=body), skip_toast=True)
                )
                for i in range(FLOW_CONTROL_BURST)
            ]
            await held.until_started(3)
            await asyncio.sleep(0.5)  # time to fill the flow-control window
            assert len(held.started) == 3, "the server holds two requests (plus the warm-up) and reads no more"
            cancelled = tasks[1::3]  # one held by the server, some in flow-control buffers, some unwritten
            for task in cancelled:
                task.cancel()
            await asyncio.sleep(0.1)
            held.gate.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(results[i], asyncio.CancelledError) for i in range(1, FLOW_CONTROL_BURST, 3))
            survivors = [r for i, r in enumerate(results) if i % 3 != 1]
            assert all(isinstance(r, v1.PublishResponse) and r.success for r in survivors), survivors[:3]
            assert (await pub.publish(TextNotification(title="after"))).success
            written = len(held.started)
        assert server.metrics_port is not None
        metrics = await metrics_when(server.metrics_port, lambda m: STREAM_CALLS_OK in m)
        assert metrics[STREAM_CALLS_OK] == 1, "the call ended OK when the client closed"
        assert stream_calls(metrics) == 1, "no call was cancelled or replaced"
        assert written < FLOW_CONTROL_BURST + 2, "requests cancelled before they were written were never sent"


async def test_close_answers_the_publishes_in_flight_then_ends_the_call(
    server: ToastyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(server, monkeypatch)
    client = ResilientNotificationClient(server.address, agent_id="pub", retry=FAST_RETRY)
    client.connect()
    assert (await client.publish(TextNotification(title="warm-up"))).success
    held.gate.clear()
    tasks = [asyncio.ensure_future(client.publish(TextNotification(title=f"late-{i}"))) for i in range(10)]
    await held.until_started(11)
    closing = asyncio.ensure_future(client.close())
    await asyncio.sleep(0.3)
    assert not closing.done(), "close() waits for the answers still due"
    held.gate.set()
    await asyncio.wait_for(closing, 5)
    assert all(r.success for r in await asyncio.gather(*tasks))
    assert server.metrics_port is not None
    metrics = await metrics_when(server.metrics_port, lambda m: STREAM_CALLS_OK in m)
    assert metrics[STREAM_CALLS_OK] == 1, "ended OK by the client's half-close"
    assert stream_calls(metrics) == 1
    with pytest.raises(RuntimeError):
        await client.publish(TextNotification(title="closed"))


async def test_an_unanswered_publish_times_out_like_a_unary_call(
    server: ToastyServer, connect: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(server, monkeypatch)
    held.gate.clear()
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.02, jitter=0, publish_attempts=2)
    stream = connect("pub", retry=policy, timeout=0.5)
    unary = connect("pub", retry=policy, timeout=0.5, publish_stream=False)
    try:
        with pytest.raises(ServerUnavailable) as streamed:
            await stream.publish(TextNotification(title="stuck"))
        with pytest.raises(ServerUnavailable) as plain:
            await unary.publish(TextNotification(title="stuck too"))
    finally:
        held.gate.set()
    assert streamed.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert plain.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(held.started) == 4
    assert held.started[0] == held.started[1], "attempted twice, with the same id"
    # a call that answered nothing within the timeout is not used again: the retry went on a new call
    assert server.metrics_port is not None
    metrics = await metrics_when(server.metrics_port, lambda m: stream_calls(m) == 2)
    assert stream_calls(metrics) == 2
    assert (await stream.publish(TextNotification(title="fine again"))).success
