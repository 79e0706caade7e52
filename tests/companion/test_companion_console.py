"""Issue 19 with real processes: a headless hub (`--renderer none`) and the person's devices, each running
`toasty-desktop` with the console backend, whose toast lines and log the tests read from its stderr."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from tests.companion.companions import CompanionProcess, HeadlessHub, toast_lines, wait_subscribed
from toasty_client import (
    Button,
    InteractiveNotification,
    Outcome,
    ResilientNotificationClient,
    TextNotification,
)

pytestmark = pytest.mark.timeout(60)

WITHDRAWN = "is no longer open"  # the companion's log line when a question shown on it was decided elsewhere


def unique(title: str) -> str:
    return f"{title} {uuid.uuid4().hex[:6]}"


def question(title: str) -> InteractiveNotification:
    return InteractiveNotification(
        title=title, buttons=[Button(id="approve", label="Approve"), Button(id="reject", label="Reject")]
    )


async def test_a_text_notification_shows_on_every_device(
    ready: list[CompanionProcess], agent: ResilientNotificationClient
) -> None:
    title = unique("Backup done")
    await agent.publish(TextNotification(title=title, line1="412 files"))
    for device in ready:
        await device.wait_for(f"] {title} — 412 files (from deployer, id deployer~")
    await asyncio.sleep(0.3)  # and once each, not once per device per device
    assert [len(toast_lines(d.run_log(), title)) for d in ready] == [1, 1]


async def test_the_first_answer_wins_and_the_other_devices_withdraw_within_a_second(
    ready: list[CompanionProcess], agent: ResilientNotificationClient, person: ResilientNotificationClient
) -> None:
    title = unique("Deploy v1.2?")
    asked = await agent.publish(question(title))
    global_id = f"deployer~{asked.notification_id}"
    for device in ready:
        await device.wait_for(f"] {title} [Approve (approve) | Reject (reject)] (from deployer, id {global_id})")

    answered_at = time.monotonic()  # before the call: the measured delay is never shorter than the real one
    assert await person.answer(global_id, "approve")  # as `toasty answer` does, from a terminal
    answer = await agent.wait_for_answer(asked.notification_id, timeout=10)
    assert (answer.outcome, answer.button_id) == (Outcome.BUTTON, "approve")

    for device in ready:
        seen = await device.wait_for(f"question {global_id} {WITHDRAWN}", within=3)
        assert seen - answered_at < 1.0, f"{device.client_id} withdrew it after {seen - answered_at:.2f} s"


async def test_a_progress_bar_is_one_toast_updated_with_each_value(
    ready: list[CompanionProcess], agent: ResilientNotificationClient
) -> None:
    title = unique("Uploading")
    async with agent.progress(title, key="upload-7") as bar:
        await bar.update(0.4, status="4 of 10")
    for device in ready:
        await device.wait_for(f"] {title} — 4 of 10 [upload-7: 100% succeeded — 4 of 10]")
    for device in ready:  # in order (an update overtaken by a newer one may be skipped, never shown late)
        values = [int(line.split("[upload-7: ")[1].split("%")[0]) for line in toast_lines(device.run_log(), title)]
        assert values == sorted(values), values
        assert values[-1] == 100, values


async def test_a_restart_neither_loses_nor_repeats_toasts(
    hub: HeadlessHub, tmp_path: Path, agent: ResilientNotificationClient, person: ResilientNotificationClient
) -> None:
    device = CompanionProcess(hub, tmp_path, "desktop@phone")
    device.start()
    try:
        await wait_subscribed(person, device.client_id)
        before = unique("Before the restart")
        await agent.publish(TextNotification(title=before))
        await device.wait_for(f"] {before} (from")
        assert device.stop() == 0  # SIGTERM: it stops cleanly and keeps its resume point

        meanwhile = unique("While it was stopped")
        await agent.publish(TextNotification(title=meanwhile))
        decided = await agent.publish(question(unique("Answered while it was stopped")))
        assert await person.answer(f"deployer~{decided.notification_id}", "reject")
        still_open = unique("Still open")
        still = (await agent.publish(question(still_open))).notification_id

        device.start()
        await device.wait_for(f"] {meanwhile} (from")  # published while it was away: not lost
        await device.wait_for(f"] {still_open} [Approve")  # a question still open is shown
        after = unique("After the restart")
        await agent.publish(TextNotification(title=after))
        await device.wait_for(f"] {after} (from")
    finally:
        device.kill()
        await person.answer(f"deployer~{still}", "reject")  # none left open for the other tests' devices
    again = device.run_log()
    assert not toast_lines(again, before), f"shown again after the restart:\n{again}"
    assert not toast_lines(again, "Answered while it was stopped"), f"a decided question was shown:\n{again}"
    assert len(toast_lines(device.log(), meanwhile)) == 1


async def test_a_hub_that_goes_away_is_one_log_line_and_the_companion_carries_on(tmp_path: Path) -> None:
    hub = HeadlessHub(tmp_path / "own-hub.db")
    hub.start()
    device = CompanionProcess(hub, tmp_path, "desktop@tablet")
    device.start()
    try:
        async with (
            ResilientNotificationClient(hub.address, agent_id="deployer", token="") as agent,
            ResilientNotificationClient(hub.address, agent_id="person", token=hub.person_secret) as person,
        ):
            await wait_subscribed(person, device.client_id)
            first = unique("Before the outage")
            await agent.publish(TextNotification(title=first))
            await device.wait_for(f"] {first} (from", within=10)

            hub.kill()
            await device.wait_for("is unreachable", within=10)
            await asyncio.sleep(1.0)  # a while down: still one line, and still running
            assert device.run_log().count("is unreachable") == 1, device.run_log()
            assert device.proc is not None
            assert device.proc.poll() is None

            hub.start()
            await device.wait_for("is back", within=15)
            after = unique("After the outage")
            await agent.publish(TextNotification(title=after))
            await device.wait_for(f"] {after} (from", within=10)
        assert device.stop() == 0
    finally:
        device.kill()
        hub.kill()
    assert len(toast_lines(device.log(), first)) == 1  # resumed after the outage: nothing shown twice


async def test_a_notification_published_for_subscribers_only_shows_on_no_device(
    ready: list[CompanionProcess], agent: ResilientNotificationClient
) -> None:
    hidden, shown = unique("For subscribers only"), unique("For the person")
    await agent.publish(TextNotification(title=hidden), skip_toast=True)
    await agent.publish(TextNotification(title=shown))
    for device in ready:
        await device.wait_for(f"] {shown}")  # published after it: the hidden one was read and passed over
        assert toast_lines(device.run_log(), hidden) == []


async def test_the_hubs_do_not_disturb_holds_toasts_on_every_device_and_ends_with_a_digest(
    ready: list[CompanionProcess], agent: ResilientNotificationClient, person: ResilientNotificationClient
) -> None:
    """The person sets do-not-disturb on the hub (toasty dnd on); every device follows it."""
    await person.do_not_disturb(True)
    await asyncio.sleep(1.5)  # each device reads the hub's attention state every second
    held, after = unique("Held on every device"), unique("Shown again")
    await agent.publish(TextNotification(title=held))
    await asyncio.sleep(1.0)
    for device in ready:
        assert toast_lines(device.run_log(), held) == []
    await person.do_not_disturb(False)
    for device in ready:
        await device.wait_for("1 notification from 1 agent while you were away", within=5)
    await agent.publish(TextNotification(title=after))
    for device in ready:
        await device.wait_for(f"] {after}")
