"""Scheduled and expiring toasts (issue 20): stored and delivered at once, shown at their time (also after
a hub restart), cancelled by a withdrawal, taken down at their expiry; a question that expires ends with
its own outcome, EXPIRED. A real hub with the console backend; the person and agents through the client.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import subprocess
import time
from pathlib import Path

import pytest

from tests.attention.helpers import TOASTY
from tests.core.helpers import take, wait_until
from toasty_client import (
    Button,
    InteractiveNotification,
    InvalidNotification,
    Outcome,
    ResilientNotificationClient,
    TextNotification,
)
from toasty_server.render.console import ConsoleBackend
from toasty_server.testing import running_server

pytestmark = pytest.mark.timeout(60)


def soon(seconds: float) -> dt.datetime:
    return dt.datetime.now().astimezone() + dt.timedelta(seconds=seconds)


async def test_a_scheduled_toast_is_delivered_at_once_and_shown_at_its_time() -> None:
    screen = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(screen)]) as hub,
        ResilientNotificationClient(hub.address, agent_id="reminder") as agent,
    ):
        at = soon(1.5)
        await agent.publish(TextNotification(title="Stand-up in 5 minutes", deliver_at=at))
        (delivered,) = await take(agent.subscribe("reader", from_beginning=True), 1)  # subscribers: at once
        assert delivered.notification.deliver_at_unix_ms == int(at.timestamp() * 1000)
        await hub.renderer.drain()
        assert "Stand-up" not in screen.getvalue()
        assert [t.notification_id for t in hub.attention_gate.scheduled()] == [f"reminder~{delivered.notification.id}"]
        await wait_until(lambda: "Stand-up in 5 minutes" in screen.getvalue(), within=6.0)
        assert time.time() >= at.timestamp()
        assert hub.attention_gate.scheduled() == []


async def test_withdrawing_a_scheduled_toast_cancels_it() -> None:
    screen = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(screen)]) as hub,
        ResilientNotificationClient(hub.address, agent_id="reminder") as agent,
    ):
        published = await agent.publish(TextNotification(title="Never mind", deliver_at=soon(1.0)))
        assert await agent.withdraw(published.notification_id)
        await asyncio.sleep(2.2)
        assert "Never mind" not in screen.getvalue()


async def test_a_question_that_expires_ends_expired_not_timed_out() -> None:
    async with (
        running_server(backends=[ConsoleBackend(io.StringIO())]) as hub,
        ResilientNotificationClient(hub.address, agent_id="deployer") as agent,
    ):
        question = InteractiveNotification(
            title="Deploy before the window closes?", buttons=[Button(id="go", label="Go")], expires_at=soon(1.0)
        )
        answer = await asyncio.wait_for(agent.ask(question, timeout=60), 10)
    assert answer.outcome is Outcome.EXPIRED


async def test_a_scheduled_toast_is_shown_after_a_hub_restart(tmp_path: Path) -> None:
    settings = {"store": "sqlite", "db_path": tmp_path / "t.db", "attention_state_file": tmp_path / "attention.json"}
    async with (
        running_server(backends=[ConsoleBackend(io.StringIO())], **settings) as hub,
        ResilientNotificationClient(hub.address, agent_id="reminder") as agent,
    ):
        await agent.publish(TextNotification(title="Take a break", line1="you asked at lunch", deliver_at=soon(2.0)))
    screen = io.StringIO()
    async with running_server(backends=[ConsoleBackend(screen)], **settings):
        await wait_until(lambda: "Take a break — you asked at lunch" in screen.getvalue(), within=6.0)


async def test_times_that_make_no_sense_are_refused_with_what_to_fix() -> None:
    async with (
        running_server(max_schedule_seconds=3600) as hub,
        ResilientNotificationClient(hub.address, agent_id="clumsy") as agent,
    ):
        with pytest.raises(InvalidNotification, match="expires_at_unix_ms: is in the past"):
            await agent.publish(TextNotification(title="x", expires_at=soon(-60)))
        with pytest.raises(InvalidNotification, match="must come after deliver_at_unix_ms"):
            await agent.publish(TextNotification(title="x", deliver_at=soon(60), expires_at=soon(30)))
        with pytest.raises(InvalidNotification, match="TOASTY_MAX_SCHEDULE_SECONDS"):
            await agent.publish(TextNotification(title="x", deliver_at=soon(7200)))


def test_the_cli_schedules_with_in_and_expire_in(tmp_path: Path) -> None:
    from tests.core.process import ServerProcess

    hub = ServerProcess(tmp_path / "t.db")
    hub.start()
    try:
        out = subprocess.run(
            [*TOASTY, "notify", "Tea is ready", "--in", "1s", "--expire-in", "1h", "--address", hub.address],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        assert ", shown at " in out.stdout
        deadline = time.monotonic() + 10
        while "Tea is ready" not in hub.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "[toast i info] Tea is ready" in hub.log()  # the hub's console backend, at its time
    finally:
        hub.kill()
