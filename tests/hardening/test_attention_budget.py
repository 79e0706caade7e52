"""The attention budget (issue 16): only new toasts spend an agent's budget; a progress bar updated often,
skip_toast deliveries and withdrawals never run it dry, and a refused toast says when to retry."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import grpc
import pytest

from tests.core.process import ServerProcess
from tests.hardening.helpers import text_publish, trailing, unary
from toasty_client import ProgressNotification, ResilientNotificationClient, RetryPolicy, TextNotification
from toasty_client.errors import RateLimited
from toasty_proto import v1
from toasty_server.testing import running_server

NO_RETRY = RetryPolicy(publish_attempts=1)


async def test_updates_of_a_shown_progress_bar_are_not_new_toasts() -> None:
    async with (
        running_server(rate_limit=2, rate_window=60) as server,
        ResilientNotificationClient(server.address, agent_id="builder", token="", retry=NO_RETRY) as builder,
    ):
        for step in range(101):  # one new toast, then a hundred updates of it
            await builder.publish(ProgressNotification(title="Build", key="build-7", value=step / 100))
        await builder.publish(ProgressNotification(title="Build", key="build-7", value=1.0, state="succeeded"))
        for i in range(20):  # deliveries only: nobody is interrupted
            await builder.publish(TextNotification(title=f"log {i}"), skip_toast=True)
        await builder.publish(TextNotification(title="Build 7 passed"))  # the second new toast
        with pytest.raises(RateLimited, match="attention budget") as refused:
            await builder.publish(TextNotification(title="and a third"))
        assert refused.value.retry_after is not None
        assert 0 < refused.value.retry_after <= 30
        # a finished bar is gone: the same key again is a new toast
        with pytest.raises(RateLimited):
            await builder.publish(ProgressNotification(title="Build", key="build-7", value=0.1))
    assert server.metrics.rate_limit_refusals._value.get() == 2


async def test_the_budget_is_per_agent_and_the_client_waits_for_room_by_itself() -> None:
    async with (
        running_server(rate_limit=1, rate_window=1) as server,
        ResilientNotificationClient(server.address, agent_id="chatty", token="") as chatty,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        started = time.monotonic()
        for i in range(3):  # one new toast a second: the client waits out each refusal's hint
            assert (await chatty.publish(TextNotification(title=f"n{i}"))).success
        assert time.monotonic() - started >= 1.5
        # another agent has a budget of its own
        await unary(channel, v1.NOTIFICATION_SERVICE_PUBLISH, text_publish("quiet"), (("x-agent-id", "quiet"),))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await unary(channel, v1.NOTIFICATION_SERVICE_PUBLISH, text_publish("again"), (("x-agent-id", "quiet"),))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert int(trailing(refused.value, "toasty-retry-after-ms")) <= 1000


def test_toasty_progress_fed_a_line_at_a_time_never_stalls_on_the_defaults(tmp_path: object) -> None:
    """The issue's case: `toasty progress` fed one line a second stalled after ten lines with the old
    limit of 10 calls a minute. Here 60 lines (a minute's worth) on the shipped limits all go through."""
    from pathlib import Path

    server = ServerProcess(Path(str(tmp_path)) / "toasty.db")
    server.env.pop("TOASTY_RATE_LIMIT")  # the shipped attention and call budgets
    server.env.pop("TOASTY_CALL_RATE_LIMIT")
    server.start()
    try:
        lines = "".join(f"{p}% step {p}\n" for p in range(1, 61))
        fed = subprocess.run(
            [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())",
             "--address", server.address, "--agent-id", "ci", "progress", "--title", "Long build", "--key", "b1"],
            input=lines, capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if k != "TOASTY_TOKEN"},
        )  # fmt: skip
        assert fed.returncode == 0, fed.stderr
        assert "RATE_LIMITED" not in server.log()
    finally:
        server.kill()
