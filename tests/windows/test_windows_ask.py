"""End to end on the Windows path: a click with typed inputs on the toast resolves the agent's ask()."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.interactions.test_ask import DEPLOY, pending_id
from toasty_client import Outcome, ResilientNotificationClient
from toasty_server.app import ToastyServer
from toasty_server.render.windows import WindowsBackend
from toasty_server.testing import running_server

AUMID = "Ask.Toasty"


@pytest.fixture
async def server(fake: Any, tmp_path: Path) -> AsyncIterator[ToastyServer]:
    async with running_server(backends=[WindowsBackend(AUMID)], data_dir=tmp_path) as srv:
        yield srv


def from_windows_thread(fire: Any) -> None:
    thread = threading.Thread(target=fire, name="winrt-event")
    thread.start()
    thread.join()


async def shown_toast(fake: Any) -> Any:
    for _ in range(300):
        if fake.notifier_for(AUMID).shown:
            return fake.notifier_for(AUMID).shown[-1]
        await asyncio.sleep(0.01)
    raise AssertionError("no toast shown")


async def test_click_with_inputs_reaches_the_awaiting_agent(server: ToastyServer, fake: Any) -> None:
    async with ResilientNotificationClient(server.address, agent_id="deployer") as deployer:
        asking = asyncio.ensure_future(deployer.ask(DEPLOY, timeout=30))
        nid = await pending_id(server)
        toast = await shown_toast(fake)
        inputs = {"reason": "looks good", "env": "prod"}
        from_windows_thread(lambda: toast.fire_activated(f"toasty:{nid}:approve", inputs))
        answer = await asyncio.wait_for(asking, 5)
    assert answer.outcome is Outcome.BUTTON
    assert (answer.button_id, answer.inputs, answer.backend) == ("approve", inputs, "windows")


async def test_dismissal_on_windows_is_the_outcome(server: ToastyServer, fake: Any) -> None:
    from winrt.windows.ui.notifications import ToastDismissalReason

    async with ResilientNotificationClient(server.address, agent_id="deployer") as deployer:
        asking = asyncio.ensure_future(deployer.ask(DEPLOY, timeout=30))
        await pending_id(server)
        toast = await shown_toast(fake)
        from_windows_thread(lambda: toast.fire_dismissed(ToastDismissalReason.USER_CANCELED))
        assert (await asyncio.wait_for(asking, 5)).dismissed


async def test_answer_from_the_terminal_takes_the_windows_toast_down(server: ToastyServer, fake: Any) -> None:
    async with (
        ResilientNotificationClient(server.address, agent_id="deployer") as deployer,
        ResilientNotificationClient(server.address, agent_id="terminal") as person,
    ):
        asking = asyncio.ensure_future(deployer.ask(DEPLOY, timeout=30))
        nid = await pending_id(server)
        toast = await shown_toast(fake)
        assert await person.answer(nid, "reject")
        assert (await asyncio.wait_for(asking, 5)).button_id == "reject"
        for _ in range(100):
            if toast not in fake.ToastNotificationManager.history.active.get(AUMID, []):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the answered toast is still on screen")


async def test_the_mute_action_on_a_windows_toast_mutes_its_agent(server: ToastyServer, fake: Any) -> None:
    from toasty_client import TextNotification

    async with (
        ResilientNotificationClient(server.address, agent_id="noisy") as noisy,
        ResilientNotificationClient(server.address) as person,
    ):
        published = await noisy.publish(TextNotification(title="Yet another update"))
        toast = await shown_toast(fake)
        assert "Mute this agent for 1 hour" in toast.xml
        nid = f"noisy~{published.notification_id}"
        from_windows_thread(lambda: toast.fire_activated(f"toasty:{nid.replace('~', '%7E')}:%23mute", {}))
        for _ in range(300):
            if (await person.attention()).muted:
                break
            await asyncio.sleep(0.01)
        assert [m.agent for m in (await person.attention()).muted] == ["noisy"]
