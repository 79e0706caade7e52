"""Linux desktop backend: `org.freedesktop.Notifications` over the D-Bus session bus (dbus-fast, asyncio).

dbus-fast is asyncio-native: calls are awaited, never blocking the loop, and its signal handlers run on
the loop, where they call the interaction sink directly (no threads, no call_soon_threadsafe). The only
blocking step, finding the session bus socket on disk, runs in a thread.

Mapping (the README table is written from this; what adapts to the daemon is in `daemon_profile`):

- summary = title; body = the lines, the progress text and the attribution, one per line. With the
  daemon's `body-markup` capability the text is escaped and the attribution is italic; without it, plain.
- urgency byte: INFO → 1 (normal), WARNING → 1 (normal), CRITICAL → 2 (critical). INFO is not 0 (low)
  because some desktops (GNOME) show low-urgency notifications only in the notification list, and Toasty
  exists to put the notification in front of the user. INFO and WARNING differ by icon and sound name.
- app_icon = themed icon `dialog-information` / `dialog-warning` / `dialog-error` per urgency; an image
  goes in the `image-path` and `image_path` hints as a plain path (and in app_icon when placed as the
  app logo).
- Progress: the `value` hint where the daemon draws it, else a text bar in the body; category `transfer`
  (`.complete`, `.error` when finished), and `replaces_id` = the daemon id of the toast with the same
  (publisher, progress key), so the daemon updates it in place; the notification it replaced ends there,
  without an outcome of its own (the newer one carries on).
- expire_timeout = display_seconds in ms, or -1 (the daemon's default) when 0. A question asks for no
  expiry (0; -1 from a daemon with `persistence`): its life is the asker's deadline, kept by the server.
- Buttons are actions `[button.id, label]`; every toast also gets the `default` action (a click on the
  body → ACTIVATED). Without the `actions` capability, an Interactive toast is shown as plain text and
  reported UNSUPPORTED at once. Text and selection inputs are never shown on this desktop (dunst and most
  daemons have no `inline-reply`, and none has selection boxes): such a toast is shown without actions and
  reported UNSUPPORTED at once, with the inputs named in the detail, instead of waiting for an answer that
  can never come.
- Outcomes, exactly one per notification: ActionInvoked → BUTTON (or ACTIVATED for `default`), then the
  toast is closed (daemons such as dunst leave it up). NotificationClosed 1 → TIMED_OUT (for a question:
  nothing; it stays answerable elsewhere until its deadline), 2 → DISMISSED,
  3 → nothing when we closed it ourselves (answered or withdrawn), else DISMISSED.

The desktop may come and go while the hub runs (a hub started from a login script before the desktop, a
daemon restarted by the user). The backend watches `NameOwnerChanged` for the daemon's name: while no
daemon owns it (and the bus cannot start one), `available` is False and the renderer shows toasts on the
console; when a daemon appears, the open questions shown before are shown on it again. When the daemon
goes, the toasts it showed can no longer be answered there: a question stays open (answerable from the
terminal and the web page, and shown again on the next daemon), any other toast ends FAILED. A lost bus
connection is retried in the background with a growing delay.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from toasty_server.config import Settings
from toasty_server.render.backend import (
    BackendStatus,
    BackendUnavailable,
    Interaction,
    InteractionKind,
    InteractionSink,
)
from toasty_server.render.daemon_profile import APP_NAME, DEFAULT_ACTION, DaemonProfile, notify_arguments
from toasty_server.render.spec import ToastSpec

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
INTERFACE = "org.freedesktop.Notifications"
CALL_TIMEOUT_SECONDS = 5.0  # a wedged daemon must not stall the render queue forever
EARLY_SIGNALS_KEPT = 64
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)  # after a lost bus connection; the last one repeats

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

    toast: ToastSpec
    daemon_id: int
    answered: bool = False

    @property
    def notification_id(self) -> str:
        return self.toast.notification_id

    @property
    def is_question(self) -> bool:
        return bool(self.toast.buttons)


class FreedesktopBackend:
    """Shows toasts through the session's notification daemon and reports what the user did with them."""

    name = "freedesktop"

    def __init__(self) -> None:
        self._sink: InteractionSink | None = None
        self._bus: MessageBus | None = None
        self._owner: str | None = None  # unique bus name of the daemon; signals from others are ignored
        self._activatable = False  # the bus starts a daemon on the first Notify (a real desktop session)
        self._profile: DaemonProfile | None = None  # None: ask the daemon before the next Notify
        self._shown: dict[int, _Shown] = {}  # daemon id → toast
        self._daemon_ids: dict[str, int] = {}  # notification id → daemon id
        self._replace: dict[tuple[str, str], int] = {}  # (publisher, progress key) → daemon id
        self._questions: dict[str, ToastSpec] = {}  # open questions shown here: shown again on a new daemon
        self._early: dict[int, Message] = {}  # signals that overtook the reply to our Notify
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connecting = asyncio.Lock()
        self._closed = False

    @property
    def capabilities(self) -> frozenset[str]:
        """What the daemon said it can do (empty until the first successful query)."""
        return self._profile.capabilities if self._profile is not None else frozenset()

    @property
    def available(self) -> bool:
        """A daemon owns the name (or the bus would start one): toasts can go to the desktop."""
        return self._bus is not None and self._bus.connected and (self._owner is not None or self._activatable)

    def status(self) -> BackendStatus:
        profile = self._profile
        if not self.available:
            detail = (
                "waiting for a notification daemon on the session bus"
                if self._bus is not None and self._bus.connected
                else "waiting for the D-Bus session bus"
            )
            return BackendStatus(self.name, False, detail)
        if profile is None:
            return BackendStatus(self.name, True, "notification daemon not asked yet")
        return BackendStatus(
            self.name,
            True,
            profile.describe(),
            server_name=profile.name,
            server_vendor=profile.vendor,
            server_version=profile.version,
            spec_version=profile.spec_version,
            capabilities=tuple(sorted(profile.capabilities)),
        )

    # ToastBackend ----------------------------------------------------------------------------------

    async def start(self, sink: InteractionSink) -> None:
        """Connect to the session bus (BackendUnavailable without one) and look for the daemon.

        No daemon yet is not a failure: the backend waits for one (`available` is False meanwhile).
        """
        self._sink = sink
        bus = await self._ensure_bus()
        if self._owner is None and not self._activatable:
            log.warning("no notification daemon on the session bus yet: toasts go to the next backend until one starts")
            return
        try:
            await self._daemon_profile(bus)
        except NotificationDaemonError as exc:
            log.warning("the notification daemon does not answer yet (%s)", exc)

    async def show(self, toast: ToastSpec) -> None:
        """Notify (replacing the toast with the same replace key); raises when the daemon cannot be reached."""
        bus = await self._ensure_bus()
        profile = await self._daemon_profile(bus)
        args = notify_arguments(toast, profile)
        key = toast.replace_key
        replaces_id = self._replace.get(key, 0) if key is not None else 0
        (daemon_id,) = await self._call(
            bus,
            "Notify",
            "susssasa{sv}i",
            [
                APP_NAME,
                replaces_id,
                args.app_icon,
                args.summary,
                args.body,
                args.actions,
                args.hints,
                args.expire_timeout,
            ],
        )
        previous = self._shown.get(daemon_id)
        if previous is not None:  # replaced in place: the new notification takes the slot over
            self._daemon_ids.pop(previous.notification_id, None)
        entry = _Shown(toast, daemon_id)
        self._shown[daemon_id] = entry
        self._daemon_ids[toast.notification_id] = daemon_id
        if key is not None:
            self._replace[key] = daemon_id
        log.debug("notification %s shown as daemon id %d", toast.notification_id, daemon_id)
        if args.unsupported:
            self._emit(entry, InteractionKind.UNSUPPORTED, detail=args.unsupported)
        elif entry.is_question:
            self._questions[toast.notification_id] = toast
        early = self._early.pop(daemon_id, None)
        if early is not None:
            self._on_notification_signal(early)

    async def withdraw(self, notification_id: str) -> None:
        """Close the toast if it is still up; its outcome is then the withdrawal, so nothing is reported."""
        self._questions.pop(notification_id, None)
        daemon_id = self._daemon_ids.get(notification_id)
        if daemon_id is None:
            return
        entry = self._forget(daemon_id)
        bus = self._bus
        if entry is not None and bus is not None and bus.connected:
            await self._close_notification(bus, daemon_id)

    async def close(self) -> None:
        """Disconnect. Toasts still on screen stay there; their answers can no longer arrive."""
        self._closed = True
        bus, self._bus = self._bus, None
        self._reset_daemon_state()
        self._questions.clear()
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
            owner = await self._name_owner(bus)
            (activatable,) = await self._call(bus, "ListActivatableNames", **_DBUS)
        except BaseException:
            bus.disconnect()
            raise
        self._reset_daemon_state()
        self._bus, self._owner, self._activatable = bus, owner, BUS_NAME in activatable
        self._spawn(self._watch(bus))
        log.info("connected to the D-Bus session bus as %s", bus.unique_name)
        if owner is not None and self._questions:
            self._spawn(self._show_questions_again(bus))  # the bus came back: its daemon shows none of them
        return bus

    async def _name_owner(self, bus: MessageBus) -> str | None:
        try:
            (owner,) = await self._call(bus, "GetNameOwner", "s", [BUS_NAME], **_DBUS)
        except NotificationDaemonError:  # org.freedesktop.DBus.Error.NameHasNoOwner
            return None
        return str(owner)

    async def _watch(self, bus: MessageBus) -> None:
        """When the connection drops, nothing shown through it can be answered any more."""
        try:
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]  # unannotated in dbus-fast
            reason = "disconnected"
        except Exception as exc:
            reason = repr(exc)
        if self._bus is bus and not self._closed:
            log.warning("D-Bus session bus connection lost (%s); reconnecting in the background", reason)
            self._bus = None
            self._daemon_lost("the D-Bus session bus connection was lost")
            self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        """Retry the bus with a growing delay until it is back (or the backend closes)."""
        attempt = 0
        while not self._closed and (self._bus is None or not self._bus.connected):
            await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            attempt += 1
            try:
                await self._ensure_bus()
            except (BackendUnavailable, NotificationDaemonError) as exc:
                log.debug("D-Bus session bus still unreachable: %s", exc)
        if not self._closed:
            log.info("D-Bus session bus connection is back")

    async def _daemon_profile(self, bus: MessageBus) -> DaemonProfile:
        if self._profile is None:
            (caps,) = await self._call(bus, "GetCapabilities")
            name, vendor, version, spec = await self._call(bus, "GetServerInformation")
            profile = DaemonProfile(str(name), str(vendor), str(version), str(spec), frozenset(caps))
            log.info(
                "notification daemon %s, capabilities: %s", profile.describe(), ", ".join(sorted(profile.capabilities))
            )
            for present, consequence in (
                (profile.actions, "no 'actions' capability: buttons cannot be answered"),
                (profile.markup, "no 'body-markup' capability: the body is plain text"),
                (profile.draws_progress_value, "progress is shown as a text bar in the body"),
            ):
                if not present:
                    log.info("notification daemon %s: %s", profile.name, consequence)
            self._profile = profile
        return self._profile

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
                if key in {b.id for b in (*entry.toast.buttons, *entry.toast.actions)}:
                    self._emit(entry, InteractionKind.BUTTON, button_id=key)
                elif key == DEFAULT_ACTION:
                    self._emit(entry, InteractionKind.ACTIVATED)
                    if entry.toast.launch_url:
                        self._spawn(open_url(entry.toast.launch_url))
                else:
                    self._emit(entry, InteractionKind.FAILED, detail=f"unknown action {key!r}")
            if self._bus is not None:  # the daemon may leave it up after an action (dunst does)
                self._spawn(self._close_notification(self._bus, daemon_id))
        else:
            reason: int = message.body[1]
            self._forget(daemon_id)
            if reason == EXPIRED and entry.is_question and not entry.answered:
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
        """The daemon went away, came, or was replaced: the old one's ids mean nothing any more.

        Learned from NameOwnerChanged, or earlier from a reply sent by another daemon (a restart can
        overtake the signal); whichever comes second finds `old` is no longer ours and does nothing.
        """
        if old != self._owner:
            return
        if old is not None:
            log.warning("notification daemon %s went away", old)
            self._daemon_lost("the notification daemon went away")
        self._owner = new
        bus = self._bus
        if new is not None and bus is not None and bus.connected:
            log.info("notification daemon %s is on the session bus: toasts go to the desktop", new)
            self._spawn(self._show_questions_again(bus))

    async def _show_questions_again(self, bus: MessageBus) -> None:
        """A new daemon shows none of the open questions: ask it for its profile and show them again."""
        try:
            await self._daemon_profile(bus)
        except NotificationDaemonError as exc:
            log.warning("the new notification daemon does not answer: %s", exc)
            return
        for toast in list(self._questions.values()):
            if toast.notification_id in self._daemon_ids or toast.notification_id not in self._questions:
                continue  # shown meanwhile, or answered or withdrawn meanwhile
            try:
                await self.show(toast)
            except Exception as exc:
                log.warning("question %s not shown again on the new daemon: %r", toast.notification_id, exc)
                return
            log.info("question %s shown again on the new notification daemon", toast.notification_id)

    # bookkeeping -------------------------------------------------------------------------------------

    def _forget(self, daemon_id: int) -> _Shown | None:
        entry = self._shown.pop(daemon_id, None)
        if entry is not None:
            if self._daemon_ids.get(entry.notification_id) == daemon_id:
                del self._daemon_ids[entry.notification_id]
            key = entry.toast.replace_key
            if key is not None and self._replace.get(key) == daemon_id:
                del self._replace[key]
        return entry

    def _daemon_lost(self, detail: str) -> None:
        """Nothing on the gone daemon can be answered there: a question stays open (kept to be shown on
        the next daemon), any other toast still waiting ends FAILED."""
        for entry in list(self._shown.values()):
            if not entry.answered and not (entry.is_question and entry.notification_id in self._questions):
                self._emit(entry, InteractionKind.FAILED, detail=detail)
        if self._questions:
            log.info("%d open question(s) stay answerable and will be shown on the next daemon", len(self._questions))
        self._reset_daemon_state()

    def _reset_daemon_state(self) -> None:
        self._shown.clear()
        self._daemon_ids.clear()
        self._replace.clear()
        self._early.clear()
        self._profile = None

    def _emit(self, entry: _Shown, kind: InteractionKind, *, button_id: str = "", detail: str = "") -> None:
        entry.answered = True
        if kind is not InteractionKind.UNSUPPORTED:
            self._questions.pop(entry.notification_id, None)
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
