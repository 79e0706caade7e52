"""Linux desktop backend: `org.freedesktop.Notifications` over the D-Bus session bus (dbus-fast, asyncio).

dbus-fast is asyncio-native: calls are awaited, never blocking the loop, and its signal handlers run on
the loop, where they call the interaction sink directly (no threads, no call_soon_threadsafe). The only
blocking step, finding the session bus socket on disk, runs in a thread.

Mapping (the README table is written from this):

- summary = title; body = the lines, the progress text and the attribution, one per line. With the
  daemon's `body-markup` capability the text is escaped and the attribution is italic; without it, plain.
- urgency byte: INFO → 1 (normal), WARNING → 1 (normal), CRITICAL → 2 (critical). INFO is not 0 (low)
  because some desktops (GNOME) show low-urgency notifications only in the notification list, and Toasty
  exists to put the notification in front of the user. INFO and WARNING differ by icon and sound name.
- app_icon = themed icon `dialog-information` / `dialog-warning` / `dialog-error` per urgency; an image
  (any placement: the spec has one image slot) goes in the `image-path` hint as a file:// URI and wins.
- Progress: the `value` hint (0..100; omitted when indeterminate), category `transfer` (`.complete`,
  `.error` when finished), and `replaces_id` = the daemon id of the toast with the same (publisher,
  progress key), so the daemon updates it in place; the notification it replaced ends there, without an
  outcome of its own (the newer one carries on).
- expire_timeout = display_seconds in ms, or -1 (the daemon's default) when 0; 0 (never) for a question,
  whose life is the asker's deadline (kept by the server), not the daemon's.
- Buttons are actions `[button.id, label]`; every toast also gets the `default` action (a click on the
  body → ACTIVATED). Without the `actions` capability, an Interactive toast is shown as plain text and
  reported UNSUPPORTED at once. Text and selection inputs are never shown on this desktop (dunst and most
  daemons have no `inline-reply`, and none has selection boxes): such a toast is shown without actions and
  reported UNSUPPORTED at once, with the inputs named in the detail, instead of waiting for an answer that
  can never come.
- Outcomes, exactly one per notification: ActionInvoked → BUTTON (or ACTIVATED for `default`), then the
  toast is closed (daemons such as dunst leave it up). NotificationClosed 1 → TIMED_OUT (for a question:
  nothing; it stays answerable elsewhere until its deadline), 2 → DISMISSED,
  3 → nothing when we closed it ourselves (answered or withdrawn), else DISMISSED. The daemon going away
  (or the bus connection dropping) → FAILED for every toast still waiting, since no answer can arrive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from toasty_server.config import Settings
from toasty_server.render.backend import BackendUnavailable, Interaction, InteractionKind, InteractionSink
from toasty_server.render.spec import ProgressSpec, ProgressState, ToastSpec, Urgency

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
APP_NAME = "Toasty"
DEFAULT_ACTION = "default"
CALL_TIMEOUT_SECONDS = 5.0  # a wedged daemon must not stall the render queue forever
EARLY_SIGNALS_KEPT = 64

URGENCY_BYTE = {Urgency.INFO: 1, Urgency.WARNING: 1, Urgency.CRITICAL: 2}
APP_ICON = {Urgency.INFO: "dialog-information", Urgency.WARNING: "dialog-warning", Urgency.CRITICAL: "dialog-error"}
SOUND_NAME = {Urgency.WARNING: "dialog-warning", Urgency.CRITICAL: "dialog-error"}  # INFO: the daemon's default
PROGRESS_CATEGORY = {
    ProgressState.RUNNING: "transfer",
    ProgressState.SUCCEEDED: "transfer.complete",
    ProgressState.FAILED: "transfer.error",
}
EXPIRED = 1  # NotificationClosed reason: the daemon's timeout
CLOSED_REASON = {EXPIRED: InteractionKind.TIMED_OUT, 2: InteractionKind.DISMISSED}

_DBUS = {"destination": "org.freedesktop.DBus", "path": "/org/freedesktop/DBus", "interface": "org.freedesktop.DBus"}
_MATCH_RULES = (
    f"type='signal',interface='{INTERFACE}',path='{OBJECT_PATH}'",
    f"type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
    f"member='NameOwnerChanged',arg0='{BUS_NAME}'",
)


URL_OPENER = "xdg-open"  # what a click on a toast with a launch URL runs, as Windows' protocol activation


async def open_url(url: str) -> None:
    """Open a toast's launch URL with the desktop's handler, without waiting for it to finish."""
    try:
        process = await asyncio.create_subprocess_exec(
            URL_OPENER, url, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL
        )
    except OSError as exc:
        log.warning("cannot open %s: %s not available (%s)", url, URL_OPENER, exc)
        return
    code = await process.wait()
    if code:
        log.warning("%s %s exited with %d", URL_OPENER, url, code)


class NotificationDaemonError(RuntimeError):
    """A call to the notification daemon failed (no daemon, a D-Bus error, or no answer in time)."""


def create_backend(settings: Settings) -> FreedesktopBackend:
    """Entry point used by `render.selection` (nothing in the settings is specific to this backend yet)."""
    return FreedesktopBackend()


@dataclass(slots=True)
class _Shown:
    """A toast on the daemon's screen. `answered`: its one outcome was reported already."""

    notification_id: str
    daemon_id: int
    buttons: frozenset[str]
    replace_key: tuple[str, str] | None
    answered: bool = False
    launch_url: str = ""


class FreedesktopBackend:
    """Shows toasts through the session's notification daemon and reports what the user did with them."""

    name = "freedesktop"

    def __init__(self) -> None:
        self._sink: InteractionSink | None = None
        self._bus: MessageBus | None = None
        self._owner: str | None = None  # unique bus name of the daemon; signals from others are ignored
        self._caps: frozenset[str] | None = None  # None: ask the daemon before the next Notify
        self._shown: dict[int, _Shown] = {}  # daemon id → toast
        self._daemon_ids: dict[str, int] = {}  # notification id → daemon id
        self._replace: dict[tuple[str, str], int] = {}  # (publisher, progress key) → daemon id
        self._early: dict[int, Message] = {}  # signals that overtook the reply to our Notify
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connecting = asyncio.Lock()

    @property
    def capabilities(self) -> frozenset[str]:
        """What the daemon said it can do (empty until the first successful query)."""
        return self._caps or frozenset()

    # ToastBackend ----------------------------------------------------------------------------------

    async def start(self, sink: InteractionSink) -> None:
        """Connect and ask the daemon what it can do; BackendUnavailable if there is no bus or daemon."""
        self._sink = sink
        try:
            bus = await self._ensure_bus()
            caps = await self._capabilities(bus)
            name, vendor, version, spec = await self._call(bus, "GetServerInformation")
        except NotificationDaemonError as exc:
            await self.close()
            raise BackendUnavailable(str(exc)) from exc
        log.info(
            "notification daemon %s %s (%s, spec %s), capabilities: %s",
            name,
            version,
            vendor,
            spec,
            ", ".join(sorted(caps)),
        )

    async def show(self, toast: ToastSpec) -> None:
        """Notify (replacing the toast with the same replace key); raises when the daemon cannot be reached."""
        bus = await self._ensure_bus()
        caps = await self._capabilities(bus)
        markup = "body-markup" in caps
        unsupported = _unsupported(toast, caps)
        actions: list[str] = []
        if "actions" in caps and not unsupported:
            for button in toast.buttons:
                actions += [button.id, button.label]
            if DEFAULT_ACTION not in {b.id for b in toast.buttons}:
                actions += [DEFAULT_ACTION, ""]
        key = toast.replace_key
        replaces_id = self._replace.get(key, 0) if key is not None else 0
        timeout_ms = _expire_ms(toast)
        (daemon_id,) = await self._call(
            bus,
            "Notify",
            "susssasa{sv}i",
            [
                APP_NAME,
                replaces_id,
                APP_ICON[toast.urgency],
                toast.title or APP_NAME,
                _body(toast, markup),
                actions,
                _hints(toast),
                timeout_ms,
            ],
        )
        previous = self._shown.get(daemon_id)
        if previous is not None:  # replaced in place: the new notification takes the slot over
            self._daemon_ids.pop(previous.notification_id, None)
        entry = _Shown(
            toast.notification_id, daemon_id, frozenset(b.id for b in toast.buttons), key, launch_url=toast.launch_url
        )
        self._shown[daemon_id] = entry
        self._daemon_ids[toast.notification_id] = daemon_id
        if key is not None:
            self._replace[key] = daemon_id
        log.debug("notification %s shown as daemon id %d", toast.notification_id, daemon_id)
        if unsupported:
            self._emit(entry, InteractionKind.UNSUPPORTED, detail=unsupported)
        early = self._early.pop(daemon_id, None)
        if early is not None:
            self._on_notification_signal(early)

    async def withdraw(self, notification_id: str) -> None:
        """Close the toast if it is still up; its outcome is then the withdrawal, so nothing is reported."""
        daemon_id = self._daemon_ids.get(notification_id)
        if daemon_id is None:
            return
        entry = self._forget(daemon_id)
        bus = self._bus
        if entry is not None and bus is not None and bus.connected:
            await self._close_notification(bus, daemon_id)

    async def close(self) -> None:
        """Disconnect. Toasts still on screen stay there; their answers can no longer arrive."""
        bus, self._bus = self._bus, None
        self._reset_daemon_state()
        for task in list(self._tasks):
            task.cancel()
        if bus is not None and bus.connected:
            bus.disconnect()

    # connection -------------------------------------------------------------------------------------

    async def _ensure_bus(self) -> MessageBus:
        """The live connection, or a new one (after start, and after the bus connection dropped)."""
        if self._bus is not None and self._bus.connected:
            return self._bus
        async with self._connecting:  # concurrent toasts share one new connection
            if self._bus is not None and self._bus.connected:
                return self._bus
            return await self._connect()

    async def _connect(self) -> MessageBus:
        address = await asyncio.to_thread(_session_bus_address)
        if address is None:
            raise BackendUnavailable(
                "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not exist"
            )
        try:
            bus = MessageBus(bus_address=address)
            await asyncio.wait_for(bus.connect(), CALL_TIMEOUT_SECONDS)
        except Exception as exc:  # OSError, a bad address, failed authentication, a timeout
            raise BackendUnavailable(f"cannot connect to the D-Bus session bus at {address}: {exc!r}") from exc
        try:
            bus.add_message_handler(self._on_message)
            for rule in _MATCH_RULES:
                await self._call(bus, "AddMatch", "s", [rule], **_DBUS)
        except BaseException:
            bus.disconnect()
            raise
        self._reset_daemon_state()
        self._bus, self._owner = bus, None  # the daemon's first reply says who it is
        self._spawn(self._watch(bus))
        log.info("connected to the D-Bus session bus as %s", bus.unique_name)
        return bus

    async def _watch(self, bus: MessageBus) -> None:
        """When the connection drops, nothing shown through it can be answered any more."""
        try:
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]  # unannotated in dbus-fast
            reason = "disconnected"
        except Exception as exc:
            reason = repr(exc)
        if self._bus is bus:
            log.warning("D-Bus session bus connection lost (%s); reconnecting at the next toast", reason)
            self._bus = None
            self._fail_all("the D-Bus session bus connection was lost")

    async def _capabilities(self, bus: MessageBus) -> frozenset[str]:
        if self._caps is None:
            (caps,) = await self._call(bus, "GetCapabilities")
            self._caps = frozenset(caps)
            for cap, consequence in (
                ("actions", "buttons cannot be answered"),
                ("body-markup", "the body is plain text"),
            ):
                if cap not in self._caps:
                    log.warning("notification daemon has no %r capability: %s", cap, consequence)
        return self._caps

    async def _call(
        self,
        bus: MessageBus,
        member: str,
        signature: str = "",
        body: Sequence[Any] = (),
        *,
        destination: str = BUS_NAME,
        path: str = OBJECT_PATH,
        interface: str = INTERFACE,
    ) -> list[Any]:
        message = Message(
            destination=destination,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
        )
        try:
            reply = await asyncio.wait_for(bus.call(message), CALL_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise NotificationDaemonError(f"{member}: no answer within {CALL_TIMEOUT_SECONDS} s") from exc
        except Exception as exc:  # dbus-fast raises whatever broke the connection
            raise NotificationDaemonError(f"{member}: {exc!r}") from exc
        if reply.message_type is MessageType.ERROR:
            if reply.error_name == "org.freedesktop.DBus.Error.ServiceUnknown":
                raise NotificationDaemonError(f"no notification daemon owns {BUS_NAME} on the session bus")
            text = reply.body[0] if reply.body else ""
            raise NotificationDaemonError(f"{member}: {reply.error_name}: {text}")
        if destination == BUS_NAME and reply.sender != self._owner:
            self._daemon_changed(self._owner, reply.sender)  # a new daemon answered: the old one is gone
        return list(reply.body)

    async def _close_notification(self, bus: MessageBus, daemon_id: int) -> None:
        try:
            await self._call(bus, "CloseNotification", "u", [daemon_id])
        except NotificationDaemonError as exc:  # already gone: that is what we wanted
            log.debug("CloseNotification %d: %s", daemon_id, exc)

    # signals -----------------------------------------------------------------------------------------

    def _on_message(self, message: Message) -> bool:
        if message.message_type is not MessageType.SIGNAL:
            return False
        if message.member == "NameOwnerChanged" and message.interface == "org.freedesktop.DBus":
            name, old_owner, new_owner = message.body
            if name == BUS_NAME:
                self._daemon_changed(old_owner or None, new_owner or None)
        elif message.interface == INTERFACE and message.path == OBJECT_PATH:
            if self._owner is not None and message.sender != self._owner:
                return False
            self._on_notification_signal(message)
        return False

    def _on_notification_signal(self, message: Message) -> None:
        if message.member not in ("ActionInvoked", "NotificationClosed"):
            return  # e.g. ActivationToken, NotificationReplied
        daemon_id = message.body[0]
        entry = self._shown.get(daemon_id)
        if entry is None:
            # maybe ours, and the reply to its Notify is not processed yet (several Notify may be in
            # flight); bounded, the oldest dropped first
            if len(self._early) >= EARLY_SIGNALS_KEPT:
                del self._early[next(iter(self._early))]
            self._early[daemon_id] = message
            return
        if message.member == "ActionInvoked":
            key: str = message.body[1]
            self._forget(daemon_id)
            if not entry.answered:
                if key in entry.buttons:
                    self._emit(entry, InteractionKind.BUTTON, button_id=key)
                elif key == DEFAULT_ACTION:
                    self._emit(entry, InteractionKind.ACTIVATED)
                    if entry.launch_url:
                        self._spawn(open_url(entry.launch_url))
                else:
                    self._emit(entry, InteractionKind.FAILED, detail=f"unknown action {key!r}")
            if self._bus is not None:  # the daemon may leave it up after an action (dunst does)
                self._spawn(self._close_notification(self._bus, daemon_id))
        else:
            reason: int = message.body[1]
            self._forget(daemon_id)
            if reason == EXPIRED and entry.buttons:
                # a daemon that expires questions anyway: the toast is gone, the question is not; it stays
                # answerable (toasty answer, the web page) until the asker's deadline, which the server keeps
                log.info(
                    "the daemon expired question %s's toast; it stays open until its deadline", entry.notification_id
                )
                return
            if not entry.answered:
                detail = "closed by a CloseNotification call" if reason == 3 else f"closed (reason {reason})"
                self._emit(entry, CLOSED_REASON.get(reason, InteractionKind.DISMISSED), detail=detail)

    def _daemon_changed(self, old: str | None, new: str | None) -> None:
        """The daemon our toasts are on went away (or was replaced): its ids mean nothing any more.

        Learned from NameOwnerChanged, or earlier from a reply sent by another daemon (a restart can
        overtake the signal); whichever comes second finds `old` is no longer ours and does nothing.
        """
        if old != self._owner:
            return
        if old is not None:
            log.warning("notification daemon %s went away", old)
            self._fail_all("the notification daemon went away")
        self._owner = new

    # bookkeeping -------------------------------------------------------------------------------------

    def _forget(self, daemon_id: int) -> _Shown | None:
        entry = self._shown.pop(daemon_id, None)
        if entry is not None:
            if self._daemon_ids.get(entry.notification_id) == daemon_id:
                del self._daemon_ids[entry.notification_id]
            if entry.replace_key is not None and self._replace.get(entry.replace_key) == daemon_id:
                del self._replace[entry.replace_key]
        return entry

    def _fail_all(self, detail: str) -> None:
        for entry in list(self._shown.values()):
            if not entry.answered:
                self._emit(entry, InteractionKind.FAILED, detail=detail)
        self._reset_daemon_state()

    def _reset_daemon_state(self) -> None:
        self._shown.clear()
        self._daemon_ids.clear()
        self._replace.clear()
        self._early.clear()
        self._caps = None

    def _emit(self, entry: _Shown, kind: InteractionKind, *, button_id: str = "", detail: str = "") -> None:
        entry.answered = True
        interaction = Interaction(entry.notification_id, kind, self.name, button_id=button_id, detail=detail)
        log.debug("interaction %s", interaction)
        if self._sink is not None:
            try:
                self._sink(interaction)
            except Exception:
                log.exception("interaction sink failed on %s", interaction)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# mapping helpers ----------------------------------------------------------------------------------------


def _unsupported(toast: ToastSpec, caps: frozenset[str]) -> str:
    """Why this toast cannot be answered here ('' when it can); the detail of the UNSUPPORTED outcome."""
    inputs = [i.id for i in toast.text_inputs] + [s.id for s in toast.selections]
    if inputs:
        reason = (
            "the notification daemon has no inline-reply"
            if "inline-reply" not in caps
            else "Toasty does not use freedesktop inline-reply yet"
        )
        return f"inputs {', '.join(inputs)} cannot be shown on this desktop: {reason}"
    if toast.buttons and "actions" not in caps:
        labels = ", ".join(b.id for b in toast.buttons)
        return f"buttons {labels} cannot be answered: the notification daemon has no 'actions' capability"
    return ""


def _expire_ms(toast: ToastSpec) -> int:
    """The Notify expire_timeout: a question never expires (0) where the daemon honours it, since its life
    is the asker's deadline, kept by the server; other toasts last display_seconds, or the daemon's default."""
    if toast.buttons:
        return 0
    return min(toast.display_seconds * 1000, 2**31 - 1) if toast.display_seconds > 0 else -1  # int32


def _body(toast: ToastSpec, markup: bool) -> str:
    def text(s: str) -> str:
        return escape(s, quote=False) if markup else s

    lines = [text(line) for line in toast.lines if line]
    if toast.progress is not None and (progress := _progress_text(toast.progress)):
        lines.append(text(progress))
    if toast.attribution:
        lines.append(f"<i>{text(toast.attribution)}</i>" if markup else toast.attribution)
    return "\n".join(lines)


def _progress_text(p: ProgressSpec) -> str:
    """`caption · 40% · done`: what the bar alone does not say."""
    amount = p.value_override or ("" if p.indeterminate else f"{_percent(p.value)}%")
    state = {ProgressState.SUCCEEDED: "done", ProgressState.FAILED: "failed"}.get(p.state, "")
    return " · ".join(part for part in (p.caption, amount, state) if part)


def _percent(value: float) -> int:
    return max(0, min(100, round(value * 100)))


def _hints(toast: ToastSpec) -> dict[str, Variant]:
    """Hints are resent in full on every update: a replace replaces all of them."""
    hints = {"urgency": Variant("y", URGENCY_BYTE[toast.urgency])}
    if toast.urgency in SOUND_NAME:
        hints["sound-name"] = Variant("s", SOUND_NAME[toast.urgency])
    if toast.image is not None and toast.image.path is not None:
        hints["image-path"] = Variant("s", toast.image.path.absolute().as_uri())
    if toast.progress is not None:
        hints["category"] = Variant("s", PROGRESS_CATEGORY[toast.progress.state])
        if not toast.progress.indeterminate:
            hints["value"] = Variant("i", _percent(toast.progress.value))
    return hints


def _session_bus_address() -> str | None:
    """DBUS_SESSION_BUS_ADDRESS, else systemd's per-user bus socket (blocking: run in a thread).

    dbus-fast's own fallback reads X11 files on the event loop and ignores $XDG_RUNTIME_DIR/bus.
    """
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        socket = Path(runtime_dir) / "bus"
        try:
            if stat.S_ISSOCK(socket.stat().st_mode):
                return f"unix:path={socket}"
        except OSError:
            pass
    return None
