"""The hub on every notification daemon people run: dunst, xfce4-notifyd, notification-daemon, lxqt.

Each daemon runs for real on its own Xvfb and private session bus (`daemon_session`, one fixture
parametrised over `DAEMONS`), restarted before each test so that every test starts on an empty screen.
A real hub (in-process, on a loopback port, renderer chosen as in production) shows toasts on it; the
tests observe the Notify calls on the bus, take screenshots, click buttons as the person would, and
check what reached the asking agent.

What each test measures per daemon is compared with the daemon table of docs/desktop.md, so that table
is what these tests saw, and a daemon that changes fails here until the table says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.desktop.daemons import APT_PACKAGES, DAEMONS, BusMonitor, DaemonSession, DaemonSpec
from tests.desktop.session import missing_tools, region_pixels, wait_until, write_png
from tests.http.test_web_page import page  # noqa: F401  (the fixture: Chromium driven by Playwright)
from tests.requires import missing
from toasty_client import (
    Button,
    Image,
    ImageTextNotification,
    InteractiveNotification,
    Outcome,
    ProgressNotification,
    ResilientNotificationClient,
    TextNotification,
    Urgency,
)
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server

pytestmark = pytest.mark.timeout(60)

DOC = Path(__file__).resolve().parents[2] / "docs" / "desktop.md"
QUESTION = InteractiveNotification(
    title="Deploy build 42?",
    line1="to production",
    buttons=[Button(id="approve", label="Approve"), Button(id="reject", label="Reject")],
)
IMAGE_COLOUR = (13, 200, 77)  # a green no daemon draws by itself
TOASTY = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]
ANSWERED_AFTER = 14.0  # seconds: past every daemon's default expiry (5 to 10.5 s)


@dataclass(frozen=True, slots=True)
class DocRow:
    """One daemon's row of the table in docs/desktop.md."""

    actions: str
    inputs: str
    images: str
    progress: str
    questions: str


def documented(daemon: str) -> DocRow:
    """The row of `daemon` in the table between the `daemon-table` markers of docs/desktop.md."""
    text = DOC.read_text()
    table = text.split("<!-- daemon-table -->")[1]
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].split(" ")[0].strip("`") == daemon:
            return DocRow(*cells[1:6])
    raise AssertionError(f"docs/desktop.md has no row for {daemon}")


@pytest.fixture(scope="session", params=DAEMONS, ids=[d.name for d in DAEMONS])
def daemon_session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonSession]:
    spec: DaemonSpec = request.param
    absent = [tool for tool in missing_tools() if tool != "dunst"] + ([] if spec.installed else [spec.command[0]])
    if absent:
        missing(
            f"{', '.join(absent)} not installed; the every-daemon tests need them: "
            f"apt-get install -y --no-install-recommends {APT_PACKAGES}",
            "TOASTY_REQUIRE_DESKTOP",
        )
    session = DaemonSession(tmp_path_factory.mktemp(spec.name), spec)
    session.start()
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
async def session(daemon_session: DaemonSession, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DaemonSession]:
    """The daemon's desktop made current for this test, with a freshly started daemon (an empty screen:
    some daemons keep a popup up after CloseNotification)."""
    s = daemon_session
    if not s.is_running("dbus-daemon"):
        s.stop()
        s.start()
    else:
        s.stop_daemon()
        s.start_daemon()
    for key, value in s.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    s.clear_pick()
    yield s
    if not s.daemon_running():
        s.start_daemon()


@pytest.fixture
async def monitor(session: DaemonSession) -> AsyncIterator[BusMonitor]:
    bus = await BusMonitor.connect(session.bus_address)
    yield bus
    bus.disconnect()


@pytest.fixture
async def hub(session: DaemonSession) -> AsyncIterator[ToastyServer]:
    """A hub whose renderer is chosen as in production: freedesktop first, console last."""
    async with running_server(renderer="freedesktop", backends=None) as server:
        yield server


async def test_a_question_outlives_the_daemons_expiry_and_is_answered_after_14_s(
    session: DaemonSession, monitor: BusMonitor, hub: ToastyServer
) -> None:
    """Asked for 60 s, answered at 14 s: on the toast where the daemon keeps it up, else from the terminal."""
    row = documented(session.spec.name)
    async with ResilientNotificationClient(hub.address, agent_id="deployer") as agent:
        asking = asyncio.ensure_future(agent.ask(QUESTION, timeout=60))
        (call,) = await monitor.notified(QUESTION.title)
        assert call.actions[:4] == ["approve", "Approve", "reject", "Reject"]
        await asyncio.sleep(ANSWERED_AFTER)
        assert not asking.done(), "the question ended with its toast; its life is the asker's 60 s"

        still_up = await session.toast_visible()
        assert ("until answered" if still_up else "popup") in row.questions, (still_up, row.questions)
        if still_up:
            await session.click(call.daemon_id, 0, "approve")
            answer = await asyncio.wait_for(asking, 10)
            assert (answer.outcome, answer.button_id, answer.backend) == (Outcome.BUTTON, "approve", "freedesktop")
            assert row.actions == "yes"
        else:  # gone from the screen, not from the hub: the person answers from the terminal
            pending = hub.broker.asks.pending()
            assert len(pending) == 1
            async with ResilientNotificationClient(hub.address) as person:
                assert await person.answer(pending[0].notification_id, "approve")
            answer = await asyncio.wait_for(asking, 10)
            assert (answer.outcome, answer.button_id, answer.backend) == (Outcome.BUTTON, "approve", "terminal")


async def test_buttons_answer_on_the_toast(session: DaemonSession, monitor: BusMonitor, hub: ToastyServer) -> None:
    """The person clicks "Reject" on the toast as soon as it shows; inputs are named where unsupported."""
    row = documented(session.spec.name)
    async with ResilientNotificationClient(hub.address, agent_id="deployer") as agent:
        asking = asyncio.ensure_future(agent.ask(QUESTION, timeout=30))
        (call,) = await monitor.notified(QUESTION.title)
        assert QUESTION.title not in call.body  # the summary shows it; the body does not repeat it
        await wait_until(lambda: session.spec.name == "dunst" or session.toast_windows(), within=10.0)
        await session.click(call.daemon_id, 1, "reject")
        answer = await asyncio.wait_for(asking, 10)
    assert (answer.outcome, answer.button_id) == (Outcome.BUTTON, "reject")
    assert row.actions == "yes"
    status = (await _status(hub))[0]
    assert row.inputs == ("yes" if "inline-reply" in status.capabilities else "no")


async def test_an_image_is_drawn(
    session: DaemonSession, monitor: BusMonitor, hub: ToastyServer, tmp_path: Path
) -> None:
    row = documented(session.spec.name)
    picture = write_png(tmp_path / "picture.png", 48, 48, IMAGE_COLOUR)
    async with ResilientNotificationClient(hub.address, agent_id="camera") as agent:
        await agent.publish(
            ImageTextNotification(title="Snapshot", line1="front door", image=Image(source=str(picture)))
        )
    (call,) = await monitor.notified("Snapshot")
    assert call.app_icon == str(picture)  # a plain path, where every daemon measured draws it
    assert str(picture) in (call.hints.get("image-path"), call.hints.get("image_path"))

    def drawn() -> bool:
        shot = session.screenshot_rgb(tmp_path / "screen.ppm")
        width, height, _ = shot
        return (
            sum(1 for px in region_pixels(shot, 0, 0, width, height) if px == IMAGE_COLOUR) >= 24 * 24
        )  # drawn at 32 px or more

    deadline = time.monotonic() + 5
    seen = await asyncio.to_thread(drawn)
    while not seen and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        seen = await asyncio.to_thread(drawn)
    assert row.images == ("yes" if seen else "no")


async def test_progress_updates_one_toast_in_place(
    session: DaemonSession, monitor: BusMonitor, hub: ToastyServer
) -> None:
    """The `value` hint where the daemon draws it, a text bar in the body elsewhere; one toast either way."""
    row = documented(session.spec.name)
    async with ResilientNotificationClient(hub.address, agent_id="builder") as agent:
        for value in (0.3, 0.7):
            bar = ProgressNotification(title="Building", key="build-7", value=value, caption="release")
            await agent.publish(bar)
            await monitor.notified("Building", count=1 if value < 0.5 else 2)
    first, second = (c for c in monitor.notifies if c.summary == "Building")
    assert second.replaces_id == first.daemon_id
    assert second.daemon_id == first.daemon_id
    drawn_as = "bar" if "value" in second.hints else "text bar"
    if drawn_as == "bar":
        assert second.hints["value"] == 70
    else:
        assert "▓▓▓▓▓▓▓░░░ 70 %" in second.body
    assert row.progress == f"{drawn_as}, in place"


async def test_a_daemon_started_after_the_hub_is_used_and_followed_both_ways(
    session: DaemonSession, monitor: BusMonitor, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hub first, desktop later (a login script); then the daemon goes and comes back."""
    session.kill_daemon()
    async with (
        running_server(renderer="freedesktop", backends=None) as hub,
        ResilientNotificationClient(hub.address, agent_id="watcher") as agent,
    ):
        (desktop, console) = await _status(hub)
        assert (desktop.backend, desktop.available, console.backend) == ("freedesktop", False, "console")
        await agent.publish(TextNotification(title="Before the desktop"))
        await hub.renderer.drain()
        assert "Before the desktop" in capsys.readouterr().err  # on the console
        assert monitor.notifies == []

        session.start_daemon()
        await wait_until(lambda: hub.renderer.status()[0].available, within=10.0)
        await agent.publish(TextNotification(title="Desktop is up"))
        await monitor.notified("Desktop is up")
        (desktop, _) = await _status(hub)
        assert desktop.available
        assert desktop.server_name  # the daemon's own name, vendor, version and capabilities
        assert "actions" in desktop.capabilities
        assert desktop.server_name in desktop.detail

        session.kill_daemon()
        await wait_until(lambda: not hub.renderer.status()[0].available, within=10.0)
        await agent.publish(TextNotification(title="Daemon gone"))
        await hub.renderer.drain()
        assert "Daemon gone" in capsys.readouterr().err
        assert hub.renderer.failed["freedesktop"] == 0  # skipped while away, not tried and failed

        session.start_daemon()
        await wait_until(lambda: hub.renderer.status()[0].available, within=10.0)
        await agent.publish(TextNotification(title="Daemon back"))
        await monitor.notified("Daemon back")


async def test_toasty_status_and_the_page_name_the_daemon_and_its_capabilities(
    session: DaemonSession,
    page: Any,  # noqa: F811
) -> None:
    """What a person looks at to learn why a toast looks the way it does."""
    async with running_server(renderer="freedesktop", backends=None, http_enabled=True, http_port=0) as hub:
        out = await asyncio.to_thread(
            subprocess.run,
            [*TOASTY, "status", "--address", hub.address],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        desktop = json.loads(out.stdout)["desktops"][0]
        profile = hub.renderer.status()[0]
        assert desktop["backend"] == "freedesktop"
        assert desktop["available"] is True
        assert desktop["serverName"] == profile.server_name != ""
        assert desktop["serverVersion"] == profile.server_version != ""
        assert set(desktop["capabilities"]) == set(profile.capabilities) >= {"actions", "body"}

        await page.goto(f"http://127.0.0.1:{hub.http_port}/#token={os.environ['TOASTY_TOKEN']}")
        shown = page.locator("#server dt", has_text="desktop: freedesktop").locator("xpath=following-sibling::dd[1]")
        await shown.wait_for()
        text = await shown.text_content() or ""
        assert profile.server_name in text
        assert profile.server_version in text
        assert "actions" in text


async def _status(hub: ToastyServer) -> list[object]:
    async with ResilientNotificationClient(hub.address) as client:
        return list((await client.status()).desktops)


def test_the_daemon_table_lists_every_tested_daemon() -> None:
    rows = DOC.read_text().split("<!-- daemon-table -->")[1]
    for spec in DAEMONS:
        assert re.search(rf"^\| `?{re.escape(spec.name)}", rows, re.M), spec.name


async def test_do_not_disturb_holds_toasts_off_the_desktop_and_ends_with_one_digest(
    session: DaemonSession, monitor: BusMonitor, hub: ToastyServer
) -> None:
    """Issue 20 on a real daemon: while do-not-disturb is on nothing reaches Notify but a critical toast;
    turning it off sends one digest, then the held question still open."""
    async with (
        ResilientNotificationClient(hub.address) as person,
        ResilientNotificationClient(hub.address, agent_id="builder") as agent,
    ):
        await person.do_not_disturb(True)
        await agent.publish(TextNotification(title="Held build news"))
        asking = asyncio.ensure_future(agent.ask(QUESTION, timeout=30))
        await agent.publish(TextNotification(title="Server on fire", urgency=Urgency.CRITICAL))
        await monitor.notified("Server on fire")
        await hub.renderer.drain()
        assert [c.summary for c in monitor.notifies] == ["Server on fire"]

        await person.do_not_disturb(False)
        (digest,) = await monitor.notified("2 notifications from 1 agent while you were away")
        assert "Held build news" in digest.body
        await monitor.notified(QUESTION.title)  # the held question, shown now that it may be
        assert not asking.done()
        asking.cancel()


async def test_scheduled_expiring_and_grouped_toasts_on_the_daemon(
    session: DaemonSession, monitor: BusMonitor, hub: ToastyServer
) -> None:
    """Issue 20 on a real daemon: nothing reaches Notify before its time, CloseNotification at its expiry,
    and a group is one toast replaced in place with its count."""
    import datetime as dt

    now = dt.datetime.now().astimezone()
    async with ResilientNotificationClient(hub.address, agent_id="planner") as agent:
        await agent.publish(TextNotification(title="Later", deliver_at=now + dt.timedelta(seconds=1.5)))
        await agent.publish(TextNotification(title="Short-lived", expires_at=now + dt.timedelta(seconds=1.5)))
        (short,) = await monitor.notified("Short-lived")
        assert "#mute" in short.actions  # the hub's own action: mute this agent for an hour
        assert [c.summary for c in monitor.notifies] == ["Short-lived"]  # "Later" waits for its time
        await monitor.notified("Later", within=5)
        await wait_until(lambda: short.daemon_id in monitor.closes, within=5)  # taken down at its expiry

        for job in (1, 2):
            await agent.publish(TextNotification(title=f"job {job} failed", group="CI"))
        first, second = (
            await monitor.notified("job 1 failed"),
            await monitor.notified("CI: 2 new — latest: job 2 failed"),
        )
        assert second[0].replaces_id == first[0].daemon_id  # one toast, updated in place


async def test_a_restart_with_a_scheduled_toast_pending_and_do_not_disturb_on(
    session: DaemonSession, monitor: BusMonitor, tmp_path: Path
) -> None:
    """The hub restarts; do-not-disturb is still on when the scheduled toast's time comes, so it is held;
    turning it off shows one digest naming it. Observed as Notify calls on the daemon."""
    import datetime as dt

    settings = {
        "renderer": "freedesktop",
        "backends": None,
        "store": "sqlite",
        "db_path": tmp_path / "t.db",
        "attention_state_file": tmp_path / "attention.json",
    }
    async with running_server(**settings) as hub, ResilientNotificationClient(hub.address, agent_id="nightly") as agent:
        await agent.do_not_disturb(True)
        when = dt.datetime.now().astimezone() + dt.timedelta(seconds=2)
        await agent.publish(TextNotification(title="Report ready", deliver_at=when))
    async with running_server(**settings) as hub, ResilientNotificationClient(hub.address, agent_id="nightly") as agent:
        await wait_until(lambda: [h.title for h in hub.attention_gate.state().held] == ["Report ready"], within=6)
        assert monitor.notifies == []  # its time came under do-not-disturb: held, not shown
        await agent.do_not_disturb(False)
        (digest,) = await monitor.notified("1 notification from 1 agent while you were away")
        assert "Report ready" in digest.body


async def test_a_snoozed_question_leaves_the_daemon_and_comes_back(
    session: DaemonSession, monitor: BusMonitor, hub: ToastyServer
) -> None:
    async with (
        ResilientNotificationClient(hub.address, agent_id="deployer") as agent,
        ResilientNotificationClient(hub.address) as person,
    ):
        asking = asyncio.ensure_future(agent.ask(QUESTION, timeout=30))
        (first,) = await monitor.notified(QUESTION.title)
        assert first.actions[-4:-2] == ["#snooze", "Remind me in 10 minutes"]
        (question,) = await person.open_questions()
        await person.snooze(question.notification_id, 1)
        await wait_until(lambda: first.daemon_id in monitor.closes, within=10.0)  # taken down
        await monitor.notified(QUESTION.title, count=2)  # and shown again a second later
        assert not asking.done()
        asking.cancel()
