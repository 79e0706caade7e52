"""Issue 19 on a real desktop: one device's companion shows on dunst (Xvfb + private D-Bus + dunst), another
on the console; the hub shows nothing itself. The person clicks in dunst's action menu as in
tests/desktop/test_desktop_ask.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.companion.companions import CompanionProcess, HeadlessHub, toast_lines, wait_subscribed
from tests.desktop.session import Desktop
from toasty_client import Button, InteractiveNotification, Outcome, ResilientNotificationClient

pytestmark = pytest.mark.timeout(60)


def question(title: str) -> InteractiveNotification:
    return InteractiveNotification(
        title=title, buttons=[Button(id="approve", label="Approve"), Button(id="reject", label="Reject")]
    )


@pytest.fixture
def two_devices(desktop: Desktop, hub: HeadlessHub, tmp_path: Path) -> Iterator[tuple[CompanionProcess, ...]]:
    """A device on the test desktop (it inherits its DISPLAY and session bus) and one on the console."""
    on_dunst = CompanionProcess(hub, tmp_path, "desktop@workstation", renderer="freedesktop")
    on_console = CompanionProcess(hub, tmp_path, "desktop@headless-box")
    for device in (on_dunst, on_console):
        device.start()
    yield on_dunst, on_console
    for device in (on_dunst, on_console):
        device.kill()


@pytest.fixture
async def subscribed(
    two_devices: tuple[CompanionProcess, ...], person: ResilientNotificationClient
) -> tuple[CompanionProcess, ...]:
    await wait_subscribed(person, *(d.client_id for d in two_devices))
    return two_devices


async def test_a_click_on_one_device_answers_and_the_other_withdraws(
    subscribed: tuple[CompanionProcess, CompanionProcess],
    desktop: Desktop,
    agent: ResilientNotificationClient,
    person: ResilientNotificationClient,
) -> None:
    on_dunst, on_console = subscribed
    asked = await agent.publish(question("Deploy v1.2?"))
    global_id = f"deployer~{asked.notification_id}"
    shown = await desktop.wait_displayed("Deploy v1.2?")
    await on_console.wait_for(f"] Deploy v1.2? [Approve (approve) | Reject (reject)] (from deployer, id {global_id})")

    clicked_at = time.monotonic()
    await desktop.choose(shown.id, "approve")  # the person picks "Approve" in dunst's action menu
    answer = await agent.wait_for_answer(asked.notification_id, timeout=10)
    assert (answer.outcome, answer.button_id) == (Outcome.BUTTON, "approve")
    await on_dunst.wait_for(f"the hub recorded the answer 'approve' to {global_id}")
    withdrawn = await on_console.wait_for(f"question {global_id} is no longer open", within=3)
    assert withdrawn - clicked_at < 1.0, (
        f"the console device withdrew it {withdrawn - clicked_at:.2f} s after the click"
    )
    await desktop.wait_empty()  # answered here: the companion closed its toast (dunst leaves it up otherwise)


async def test_an_answer_from_a_terminal_takes_the_toast_off_dunst_within_a_second(
    subscribed: tuple[CompanionProcess, CompanionProcess],
    desktop: Desktop,
    agent: ResilientNotificationClient,
    person: ResilientNotificationClient,
) -> None:
    on_dunst, _ = subscribed
    asked = await agent.publish(question("Restart the database?"))
    global_id = f"deployer~{asked.notification_id}"
    await desktop.wait_displayed("Restart the database?")

    answered_at = time.monotonic()
    assert await person.answer(global_id, "reject")  # `toasty answer`, elsewhere
    await desktop.wait_empty(within=1.0)
    assert time.monotonic() - answered_at < 1.0
    await on_dunst.wait_for(f"question {global_id} is no longer open")
    assert (await agent.wait_for_answer(asked.notification_id, timeout=5)).button_id == "reject"


async def test_a_progress_bar_updates_one_dunst_toast_in_place(
    subscribed: tuple[CompanionProcess, CompanionProcess], desktop: Desktop, agent: ResilientNotificationClient
) -> None:
    _, on_console = subscribed
    async with agent.progress("Uploading", key="upload-9") as bar:
        first = await desktop.wait_displayed("Uploading", progress=0)
        await bar.update(0.4, status="4 of 10")
        second = await desktop.wait_displayed("Uploading", progress=40)
    done = await desktop.wait_displayed("Uploading", progress=100)
    assert first.id == second.id == done.id  # replaced in place, never stacked
    assert await desktop.dunst.displayed_length() == 1
    await on_console.wait_for("[upload-9: 100% succeeded")
    assert len(toast_lines(on_console.run_log(), "Uploading")) >= 2
