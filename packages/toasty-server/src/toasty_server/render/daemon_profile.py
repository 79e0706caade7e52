"""What a freedesktop notification daemon can show, and the Notify arguments that fit it.

Daemons differ in ways the protocol only partly announces (measured on six of them, see docs/desktop.md):
- `GetCapabilities` says whether buttons can be answered (`actions`) and whether the body takes markup
  (`body-markup`).
- A question asks for no expiry (0), so it stays on screen until answered, except from GNOME's
  notification-daemon: it shows one popup at a time, holds every later one behind a never-expiring
  popup, and does not take that popup down on CloseNotification. There it gets the usual popup and is
  answered on the page or the terminal after that.
- Nothing announces the progress `value` hint: only some daemons draw it (dunst, xfce4-notifyd), others
  ignore it, and notify-osd shows an empty bubble when it comes with a summary and body. So the hint goes
  only to daemons known to draw it, by their `GetServerInformation` name; every other daemon gets a text
  bar in the body ("▓▓▓▓░░░░░░ 40 %").
- Images: every daemon measured draws an app_icon given as a plain path, so an image goes there (it
  replaces the urgency's themed icon), and in the image hint the daemon reads: `image-path` (spec 1.2)
  for most; lxqt-notificationd and notify-osd ignore it and, given it, draw no image at all, so they
  get the spec 1.1 `image_path`, which dunst in turn ignores. Raw `image-data` would need an imaging
  library to decode the file; the path hints and app_icon already reach every daemon measured.

Everything here is a pure function of the toast and the profile, so the mapping is tested without a bus.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from dbus_fast import Variant

from toasty_server.render.spec import ProgressSpec, ProgressState, ToastSpec, Urgency

APP_NAME = "Toasty"
DEFAULT_ACTION = "default"

URGENCY_BYTE = {Urgency.INFO: 1, Urgency.WARNING: 1, Urgency.CRITICAL: 2}
APP_ICON = {Urgency.INFO: "dialog-information", Urgency.WARNING: "dialog-warning", Urgency.CRITICAL: "dialog-error"}
SOUND_NAME = {Urgency.WARNING: "dialog-warning", Urgency.CRITICAL: "dialog-error"}  # INFO: the daemon's default
PROGRESS_CATEGORY = {
    ProgressState.RUNNING: "transfer",
    ProgressState.SUCCEEDED: "transfer.complete",
    ProgressState.FAILED: "transfer.error",
}
# GetServerInformation names of daemons that draw the `value` hint as a bar (measured, docs/desktop.md)
DRAWS_PROGRESS_VALUE = frozenset({"dunst", "Xfce Notify Daemon"})
# ... and of daemons that read only the spec 1.1 `image_path` hint (given `image-path`, they draw no image)
READS_OLD_IMAGE_HINT = frozenset({"lxqt-notificationd", "notify-osd"})
# ... and of daemons that take actions but draw no buttons (dunst shows "(A)" and opens a menu on a
# middle click): the body says what to do
ACTIONS_WITHOUT_BUTTONS = frozenset({"dunst"})
# ... and (name, vendor) of daemons where a never-expiring popup blocks every later one
BLOCKED_BY_NEVER_EXPIRING = frozenset({("Notification Daemon", "GNOME")})
TEXT_BAR_CELLS = 10
MAX_EXPIRE_MS = 2**31 - 1  # expire_timeout is an int32


@dataclass(frozen=True, slots=True)
class DaemonProfile:
    """One daemon, as it describes itself (GetServerInformation, GetCapabilities)."""

    name: str
    vendor: str
    version: str
    spec_version: str
    capabilities: frozenset[str]

    @property
    def actions(self) -> bool:
        return "actions" in self.capabilities

    @property
    def markup(self) -> bool:
        return "body-markup" in self.capabilities

    @property
    def questions_may_stay(self) -> bool:
        """A never-expiring question is safe here (it does not hold every later toast back)."""
        return (self.name, self.vendor) not in BLOCKED_BY_NEVER_EXPIRING

    @property
    def draws_progress_value(self) -> bool:
        return self.name in DRAWS_PROGRESS_VALUE

    @property
    def image_hint(self) -> str:
        return "image_path" if self.name in READS_OLD_IMAGE_HINT else "image-path"

    def describe(self) -> str:
        return f"{self.name} {self.version} ({self.vendor}, spec {self.spec_version})"


@dataclass(frozen=True, slots=True)
class NotifyArguments:
    """The Notify call for one toast on one daemon (replaces_id is the backend's business)."""

    app_icon: str
    summary: str
    body: str
    actions: list[str]
    hints: dict[str, Variant]
    expire_timeout: int
    unsupported: str  # why the toast cannot be answered here ('' when it can)


def notify_arguments(toast: ToastSpec, profile: DaemonProfile) -> NotifyArguments:
    unsupported = unsupported_reason(toast, profile)
    actions: list[str] = []
    if profile.actions and not unsupported:
        for button in (*toast.buttons, *toast.actions):  # the publisher's, then the hub's (mute, snooze)
            actions += [button.id, button.label]
        if DEFAULT_ACTION not in {b.id for b in toast.buttons}:
            actions += [DEFAULT_ACTION, ""]
    return NotifyArguments(
        app_icon=_app_icon(toast),
        summary=toast.title or APP_NAME,
        body=body(toast, profile, how_to_answer(toast, profile, unsupported)),
        actions=actions,
        hints=hints(toast, profile),
        expire_timeout=expire_ms(toast, profile),
        unsupported=unsupported,
    )


def unsupported_reason(toast: ToastSpec, profile: DaemonProfile) -> str:
    """Why this toast cannot be answered here ('' when it can); the detail of the UNSUPPORTED outcome."""
    inputs = [i.id for i in toast.text_inputs] + [s.id for s in toast.selections]
    if inputs:
        reason = (
            "the notification daemon has no inline-reply"
            if "inline-reply" not in profile.capabilities
            else "Toasty does not use freedesktop inline-reply yet"
        )
        return f"inputs {', '.join(inputs)} cannot be shown on this desktop: {reason}"
    if toast.buttons and not profile.actions:
        labels = ", ".join(b.id for b in toast.buttons)
        return f"buttons {labels} cannot be answered: the notification daemon has no 'actions' capability"
    return ""


def expire_ms(toast: ToastSpec, profile: DaemonProfile) -> int:
    """A question's life is the asker's deadline, kept by the server, not the daemon's timer: it asks
    for no expiry (0) where that is safe. Other toasts last display_seconds, or the daemon's default (-1)."""
    if toast.buttons:
        return 0 if profile.questions_may_stay else -1
    return min(toast.display_seconds * 1000, MAX_EXPIRE_MS) if toast.display_seconds > 0 else -1


def how_to_answer(toast: ToastSpec, profile: DaemonProfile, unsupported: str) -> str:
    """One line telling the person how to answer where the toast itself does not show it ('' otherwise)."""
    if not toast.buttons:
        return ""
    if unsupported:
        return "Answer it on the Toasty page or with `toasty answer`"
    if profile.name in ACTIONS_WITHOUT_BUTTONS:
        labels = " / ".join(b.label for b in toast.buttons)
        return f"{labels}: middle-click to choose, or `toasty answer`"
    return ""


def body(toast: ToastSpec, profile: DaemonProfile, hint: str = "") -> str:
    markup = profile.markup

    def text(s: str) -> str:
        return escape(s, quote=False) if markup else s

    lines = [text(line) for line in toast.lines if line]
    if toast.progress is not None and (progress := progress_text(toast.progress, bar=not profile.draws_progress_value)):
        lines.append(text(progress))
    if toast.attribution:
        lines.append(f"<i>{text(toast.attribution)}</i>" if markup else toast.attribution)
    if hint:
        lines.append(f"<i>{text(hint)}</i>" if markup else hint)
    return "\n".join(lines)


def progress_text(p: ProgressSpec, *, bar: bool) -> str:
    """`caption · 40% · done` beside a drawn bar; `caption · ▓▓▓▓░░░░░░ 40 % · done` where none is drawn."""
    if p.value_override:
        amount = p.value_override
    elif p.indeterminate:
        amount = ""
    elif bar:
        amount = f"{text_bar(p.value)} {percent(p.value)} %"
    else:
        amount = f"{percent(p.value)}%"
    state = {ProgressState.SUCCEEDED: "done", ProgressState.FAILED: "failed"}.get(p.state, "")
    return " · ".join(part for part in (p.caption, amount, state) if part)


def text_bar(value: float) -> str:
    filled = round(max(0.0, min(1.0, value)) * TEXT_BAR_CELLS)
    return "▓" * filled + "░" * (TEXT_BAR_CELLS - filled)


def percent(value: float) -> int:
    return max(0, min(100, round(value * 100)))


def hints(toast: ToastSpec, profile: DaemonProfile) -> dict[str, Variant]:
    """Hints are resent in full on every update: a replace replaces all of them."""
    found = {"urgency": Variant("y", URGENCY_BYTE[toast.urgency])}
    if toast.urgency in SOUND_NAME:
        found["sound-name"] = Variant("s", SOUND_NAME[toast.urgency])
    if toast.image is not None and toast.image.path is not None:
        found[profile.image_hint] = Variant("s", str(toast.image.path.absolute()))
    if toast.progress is not None:
        found["category"] = Variant("s", PROGRESS_CATEGORY[toast.progress.state])
        if not toast.progress.indeterminate and profile.draws_progress_value:
            found["value"] = Variant("i", percent(toast.progress.value))
    return found


def _app_icon(toast: ToastSpec) -> str:
    """The urgency's themed icon, or the toast's image: the one image slot every daemon measured draws."""
    image = toast.image
    if image is not None and image.path is not None:
        return str(image.path.absolute())
    return APP_ICON[toast.urgency]
