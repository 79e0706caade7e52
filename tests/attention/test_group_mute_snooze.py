"""Grouping, de-duplication, mute and snooze (issue 20), on a real hub with the console backend; the
toast actions (mute, snooze) through the interaction path a desktop click takes."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest

from tests.attention.helpers import toasty as run_toasty
from tests.core.helpers import wait_until
from toasty_client import (
    Button,
    InteractiveNotification,
    NotFound,
    ResilientNotificationClient,
    TextNotification,
)
from toasty_server.render.backend import Interaction, InteractionKind
from toasty_server.render.console import ConsoleBackend
from toasty_server.testing import running_server

pytestmark = pytest.mark.timeout(60)


async def test_a_group_collapses_into_one_counting_toast_and_repeats_count_up() -> None:
    screen = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(screen)]) as hub,
        ResilientNotificationClient(hub.address, agent_id="farm") as farm,
        ResilientNotificationClient(hub.address) as person,
    ):
        for job in (40, 41, 42):
            await farm.publish(TextNotification(title=f"job {job} failed", group="Build farm"))
        for _ in range(3):
            await farm.publish(TextNotification(title="Disk almost full", dedupe_key="disk-var"))
        await hub.renderer.drain()
        lines = screen.getvalue().splitlines()
        assert any("[toast i info] job 40 failed" in line for line in lines)
        assert any("Build farm: 3 new — latest: job 42 failed" in line for line in lines)
        assert any("Disk almost full (x3)" in line for line in lines)
        (rates,) = (await person.attention()).rates
        assert (rates.agent, rates.shown, rates.collapsed) == ("farm", 2, 4)
        assert sum(rates.shown_per_minute) == 2
        assert len(rates.shown_per_minute) == 60


async def test_muting_an_agent_holds_its_toasts_not_its_questions_and_unmuting_sums_them_up() -> None:
    screen = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(screen)]) as hub,
        ResilientNotificationClient(hub.address, agent_id="chatty") as chatty,
        ResilientNotificationClient(hub.address, agent_id="quiet") as quiet,
        ResilientNotificationClient(hub.address) as person,
    ):
        state = await person.mute("chatty", for_seconds=3600)
        assert [m.agent for m in state.muted] == ["chatty"]
        await chatty.publish(TextNotification(title="Chatter 1"))
        await chatty.publish(TextNotification(title="Chatter 2"))
        await quiet.publish(TextNotification(title="Something important"))
        asking = asyncio.ensure_future(
            chatty.ask(InteractiveNotification(title="May I?", buttons=[Button(id="y", label="Yes")]), timeout=30)
        )
        await wait_until(lambda: "May I?" in screen.getvalue(), within=6.0)  # its questions still show
        await hub.renderer.drain()
        assert "Chatter" not in screen.getvalue()
        assert "Something important" in screen.getvalue()
        assert [h.reason for h in (await person.attention()).held] == ["muted", "muted"]
        await person.mute("chatty", unmute=True)
        await wait_until(lambda: "2 notifications from 1 agent while chatty was muted" in screen.getvalue(), within=6.0)
        asking.cancel()


async def test_the_mute_action_on_a_toast_mutes_its_agent_for_an_hour() -> None:
    async with (
        running_server(backends=[ConsoleBackend(io.StringIO())]) as hub,
        ResilientNotificationClient(hub.address, agent_id="noisy") as noisy,
        ResilientNotificationClient(hub.address) as person,
    ):
        published = await noisy.publish(TextNotification(title="Yet another update"))
        await hub.renderer.drain()
        # what a click on "Mute this agent for 1 hour" on the desktop reports
        hub.renderer._interaction(
            Interaction(f"noisy~{published.notification_id}", InteractionKind.BUTTON, "console", button_id="#mute")
        )
        (muted,) = (await person.attention()).muted
        assert muted.agent == "noisy"
        assert 3590 < muted.until_unix_ms / 1000 - time.time() <= 3600


async def test_a_snoozed_question_comes_back_and_stays_answerable_meanwhile() -> None:
    screen = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(screen)]) as hub,
        ResilientNotificationClient(hub.address, agent_id="deployer") as agent,
        ResilientNotificationClient(hub.address) as person,
    ):
        asking = asyncio.ensure_future(
            agent.ask(InteractiveNotification(title="Deploy now?", buttons=[Button(id="go", label="Go")]), timeout=30)
        )
        await wait_until(lambda: "Deploy now?" in screen.getvalue(), within=6.0)
        (question,) = await person.open_questions()
        back = await person.snooze(question.notification_id, 1)
        assert 0 < back - time.time() <= 1.5
        shown_before = screen.getvalue().count("Deploy now?")
        await wait_until(lambda: screen.getvalue().count("Deploy now?") > shown_before, within=6.0)  # it came back
        assert not asking.done()
        assert await person.answer(question.notification_id, "go")
        assert (await asyncio.wait_for(asking, 5)).button_id == "go"
        with pytest.raises(NotFound):
            await person.snooze(question.notification_id, 60)  # decided: nothing to snooze


def test_the_cli_mutes_unmutes_and_groups(tmp_path: Path) -> None:
    from tests.core.process import ServerProcess

    hub = ServerProcess(tmp_path / "t.db")
    hub.start()
    try:

        def toasty(*args: str) -> str:
            return run_toasty(hub.address, *args)

        assert toasty("mute", "ci-bot", "--for", "30m").startswith("ci-bot is muted until ")
        assert "muted: ci-bot" in toasty("dnd")
        assert toasty("unmute", "ci-bot") == "ci-bot is not muted"
        toasty("notify", "job 1 failed", "--group", "CI")
        toasty("notify", "job 2 failed", "--group", "CI")
        deadline = time.monotonic() + 10
        while "CI: 2 new — latest: job 2 failed" not in hub.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "CI: 2 new — latest: job 2 failed" in hub.log()
    finally:
        hub.kill()
