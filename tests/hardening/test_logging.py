"""Log lines of a call carry its trace id (from the client's `traceparent`), agent id and notification id."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.hardening.helpers import ToastyProcess, stream, unary
from toasty_proto import v1
from toasty_server.logs import TextFormatter
from toasty_server.observability.context import begin_call, trace_id_from
from toasty_server.observability.log_context import CallContextFilter

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def json_server(tmp_path: Path) -> Iterator[ToastyProcess]:
    proc = ToastyProcess(tmp_path, "--log-format", "json", "--log-level", "DEBUG")
    proc.start()
    yield proc
    proc.kill()


async def test_json_lines_carry_the_clients_trace_id_agent_and_notification(json_server: ToastyProcess) -> None:
    notification = v1.Notification(id="n-trace-1", text_message=v1.TextMessage(header=v1.Header(title="traced")))
    async with grpc.aio.insecure_channel(json_server.address) as channel:
        metadata = (("x-agent-id", "tracer"), ("traceparent", TRACEPARENT))
        await unary(channel, v1.NOTIFICATION_SERVICE_PUBLISH, v1.PublishRequest(notification=notification), metadata)
        subscription = stream(
            channel,
            v1.SubscriptionRequest(client_id="watcher"),
            (("x-agent-id", "watcher"), ("traceparent", f"00-{'ab' * 16}-00f067aa0ba902b7-01")),
        )
        await asyncio.to_thread(json_server.wait_for_log, "subscriber watcher connected")
        subscription.cancel()
        await unary(channel, v1.NOTIFICATION_SERVICE_GET_STATUS, v1.StatusRequest())  # no traceparent

    lines = json_server.json_lines()
    traced = [line for line in lines if line.get("trace_id") == TRACE_ID]
    assert traced, json_server.log()
    assert all(line["agent_id"] == "tracer" for line in traced)
    # The service's own line (not only the interceptors') carries the context: handlers inherit it.
    published = [line for line in traced if line["message"].startswith("published n-trace-1")]
    assert published
    assert published[0]["notification_id"] == "n-trace-1"
    assert not published[0]["logger"].startswith("toasty_server.interceptors")
    connected = next(line for line in lines if "subscriber watcher connected" in line["message"])
    assert connected["trace_id"] == "ab" * 16
    assert connected["agent_id"] == "watcher"
    status_lines = [line for line in lines if "GetStatus" in line["message"]]
    assert status_lines
    assert len(status_lines[-1]["trace_id"]) == 32
    assert status_lines[-1]["agent_id"] == "anonymous"
    assert status_lines[-1]["trace_id"] not in (TRACE_ID, "ab" * 16)
    startup = next(line for line in lines if "toasty listening" in line["message"])
    assert "trace_id" not in startup  # outside of a call: no context


def test_traceparent_parsing() -> None:
    assert trace_id_from(TRACEPARENT) == TRACE_ID
    assert trace_id_from(TRACEPARENT.upper()) == TRACE_ID
    for bad in ("", "garbage", f"00-{'0' * 32}-00f067aa0ba902b7-01", f"ff-{TRACE_ID}-00f067aa0ba902b7-01"):
        generated = trace_id_from(bad)
        assert len(generated) == 32
        assert generated != TRACE_ID


def test_text_lines_carry_the_context_too() -> None:
    formatter = TextFormatter()
    record_filter = CallContextFilter()

    def log_in_call() -> str:
        info = begin_call("/toasty.v1.NotificationService/Publish", TRACEPARENT)
        info.agent_id = "tracer"
        record = logging.makeLogRecord({"name": "toasty_server.x", "msg": "hello", "levelname": "INFO"})
        record_filter.filter(record)
        return formatter.format(record)

    line = contextvars.copy_context().run(log_in_call)
    assert line.endswith(f"hello [trace_id={TRACE_ID} agent_id=tracer]")
    outside = logging.makeLogRecord({"name": "toasty_server.x", "msg": "hello", "levelname": "INFO"})
    record_filter.filter(outside)
    assert formatter.format(outside).endswith("hello")
