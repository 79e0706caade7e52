"""Issue 5 on a real desktop: agents await answers given on dunst (Xvfb + private D-Bus + dunst)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.core.helpers import take
from tests.desktop.session import Desktop, wait_until
from toasty_client import (
    Button,
    InteractiveNotification,
    Outcome,
    ResilientNotificationClient,
    TextInput,
    TextNotification,
)
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]

APPROVAL = InteractiveNotification(
    title="Deploy v1.2?",
    line1="all checks green",
    buttons=[Button(id="approve", label="Approve"), Button(id="reject", label="Reject")],
)


@pytest.fixture
async def server(desktop: Desktop) -> AsyncIterator[ToastyServer]:
    """A real server whose renderer is chosen as in production: freedesktop first, console last."""
    async with running_server(renderer="freedesktop", backends=None) as srv:
        assert srv.renderer.backend_names == ["freedesktop", "console"]
        yield srv


async def test_user_clicks_approve_on_dunst_and_ask_returns_it(server: ToastyServer, desktop: Desktop) -> None:
    async with ResilientNotificationClient(server.address, agent_id="deployer") as agent:
        asking = asyncio.ensure_future(agent.ask(APPROVAL, timeout=30))
        shown = await desktop.wait_displayed("Deploy v1.2?")
        await desktop.choose(shown.id, "approve")  # the person picks "Approve" in dunst's action menu
        answer = await asyncio.wait_for(asking, 10)
    assert answer.outcome is Outcome.BUTTON
    assert (answer.button_id, answer.backend) == ("approve", "freedesktop")
    await desktop.wait_empty()  # answered toasts are closed


async def test_dismissing_on_dunst_is_the_outcome(server: ToastyServer, desktop: Desktop) -> None:
    async with ResilientNotificationClient(server.address, agent_id="deployer") as agent:
        asking = asyncio.ensure_future(agent.ask(APPROVAL, timeout=30))
        await desktop.wait_displayed("Deploy v1.2?")
        await desktop.dunst.close_last()  # what `dunstctl close` does: the user closes it
        answer = await asyncio.wait_for(asking, 10)
    assert answer.dismissed


async def test_unanswered_ask_times_out_and_leaves_the_screen(server: ToastyServer, desktop: Desktop) -> None:
    async with ResilientNotificationClient(server.address, agent_id="deployer") as agent:
        answer = await asyncio.wait_for(agent.ask(APPROVAL, timeout=1), 15)
    assert answer.timed_out
    await desktop.wait_empty()


async def test_inputs_dunst_cannot_show_are_reported_and_answerable_elsewhere(
    server: ToastyServer, desktop: Desktop
) -> None:
    question = InteractiveNotification(
        title="Why deploy?", buttons=[Button(id="ok", label="OK")], inputs=[TextInput(id="reason")]
    )
    async with (
        ResilientNotificationClient(server.address, agent_id="deployer") as agent,
        ResilientNotificationClient(server.address, agent_id="terminal") as person,
    ):
        stream = agent.subscribe()
        receipts = asyncio.ensure_future(take(stream, 2))
        await asyncio.sleep(0.2)
        response = await agent.publish(question)
        await desktop.wait_displayed("Why deploy?")
        details = [d.receipt.error for d in await receipts if d.receipt is not None]
        assert any("unsupported" in e and "reason" in e for e in details), details
        assert await person.answer(response.notification_id, "ok", {"reason": "hotfix"})
        answer = await agent.wait_for_answer(response.notification_id, timeout=10)
    assert answer.inputs == {"reason": "hotfix"}
    await desktop.wait_empty()  # answered from a terminal: the desktop toast is taken down


async def test_progress_context_manager_updates_one_dunst_toast(server: ToastyServer, desktop: Desktop) -> None:
    async with (
        ResilientNotificationClient(server.address, agent_id="uploader") as agent,
        agent.progress("Uploading", key="upload-7") as bar,
    ):
        first = await desktop.wait_displayed("Uploading", progress=0)
        await bar.update(0.4, status="4 of 10")
        second = await desktop.wait_displayed("Uploading", progress=40)
    done = await desktop.wait_displayed("Uploading", progress=100)
    assert first.id == second.id == done.id  # replaced in place, never stacked
    assert await desktop.dunst.displayed_length() == 1


async def test_approval_example_agent_end_to_end(server: ToastyServer, desktop: Desktop) -> None:
    """examples/approval_agent.py as a user runs it: a real process, answered on the real desktop."""
    env = {**os.environ, "TOASTY_ADDRESS": server.address}
    agent = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "approval_agent.py"), "--version", "9.9", "--steps", "2",
        env=env, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        shown = await desktop.wait_displayed("Deploy v9.9 to production?", within=15)
        await desktop.choose(shown.id, "approve")
        await desktop.wait_displayed("Deploying v9.9", progress=100, within=15)
        _, err = await asyncio.wait_for(agent.communicate(), 20)
    finally:
        if agent.returncode is None:
            agent.kill()
    assert agent.returncode == 0, err.decode()
    assert "approved via freedesktop: deploying v9.9" in err.decode()


async def test_the_mute_action_clicked_on_dunst_mutes_the_agent(server: ToastyServer, desktop: Desktop) -> None:
    """Every plain toast carries "Mute this agent for 1 hour" (test_every_daemon checks it is sent to each
    daemon); here the person picks it in dunst's action menu."""
    async with (
        ResilientNotificationClient(server.address, agent_id="chatty") as agent,
        ResilientNotificationClient(server.address) as person,
    ):
        await agent.publish(TextNotification(title="Chatter"))
        shown = await desktop.wait_displayed("Chatter")
        await desktop.choose(shown.id, "#mute")
        await wait_until(lambda: bool(server.attention_gate.state().muted))
        assert [m.agent for m in (await person.attention()).muted] == ["chatty"]
