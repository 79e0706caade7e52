"""The Notify arguments adapt to what each freedesktop daemon can do (pure mapping; the real daemons are
driven in tests/desktop)."""

from __future__ import annotations

from pathlib import Path

from toasty_server.render.daemon_profile import DaemonProfile, notify_arguments, progress_text
from toasty_server.render.spec import (
    ButtonSpec,
    ImageSpec,
    Kind,
    ProgressSpec,
    ProgressState,
    TextInputSpec,
    ToastSpec,
    Urgency,
)

DUNST = DaemonProfile("dunst", "knopwob", "1.9.0", "1.2", frozenset({"actions", "body", "body-markup"}))
LXQT = DaemonProfile(
    "lxqt-notificationd", "lxqt.org", "1.2.0", "1.2", frozenset({"actions", "body", "body-markup", "persistence"})
)
BARE = DaemonProfile("minimal", "nobody", "0.1", "1.2", frozenset({"body"}))
QUESTION = ToastSpec("q1", "agent", Kind.INTERACTIVE, "Deploy?", buttons=(ButtonSpec("approve", "Approve"),))


def bar(value: float) -> ToastSpec:
    return ToastSpec("p1", "agent", Kind.PROGRESS, "Build", progress=ProgressSpec("build", value, caption="release"))


def test_a_question_asks_for_no_expiry_unless_that_blocks_the_daemon() -> None:
    assert notify_arguments(QUESTION, DUNST).expire_timeout == 0
    assert notify_arguments(QUESTION, LXQT).expire_timeout == 0
    gnome = DaemonProfile("Notification Daemon", "GNOME", "3.20.0", "1.2", frozenset({"actions", "persistence"}))
    assert notify_arguments(QUESTION, gnome).expire_timeout == -1  # one popup at a time: it would block
    mate = DaemonProfile("Notification Daemon", "MATE", "1.26.0", "1.1", frozenset({"actions"}))
    assert notify_arguments(QUESTION, mate).expire_timeout == 0
    plain = ToastSpec("t1", "agent", Kind.TEXT, "Done", display_seconds=3)
    assert notify_arguments(plain, DUNST).expire_timeout == 3000
    assert notify_arguments(ToastSpec("t2", "agent", Kind.TEXT, "Done"), DUNST).expire_timeout == -1


def test_buttons_become_actions_only_where_they_can_be_answered() -> None:
    assert notify_arguments(QUESTION, DUNST).actions == ["approve", "Approve", "default", ""]
    args = notify_arguments(QUESTION, BARE)
    assert args.actions == []
    assert "'actions' capability" in args.unsupported
    assert "approve" in args.unsupported
    with_input = ToastSpec(
        "q2", "agent", Kind.INTERACTIVE, "Why?", buttons=QUESTION.buttons, text_inputs=(TextInputSpec("reason"),)
    )
    assert "inputs reason cannot be shown" in notify_arguments(with_input, DUNST).unsupported


def test_progress_is_a_value_hint_where_drawn_and_a_text_bar_elsewhere() -> None:
    drawn = notify_arguments(bar(0.4), DUNST)
    assert drawn.hints["value"].value == 40
    assert "release · 40%" in drawn.body
    assert "▓" not in drawn.body
    text = notify_arguments(bar(0.4), LXQT)
    assert "value" not in text.hints  # notify-osd draws an empty bubble for it; the others ignore it
    assert "release · ▓▓▓▓░░░░░░ 40 %" in text.body
    assert text.hints["category"].value == "transfer"
    done = ProgressSpec("build", 1.0, state=ProgressState.SUCCEEDED)
    assert progress_text(done, bar=True) == "▓▓▓▓▓▓▓▓▓▓ 100 % · done"
    assert progress_text(ProgressSpec("build", 0.0, indeterminate=True, caption="waiting"), bar=True) == "waiting"


def test_an_image_goes_as_a_plain_path_in_the_app_icon_and_the_hint_the_daemon_reads(tmp_path: Path) -> None:
    image = tmp_path / "shot.png"
    inline = ToastSpec("i1", "agent", Kind.IMAGE_TEXT, "Shot", image=ImageSpec(image))
    on_dunst = notify_arguments(inline, DUNST)
    assert on_dunst.app_icon == str(image) == on_dunst.hints["image-path"].value
    assert "image_path" not in on_dunst.hints  # dunst ignores it
    on_lxqt = notify_arguments(inline, LXQT)
    assert on_lxqt.app_icon == str(image) == on_lxqt.hints["image_path"].value
    assert "image-path" not in on_lxqt.hints  # given it, lxqt draws no image at all
    plain = ToastSpec("t1", "agent", Kind.TEXT, "No picture", urgency=Urgency.WARNING)
    assert notify_arguments(plain, DUNST).app_icon == "dialog-warning"


def test_markup_is_escaped_only_where_the_daemon_reads_markup() -> None:
    toast = ToastSpec("m1", "agent", Kind.TEXT, "T", lines=("a < b & c",), attribution="agent")
    assert notify_arguments(toast, DUNST).body == "a &lt; b &amp; c\n<i>agent</i>"
    assert notify_arguments(toast, BARE).body == "a < b & c\nagent"


def test_the_body_says_how_to_answer_where_the_toast_does_not_show_it() -> None:
    """dunst takes actions but draws no buttons (only "(A)"); a question with inputs no daemon can take."""
    on_dunst = notify_arguments(QUESTION, DUNST).body
    assert on_dunst.endswith("<i>Approve: middle-click to choose, or `toasty answer`</i>")
    assert "middle-click" not in notify_arguments(QUESTION, LXQT).body  # draws its buttons
    with_input = ToastSpec(
        "q3", "agent", Kind.INTERACTIVE, "Why?", buttons=QUESTION.buttons, text_inputs=(TextInputSpec("reason"),)
    )
    assert "on the Toasty page or with `toasty answer`" in notify_arguments(with_input, LXQT).body
    assert "toasty answer" not in notify_arguments(ToastSpec("t", "agent", Kind.TEXT, "Plain"), DUNST).body
