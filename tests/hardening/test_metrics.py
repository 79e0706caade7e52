"""The /metrics endpoint, scraped over HTTP, moves with what the server does."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from tests.hardening.helpers import ascrape, stream, text_publish, unary
from toasty_client import ResilientNotificationClient, TextNotification
from toasty_proto import v1
from toasty_server.render.console import ConsoleBackend
from toasty_server.testing import running_server

SERVICE = "/toasty.v1.NotificationService"
PUBLISH_OK = f'toasty_rpc_calls_total{{code="OK",method="{SERVICE}/Publish"}}'


async def test_counters_move_with_publishes_deliveries_toasts_and_refusals() -> None:
    import io

    backends = [ConsoleBackend(io.StringIO())]
    async with running_server(backends=backends, rate_limit=100, rate_overrides={"limited": 1}) as server:
        assert server.metrics_port
        before = await ascrape(server.metrics_port)
        assert before.get(PUBLISH_OK, 0) == 0
        assert before["toasty_subscribers"] == 0
        assert before['toasty_limit{setting="mailbox_depth"}'] == 100

        async with grpc.aio.insecure_channel(server.address) as channel:
            call = stream(channel, v1.SubscriptionRequest(client_id="reader"), (("x-agent-id", "reader"),))
            for _ in range(100):
                if server.broker.subscriptions:
                    break
                await asyncio.sleep(0.01)
            for i in range(3):
                await unary(channel, v1.NOTIFICATION_SERVICE_PUBLISH, text_publish(f"m{i}"), (("x-agent-id", "p"),))
            received = [await call.read() for _ in range(3)]
            assert len(received) == 3
            await server.renderer.drain()
            limited = (("x-agent-id", "limited"),)  # an attention budget of one new toast
            await unary(channel, v1.NOTIFICATION_SERVICE_PUBLISH, text_publish("first"), limited)
            with pytest.raises(grpc.aio.AioRpcError):
                await unary(channel, v1.NOTIFICATION_SERVICE_PUBLISH, text_publish("second"), limited)
            with pytest.raises(grpc.aio.AioRpcError):
                await unary(channel, v1.NOTIFICATION_SERVICE_PUBLISH, v1.PublishRequest(), (("x-agent-id", "p"),))

            during = await ascrape(server.metrics_port)
            assert during["toasty_subscribers"] == 1
            assert during['toasty_mailbox_queued{client_id="reader"}'] == 0
            assert during["toasty_deliveries_total"] == 4  # the reader also got limited's first toast
            call.cancel()
        cancelled = f'toasty_rpc_calls_total{{code="CANCELLED",method="{SERVICE}/Subscribe"}}'
        for _ in range(100):  # the server sees the cancellation a moment later
            if (await ascrape(server.metrics_port)).get(cancelled) == 1:
                break
            await asyncio.sleep(0.02)

        after = await ascrape(server.metrics_port)
        assert after[PUBLISH_OK] == 4  # p's three, limited's first
        assert after['toasty_publishes_total{method="Publish"}'] == 4
        assert after[f'toasty_rpc_duration_seconds_count{{method="{SERVICE}/Publish"}}'] == 6
        assert after[f'toasty_rpc_calls_total{{code="INVALID_ARGUMENT",method="{SERVICE}/Publish"}}'] == 1
        assert after[f'toasty_rpc_calls_total{{code="RESOURCE_EXHAUSTED",method="{SERVICE}/Publish"}}'] == 1
        assert after["toasty_rate_limit_refusals_total"] == 1
        assert after["toasty_deliveries_total"] == 4
        assert after['toasty_toasts_shown_total{backend="console"}'] == 4
        assert after["toasty_last_sequence"] == 4
        assert after["toasty_mailbox_overflows_total"] == 0
        assert after["toasty_pending_interactions"] == 0
        assert after[cancelled] == 1


async def test_legacy_send_notification_counts_as_a_publish() -> None:
    async with running_server() as server:
        assert server.metrics_port
        async with ResilientNotificationClient(server.address, agent_id="old") as client:
            await client.send_notification("t", "m")
            await client.publish(TextNotification(title="new"))
        scraped = await ascrape(server.metrics_port)
        assert scraped['toasty_publishes_total{method="SendNotification"}'] == 1
        assert scraped['toasty_publishes_total{method="PublishStream"}'] == 1  # the client's publish()


async def test_each_server_has_its_own_registry_and_port() -> None:
    async with running_server() as first, running_server() as second:
        assert first.metrics_port
        assert second.metrics_port
        assert first.metrics_port != second.metrics_port
        async with ResilientNotificationClient(first.address, agent_id="a") as client:
            await client.publish(TextNotification(title="only on the first"))
        assert (await ascrape(first.metrics_port))['toasty_publishes_total{method="PublishStream"}'] == 1
        assert (await ascrape(second.metrics_port)).get('toasty_publishes_total{method="PublishStream"}', 0) == 0


async def test_metrics_can_be_turned_off_and_a_busy_port_is_not_fatal() -> None:
    async with running_server(metrics_enabled=False) as server:
        assert server.metrics_port is None
    async with running_server() as first:
        assert first.metrics_port
        async with running_server(metrics_port=first.metrics_port) as second:
            assert second.metrics_port is None  # logged, and notifications still work
            async with ResilientNotificationClient(second.address, agent_id="a") as client:
                assert (await client.publish(TextNotification(title="still works"))).success
