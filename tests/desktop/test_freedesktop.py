"""The freedesktop backend against a real dunst on a real (headless) X server and D-Bus session bus.

Every assertion is about what dunst really got: its on-display hook (what it put on screen, with id,
progress value, urgency, icon and body), its control interface (how many are displayed), its action menu
(driven by a scripted dmenu), a screenshot, and the interactions the backend reported back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import shutil
from pathlib import Path
from uuid import uuid4

import grpc
import pytest

from tests.desktop.session import DUNST_REGION, Desktop, Interactions, region_pixels, wait_until, write_png
from tests.requires import missing
from toasty_proto import v1
from toasty_server.render.backend import BackendUnavailable, Interaction, InteractionKind
from toasty_server.render.console import ConsoleBackend
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.freedesktop import FreedesktopBackend, NotificationDaemonError
from toasty_server.render.spec import (
    ButtonSpec,
    ChoiceSpec,
    ImageSpec,
    Kind,
    Placement,
    ProgressSpec,
    ProgressState,
    SelectionSpec,
    TextInputSpec,
    ToastSpec,
    Urgency,
)
from toasty_server.testing import running_server

pytestmark = pytest.mark.timeout(30)

APPROVE = ButtonSpec("approve", "Approve")
REJECT = ButtonSpec("reject", "Reject")


def toast(kind: Kind, title: str, **fields: object) -> ToastSpec:
    return ToastSpec(notification_id=uuid4().hex, publisher="agent-1", kind=kind, title=title, **fields)  # type: ignore[arg-type]


def progress(
    value: float, status: str = "", *, key: str = "build", title: str = "Build", **fields: object
) -> ToastSpec:
    spec = ProgressSpec(key=key, value=value, status=status, caption="release", **fields)  # type: ignore[arg-type]
    return toast(Kind.PROGRESS, title, lines=(status,) if status else (), progress=spec)


async def nothing_more(interactions: Interactions, count: int) -> None:
    """No further interaction arrives (dunst answers within ~60 ms; give it a few times that)."""
    await asyncio.sleep(0.3)
    assert len(interactions.items) == count, interactions.items


# payload types ------------------------------------------------------------------------------------------


async def test_text_shows_title_lines_and_attribution_escaped(desktop: Desktop, backend: FreedesktopBackend) -> None:
    await backend.show(
        toast(Kind.TEXT, "Tests <done> & dusted", lines=("3 <failed> & 2 passed", "see log"), attribution="via CI")
    )

    shown = await desktop.wait_displayed("Tests <done> & dusted")  # the summary is plain text, never markup
    assert shown.app_name == "Toasty"
    assert shown.body == "3 &lt;failed&gt; &amp; 2 passed\nsee log\n<i>via CI</i>"
    assert shown.urgency == "NORMAL"
    assert shown.progress == -1
    assert await desktop.dunst.displayed_length() == 1
    assert "markup" not in desktop.session.log_tail("dunst").lower()  # dunst parsed our body without complaint


@pytest.mark.parametrize(
    ("urgency", "dunst_urgency", "icon", "expire_ms"),
    [
        (Urgency.INFO, "NORMAL", "dialog-information", "10000"),
        (Urgency.WARNING, "NORMAL", "dialog-warning", "10000"),
        (Urgency.CRITICAL, "CRITICAL", "dialog-error", "0"),  # dunst never expires critical ones
    ],
)
async def test_urgency(
    desktop: Desktop, backend: FreedesktopBackend, urgency: Urgency, dunst_urgency: str, icon: str, expire_ms: str
) -> None:
    await backend.show(toast(Kind.TEXT, f"Urgency {urgency.value}", urgency=urgency, lines=("disk 91% full",)))

    shown = await desktop.wait_displayed(f"Urgency {urgency.value}")
    assert shown.urgency == dunst_urgency
    assert Path(shown.icon_path).name == f"{icon}.png"
    assert shown.timeout == expire_ms


@pytest.mark.parametrize("placement", list(Placement))
async def test_image_text_shows_the_image(
    desktop: Desktop, backend: FreedesktopBackend, tmp_path: Path, placement: Placement
) -> None:
    image = write_png(tmp_path / "chart.png", 48, 48, (0, 200, 0))
    await backend.show(
        toast(Kind.IMAGE_TEXT, "Chart ready", lines=("weekly numbers",), image=ImageSpec(image, placement=placement))
    )

    shown = await desktop.wait_displayed("Chart ready")
    assert shown.icon_path == str(image)  # sent as a plain path (app_icon and image-path)
    assert shown.body == "weekly numbers"


async def test_image_url_not_downloaded_is_skipped(desktop: Desktop, backend: FreedesktopBackend) -> None:
    await backend.show(toast(Kind.IMAGE_TEXT, "No image yet", image=ImageSpec(None, url="https://example.com/a.png")))

    shown = await desktop.wait_displayed("No image yet")
    assert Path(shown.icon_path).name == "dialog-information.png"


async def test_progress_updates_in_place(desktop: Desktop, backend: FreedesktopBackend) -> None:
    await backend.show(progress(0.4, "compiling"))
    first = await desktop.wait_displayed("Build", progress=40)
    assert first.category == "transfer"
    assert first.body == "compiling\nrelease · 40%"

    await backend.show(progress(0.8, "linking"))
    second = await desktop.wait_displayed("Build", progress=80)
    assert second.id == first.id  # replaced, not stacked
    assert second.body == "linking\nrelease · 80%"
    assert await desktop.dunst.displayed_length() == 1

    await backend.show(progress(1.0, "all green", state=ProgressState.SUCCEEDED))
    done = await desktop.wait_displayed("Build", progress=100)
    assert (done.id, done.category, done.body) == (first.id, "transfer.complete", "all green\nrelease · 100% · done")
    assert await desktop.dunst.displayed_length() == 1

    # another key, or the same key from another publisher, is another toast
    await backend.show(progress(0.1, key="deploy", title="Deploy", value_override="1/10 hosts"))
    other = await desktop.wait_displayed("Deploy", progress=10)
    assert other.body == "release · 1/10 hosts"
    await backend.show(dataclasses.replace(progress(0.5, title="Their build"), publisher="agent-2"))
    their = await desktop.wait_displayed("Their build", progress=50)
    assert len({first.id, other.id, their.id}) == 3
    assert await desktop.dunst.displayed_length() == 3


async def test_indeterminate_progress_has_no_value(desktop: Desktop, backend: FreedesktopBackend) -> None:
    await backend.show(progress(0.0, "waiting for a runner", title="Queued", indeterminate=True))

    shown = await desktop.wait_displayed("Queued")
    assert shown.progress == -1
    assert shown.category == "transfer"
    assert shown.body == "waiting for a runner\nrelease"


async def test_progress_closed_by_user_starts_a_new_toast(
    desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions
) -> None:
    await backend.show(progress(0.2))
    first = await desktop.wait_displayed("Build", progress=20)
    await desktop.dunst.close_last()
    await interactions.wait()

    await backend.show(progress(0.3))
    second = await desktop.wait_displayed("Build", progress=30)
    assert second.id != first.id
    assert await desktop.dunst.displayed_length() == 1


# interactions -------------------------------------------------------------------------------------------


async def test_user_clicks_approve(desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions) -> None:
    question = toast(Kind.INTERACTIVE, "Deploy v1.2?", lines=("to production",), buttons=(APPROVE, REJECT))
    await backend.show(question)
    shown = await desktop.wait_displayed("Deploy v1.2?")

    await desktop.choose(shown.id, "approve")

    (answer,) = await interactions.wait()
    assert answer == Interaction(question.notification_id, InteractionKind.BUTTON, "freedesktop", button_id="approve")
    await desktop.wait_empty()  # dunst leaves it up: the backend closed it
    await nothing_more(interactions, 1)  # its NotificationClosed (reason 3) is not a second outcome
    menu = desktop.session.menu_log.read_text()
    assert f"#Approve (Deploy v1.2?) [{shown.id},approve]" in menu
    assert f"#Reject (Deploy v1.2?) [{shown.id},reject]" in menu


async def test_click_on_the_body_activates(
    desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions
) -> None:
    note = toast(Kind.TEXT, "Open the report", lines=("click me",))
    await backend.show(note)
    shown = await desktop.wait_displayed("Open the report")

    await desktop.choose(shown.id, "default")

    (answer,) = await interactions.wait()
    assert (answer.notification_id, answer.kind) == (note.notification_id, InteractionKind.ACTIVATED)
    await desktop.wait_empty()


async def test_click_on_the_body_opens_the_launch_url(
    desktop: Desktop,
    backend: FreedesktopBackend,
    interactions: Interactions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As Windows' protocol activation: the desktop's URL handler (xdg-open) gets the launch URL."""
    opened = tmp_path / "opened.txt"
    opener = tmp_path / "xdg-open"
    opener.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    opener.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    note = toast(Kind.TEXT, "Report ready", launch_url="https://ci.example/report/42")
    await backend.show(note)
    shown = await desktop.wait_displayed("Report ready")
    await desktop.choose(shown.id, "default")
    (answer,) = await interactions.wait()
    assert answer.kind is InteractionKind.ACTIVATED
    await wait_until(lambda: opened.exists() or None)
    assert opened.read_text().strip() == "https://ci.example/report/42"


async def test_user_closes_it(desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions) -> None:
    question = toast(Kind.INTERACTIVE, "Rollback?", buttons=(APPROVE,))
    await backend.show(question)
    await desktop.wait_displayed("Rollback?")

    await desktop.dunst.close_last()  # `dunstctl close`

    (answer,) = await interactions.wait()
    assert (answer.notification_id, answer.kind) == (question.notification_id, InteractionKind.DISMISSED)
    await nothing_more(interactions, 1)


async def test_timeout(desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions) -> None:
    note = toast(Kind.TEXT, "Short-lived", display_seconds=1)
    await backend.show(note)
    shown = await desktop.wait_displayed("Short-lived")
    assert shown.timeout == "1000"

    (answer,) = await interactions.wait(within=5)
    assert (answer.notification_id, answer.kind) == (note.notification_id, InteractionKind.TIMED_OUT)
    assert await desktop.dunst.displayed_length() == 0


async def test_withdraw_closes_it_without_an_outcome(
    desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions
) -> None:
    question = toast(Kind.INTERACTIVE, "Still needed?", buttons=(APPROVE,))
    await backend.show(question)
    await desktop.wait_displayed("Still needed?")

    await backend.withdraw(question.notification_id)

    await desktop.wait_empty()
    await nothing_more(interactions, 0)
    await backend.withdraw(question.notification_id)  # gone already: nothing to do, no error


async def test_inputs_are_reported_unsupported(
    desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions
) -> None:
    question = toast(
        Kind.INTERACTIVE,
        "Deploy where?",
        buttons=(APPROVE,),
        text_inputs=(TextInputSpec("comment", "Comment"),),
        selections=(SelectionSpec("env", "Environment", (ChoiceSpec("prod", "Production"),)),),
    )
    await backend.show(question)

    (answer,) = await interactions.wait()
    assert (answer.notification_id, answer.kind) == (question.notification_id, InteractionKind.UNSUPPORTED)
    assert "comment, env" in answer.detail
    assert "inline-reply" in answer.detail
    shown = await desktop.wait_displayed("Deploy where?")  # still shown, so the user sees the question

    # no action is offered (a button answer without the inputs would be a second, wrong outcome)
    await desktop.choose(shown.id, "approve")
    await desktop.dunst.close_last()
    await nothing_more(interactions, 1)
    menu_log = desktop.session.menu_log
    assert f"[{shown.id}," not in (menu_log.read_text() if menu_log.exists() else "")


async def test_daemon_without_markup_gets_plain_text(
    desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions
) -> None:
    session = desktop.session
    session.kill("dunst")
    await wait_until(lambda: not backend.capabilities)  # it noticed: capabilities are asked again
    session.start_dunst("dunstrc-plain")  # `markup = no`: dunst drops the body-markup capability
    try:
        await backend.show(toast(Kind.TEXT, "Plain", lines=("a < b & c",), attribution="via CI"))
        shown = await desktop.wait_displayed("Plain")
        assert shown.body == "a < b & c\nvia CI"
        assert "body-markup" not in backend.capabilities
    finally:
        session.kill("dunst")
        session.start_dunst()


# failures and recovery ----------------------------------------------------------------------------------


async def test_dunst_killed_falls_back_to_console_then_recovers(desktop: Desktop, interactions: Interactions) -> None:
    """The daemon goes: toasts go to the console at once, the open question stays open; it comes back: toasts
    go to it again, and the open question is shown on it again, where it can be answered."""
    console = io.StringIO()
    backend = FreedesktopBackend()
    renderer = Renderer([backend, ConsoleBackend(console)])
    renderer.on_interaction(interactions)
    await renderer.start()
    try:
        assert renderer.backend_names == ["freedesktop", "console"]
        pending = toast(Kind.INTERACTIVE, "Waiting for you", buttons=(APPROVE,))
        assert (await renderer.show(pending)).backend == "freedesktop"
        await desktop.wait_displayed("Waiting for you")
        shown_before = len(desktop.displayed())

        desktop.session.kill("dunst")
        await wait_until(lambda: not backend.available)

        receipt = await renderer.show(toast(Kind.TEXT, "While dunst is down", lines=("kept",)))
        assert (receipt.shown, receipt.backend, receipt.error) == (True, "console", "")  # skipped, not failed
        assert renderer.failed["freedesktop"] == 0
        assert "While dunst is down — kept" in console.getvalue()
        assert [s.available for s in renderer.status()] == [False, True]
        assert interactions.items == []  # the question was not failed: it is still open

        desktop.session.start_dunst()
        await wait_until(lambda: backend.available)
        # shown again on the new daemon
        (again,) = await wait_until(
            lambda: [d for d in desktop.displayed()[shown_before:] if d.summary == "Waiting for you"]
        )
        receipt = await renderer.show(toast(Kind.TEXT, "Dunst is back"))
        assert (receipt.shown, receipt.backend, receipt.error) == (True, "freedesktop", "")
        await desktop.wait_displayed("Dunst is back")
        assert renderer.status()[0].server_name == "dunst"

        await desktop.choose(again.id, "approve")
        (answer,) = await interactions.wait()
        assert (answer.notification_id, answer.kind, answer.button_id) == (
            pending.notification_id,
            InteractionKind.BUTTON,
            "approve",
        )
    finally:
        await renderer.close()


async def test_bus_lost_then_reconnects(
    desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions
) -> None:
    plain = toast(Kind.TEXT, "Plain before the outage")
    await backend.show(plain)
    await backend.show(toast(Kind.INTERACTIVE, "Before the outage", buttons=(APPROVE,)))
    await desktop.wait_displayed("Before the outage")
    shown_before = len(desktop.displayed())
    session = desktop.session

    session.kill("dunst")
    session.kill("dbus-daemon")

    (lost,) = await interactions.wait()  # the plain toast's end is reported; the question stays open
    assert (lost.notification_id, lost.kind) == (plain.notification_id, InteractionKind.FAILED)
    await wait_until(lambda: not backend.available)
    with pytest.raises((BackendUnavailable, NotificationDaemonError)):
        await backend.show(toast(Kind.TEXT, "Nobody listens"))

    session.start_bus()
    session.start_dunst()
    await desktop.reconnect()
    await wait_until(lambda: backend.available, within=15)  # reconnected in the background, by itself
    # the open question, shown again on the new bus's daemon
    await wait_until(lambda: [d for d in desktop.displayed()[shown_before:] if d.summary == "Before the outage"])
    await backend.show(toast(Kind.TEXT, "Back on the bus"))
    await desktop.wait_displayed("Back on the bus")
    await nothing_more(interactions, 1)


async def test_start_without_a_daemon_then_one_starts(desktop: Desktop) -> None:
    """A hub started before the desktop: the backend starts anyway, unavailable, and is used once a
    daemon owns the name."""
    desktop.session.kill("dunst")
    backend = FreedesktopBackend()
    try:
        await backend.start(Interactions())
        assert not backend.available
        assert backend.status().detail == "waiting for a notification daemon on the session bus"
        desktop.session.start_dunst()
        await wait_until(lambda: backend.available)
        await backend.show(toast(Kind.TEXT, "The desktop is up"))
        await desktop.wait_displayed("The desktop is up")
        status = backend.status()
        assert (status.server_name, status.server_vendor) == ("dunst", "knopwob")
        assert "actions" in status.capabilities
    finally:
        await backend.close()
        if not desktop.session.is_running("dunst"):
            desktop.session.start_dunst()


async def test_start_without_a_bus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    with pytest.raises(BackendUnavailable, match="cannot connect to the D-Bus session bus"):
        await FreedesktopBackend().start(Interactions())

    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(BackendUnavailable, match="no D-Bus session bus"):
        await FreedesktopBackend().start(Interactions())


# what the user sees, and the whole way through the server --------------------------------------------


async def test_screenshot_of_progress_and_interactive(
    desktop: Desktop, backend: FreedesktopBackend, tmp_path: Path
) -> None:
    if shutil.which("import") is None:
        missing("ImageMagick's `import` is missing: apt-get install -y imagemagick", "TOASTY_REQUIRE_DESKTOP")
    before = list(region_pixels(desktop.session.screenshot(tmp_path / "before.ppm"), *DUNST_REGION))
    assert max(max(p) for p in before) < 16  # nothing there yet (Xvfb's root is black)

    image = write_png(tmp_path / "logo.png", 48, 48, (0, 200, 0))
    await backend.show(progress(0.3, "uploading"))
    await backend.show(progress(0.6, "uploading"))
    await backend.show(
        toast(Kind.INTERACTIVE, "Ship it?", lines=("all checks green",), image=ImageSpec(image), buttons=(APPROVE,))
    )
    await desktop.wait_displayed("Build", progress=60)
    await desktop.wait_displayed("Ship it?")
    assert await desktop.dunst.displayed_length() == 2

    after = list(region_pixels(desktop.session.screenshot(tmp_path / "toasts.ppm"), *DUNST_REGION))
    lit = sum(1 for p in after if max(p) >= 16) / len(after)
    green = sum(1 for r, g, b in after if g > 150 and r < 60 and b < 60)  # the image, scaled to 32x32
    assert lit > 0.15, f"dunst region mostly blank ({lit:.0%} lit), see {tmp_path / 'toasts.ppm'}"
    assert len(set(after)) > 20  # text and bar are anti-aliased: not a flat fill
    assert green >= 32 * 32 * 0.8, f"image not drawn ({green} green pixels)"


async def test_published_notification_reaches_dunst(desktop: Desktop) -> None:
    async with running_server(renderer="freedesktop", backends=None) as server:
        assert server.renderer.backend_names == ["freedesktop", "console"]
        async with grpc.aio.insecure_channel(server.address) as channel:
            publish = channel.unary_unary(
                v1.NOTIFICATION_SERVICE_PUBLISH.path,
                request_serializer=bytes,
                response_deserializer=v1.PublishResponse.FromString,
            )
            notification = v1.Notification(
                urgency=v1.UrgencyLevel.CRITICAL,
                progress=v1.Progress(
                    header=v1.Header(title="Nightly build"), progress_key="nightly", value=0.5, status="halfway"
                ),
            )
            response = await publish(v1.PublishRequest(notification=notification), metadata=(("x-agent-id", "ci"),))
            assert response.toast_requested

            shown = await desktop.wait_displayed("Nightly build", progress=50)
            assert (shown.urgency, shown.app_name, shown.body) == ("CRITICAL", "Toasty", "halfway\n50%")
        await server.renderer.drain()
        assert server.renderer.shown["freedesktop"] == 1


async def test_a_question_never_expires_on_the_daemon(
    desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions
) -> None:
    """Its life is the asker's deadline, not the daemon's: even with display_seconds it is shown with
    expire_timeout 0 (never), and no outcome comes from the desktop while nobody answers (issue 17)."""
    question = toast(Kind.INTERACTIVE, "Still open?", buttons=(APPROVE, REJECT), display_seconds=1)
    await backend.show(question)
    shown = await desktop.wait_displayed("Still open?")
    assert shown.timeout == "0"
    await nothing_more(interactions, 0)
    await asyncio.sleep(1.5)  # past the display_seconds it asked for: still no outcome, still shown
    await nothing_more(interactions, 0)
    assert await desktop.dunst.displayed_length() == 1


async def test_a_daemon_that_expires_a_question_anyway_leaves_it_open(
    desktop: Desktop, backend: FreedesktopBackend, interactions: Interactions
) -> None:
    """Some daemons expire every toast after a few seconds (NotificationClosed reason 1) whatever was
    asked: the question then stays answerable elsewhere until its deadline; it is not timed out. Here a
    real dunst configured to expire everything after a second."""
    session = desktop.session
    session.kill("dunst")
    await wait_until(lambda: not backend.capabilities)
    session.start_dunst("dunstrc-expiring")
    try:
        question = toast(Kind.INTERACTIVE, "Expired by the daemon", buttons=(APPROVE,))
        await backend.show(question)
        await desktop.wait_displayed("Expired by the daemon")
        await wait_until(lambda: question.notification_id not in backend._daemon_ids, within=5)  # it expired
        await nothing_more(interactions, 0)
        note = toast(Kind.TEXT, "A plain toast")  # a plain toast the daemon expires: TIMED_OUT, as before
        await backend.show(note)
        (answer,) = await interactions.wait(within=5)
        assert (answer.notification_id, answer.kind) == (note.notification_id, InteractionKind.TIMED_OUT)
    finally:
        session.kill("dunst")
        session.start_dunst()
