"""Do-not-disturb and quiet hours (issue 20): toasts are held, not shown, critical ones break through, and
one digest toast sums up what was held when the quiet ends. Subscribers get everything as always.

A real hub on a loopback port with the console backend writing to a buffer the test reads; the person
acts through the real client (tests/conftest.py: TOASTY_TOKEN is the person secret).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from tests.attention.helpers import TOASTY
from tests.attention.helpers import toasty as run_toasty
from tests.core.helpers import take, wait_until
from toasty_client import (
    Button,
    InteractiveNotification,
    Outcome,
    ResilientNotificationClient,
    TextNotification,
    Urgency,
)
from toasty_server.render.console import ConsoleBackend
from toasty_server.testing import running_server

pytestmark = pytest.mark.timeout(60)
QUESTION = InteractiveNotification(title="Restart the build?", buttons=[Button(id="yes", label="Yes")])


async def test_held_while_on_critical_breaks_through_and_one_digest_when_off(tmp_path: Path) -> None:
    screen = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(screen)], attention_state_file=tmp_path / "attention.json") as hub,
        ResilientNotificationClient(hub.address) as person,
        ResilientNotificationClient(hub.address, agent_id="builder") as builder,
        ResilientNotificationClient(hub.address, agent_id="mailer") as mailer,
    ):
        state = await person.do_not_disturb(True)
        assert (state.do_not_disturb, state.holding, state.critical_breaks_through) == (True, True, True)

        await builder.publish(TextNotification(title="Build 41 passed"))
        await mailer.publish(TextNotification(title="3 new mails"))
        await builder.publish(TextNotification(title="Disk full", urgency=Urgency.CRITICAL))
        asking = asyncio.ensure_future(builder.ask(QUESTION, timeout=30))
        await wait_until(lambda: len(hub.broker.asks.pending()) == 1, within=6.0)
        await hub.renderer.drain()

        shown = screen.getvalue()
        assert "Disk full" in shown  # critical breaks through
        for held_title in ("Build 41 passed", "3 new mails", "Restart the build?"):
            assert held_title not in shown
        delivered = await take(person.subscribe("watcher", from_beginning=True), 4)  # subscribers get all, as always
        titles = [d.notification.text_message.header.title for d in delivered if d.notification.text_message]
        assert titles == ["Build 41 passed", "3 new mails", "Disk full"]

        state = await person.attention()
        assert [(h.agent, h.title, h.reason, h.question) for h in state.held] == [
            ("builder", "Build 41 passed", "do-not-disturb", False),
            ("mailer", "3 new mails", "do-not-disturb", False),
            ("builder", "Restart the build?", "do-not-disturb", True),
        ]

        await person.do_not_disturb(False)
        await wait_until(lambda: "while you were away" in screen.getvalue(), within=6.0)
        await hub.renderer.drain()
        after = screen.getvalue()[len(shown) :]
        assert "3 notifications from 2 agents while you were away" in after
        assert "Restart the build?" in after  # the held question still open is shown now
        assert (await person.attention()).held == []

        (open_question,) = await person.open_questions()
        assert await person.answer(open_question.notification_id, "yes")
        assert (await asyncio.wait_for(asking, 5)).outcome is Outcome.BUTTON


async def test_a_held_question_is_answerable_meanwhile_and_not_shown_after(tmp_path: Path) -> None:
    screen = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(screen)]) as hub,
        ResilientNotificationClient(hub.address) as person,
        ResilientNotificationClient(hub.address, agent_id="deployer") as agent,
    ):
        await person.do_not_disturb(True)
        asking = asyncio.ensure_future(agent.ask(QUESTION, timeout=30))
        await wait_until(lambda: len(hub.broker.asks.pending()) == 1, within=6.0)
        (question,) = await person.open_questions()
        assert await person.answer(question.notification_id, "yes")  # from the terminal, as `toasty answer`
        assert (await asyncio.wait_for(asking, 5)).button_id == "yes"
        await person.do_not_disturb(False)
        await wait_until(lambda: "while you were away" in screen.getvalue(), within=6.0)
        await hub.renderer.drain()
        assert "[Yes (yes)]" not in screen.getvalue()  # decided: the question is not shown any more (only named)


async def test_do_not_disturb_for_a_while_ends_by_itself(tmp_path: Path) -> None:
    screen = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(screen)]) as hub,
        ResilientNotificationClient(hub.address) as person,
    ):
        state = await person.do_not_disturb(True, for_seconds=1)
        assert 0 < state.until_unix_ms / 1000 - time.time() <= 1.5
        await person.publish(TextNotification(title="Held a second"))
        await hub.renderer.drain()
        assert "Held a second" not in screen.getvalue()
        await wait_until(lambda: "1 notification from 1 agent while you were away" in screen.getvalue(), within=5)
        assert not (await person.attention()).do_not_disturb


async def test_it_survives_a_restart_and_the_digest_counts_from_before(tmp_path: Path) -> None:
    settings = {"store": "sqlite", "db_path": tmp_path / "t.db", "attention_state_file": tmp_path / "attention.json"}
    first = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(first)], **settings) as hub,
        ResilientNotificationClient(hub.address, agent_id="nightly") as agent,
    ):
        await agent.do_not_disturb(True)
        await agent.publish(TextNotification(title="Before the restart"))
        await hub.renderer.drain()
    second = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(second)], **settings) as hub,
        ResilientNotificationClient(hub.address, agent_id="nightly") as agent,
    ):
        state = await agent.attention()
        assert state.do_not_disturb
        assert [h.title for h in state.held] == ["Before the restart"]
        await agent.publish(TextNotification(title="After the restart"))
        await hub.renderer.drain()
        assert "After the restart" not in second.getvalue()
        await agent.do_not_disturb(False)
        await wait_until(lambda: "2 notifications from 1 agent while you were away" in second.getvalue(), within=6.0)
    assert "Before the restart" not in first.getvalue()


async def test_quiet_hours_hold_toasts_by_the_local_clock(tmp_path: Path) -> None:
    now = dt.datetime.now()
    start, end = (now - dt.timedelta(minutes=30)), (now + dt.timedelta(minutes=30))
    quiet = f"{start:%H:%M}-{end:%H:%M}"
    screen = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(screen)], quiet_hours=quiet) as hub,
        ResilientNotificationClient(hub.address) as person,
    ):
        await person.publish(TextNotification(title="At night"))
        await hub.renderer.drain()
        assert "At night" not in screen.getvalue()
        state = await person.attention()
        assert (state.quiet_hours, state.holding, state.do_not_disturb) == (True, True, False)
        assert state.held[0].reason == "quiet hours"


def test_quiet_hours_that_do_not_parse_are_refused_with_what_to_fix() -> None:
    from toasty_server.config import load_settings

    with pytest.raises(Exception, match="HH:MM-HH:MM"):
        load_settings(quiet_hours="10pm-7am")


async def test_only_the_person_turns_it_on(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('builder = "builder-token-0123456789"\n')
    async with (
        running_server(token_file=tokens) as hub,
        ResilientNotificationClient(hub.address, agent_id="builder", token="builder-token-0123456789") as agent,
    ):
        with pytest.raises(Exception, match="only the person") as refused:
            await agent.do_not_disturb(True)
        assert "PERMISSION_DENIED" in repr(refused.value) or getattr(refused.value, "code", None) in (
            grpc.StatusCode.PERMISSION_DENIED,
            "PERMISSION_DENIED",
        )


def test_the_cli_turns_it_on_for_a_while_says_so_and_turns_it_off(tmp_path: Path) -> None:
    from tests.core.process import ServerProcess

    hub = ServerProcess(tmp_path / "t.db")
    hub.start()
    try:

        def toasty(*args: str) -> str:
            return run_toasty(hub.address, *args)

        assert toasty("dnd") == "do-not-disturb is off"
        said = toasty("dnd", "on", "--for", "1h30m")
        until = dt.datetime.now() + dt.timedelta(minutes=90)
        assert said.startswith("do-not-disturb is on until ")
        assert said.removeprefix("do-not-disturb is on until ")[:5] in {
            f"{until:%H:%M}",
            f"{until - dt.timedelta(minutes=1):%H:%M}",
        }
        assert toasty("dnd").startswith("do-not-disturb is on until ")
        assert toasty("dnd", "off") == "do-not-disturb is off"
        bad = subprocess.run(
            [*TOASTY, "dnd", "on", "--for", "soon", "--address", hub.address],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert bad.returncode != 0
        assert "90s, 45m, 2h or 1h30m" in bad.stderr
    finally:
        hub.kill()
