"""Every notification daemon the desktop suite runs against, each on its own Xvfb and private session bus.

`DaemonSession` starts one daemon the way a desktop session would (its own binary, a minimal environment)
on the Xvfb and bus of `DesktopSession`, and plays the person: it clicks a toast's buttons with xdotool
where the daemon draws buttons in a window (xfce4-notifyd, notification-daemon, lxqt-notificationd), and
through dunst's action menu on dunst. Button positions were measured on Debian 12's packages with the
suite's two buttons ("Approve", "Reject"), counted from the edge the daemon aligns its buttons to.

`BusMonitor` sees what the hub really asked of the daemon: it becomes a D-Bus monitor and records every
Notify / CloseNotification call and the id the daemon answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.desktop.session import DesktopSession as DunstSession
from tests.desktop.session import Dunst, SessionError, read_ppm

NOTIFICATIONS = "org.freedesktop.Notifications"


@dataclass(frozen=True, slots=True)
class ButtonSpot:
    """Where a button is, from the toast window's left (x >= 0) or right (x < 0) edge, and its bottom."""

    x: int
    from_bottom: int


@dataclass(frozen=True, slots=True)
class DaemonSpec:
    name: str  # the pytest id and the docs/desktop.md row
    command: tuple[str, ...]
    package: str  # Debian package
    window_class: str = ""  # xdotool's --class of its toast windows ('' for dunst: driven by its menu)
    buttons: tuple[ButtonSpot, ...] = ()  # Approve, Reject (a question's third action: Remind me later)
    # daemons that put more than two actions in a drop-down: (the drop-down, its OK button)
    menu: tuple[ButtonSpot, ButtonSpot] | None = None

    @property
    def installed(self) -> bool:
        return shutil.which(self.command[0]) is not None


DAEMONS = (
    DaemonSpec("dunst", ("dunst",), "dunst"),
    DaemonSpec(
        "xfce4-notifyd",
        ("/usr/lib/x86_64-linux-gnu/xfce4/notifyd/xfce4-notifyd",),
        "xfce4-notifyd",
        "xfce4-notifyd",
        (ButtonSpot(56, 32), ButtonSpot(161, 32)),
    ),
    DaemonSpec(
        "notification-daemon",
        ("/usr/lib/notification-daemon/notification-daemon",),
        "notification-daemon",
        "notification-daemon",
        (ButtonSpot(-289, 39), ButtonSpot(-222, 39)),
    ),
    DaemonSpec(
        "lxqt-notificationd",
        ("lxqt-notificationd",),
        "lxqt-notificationd",
        "lxqt-notificationd",
        menu=(ButtonSpot(121, 38), ButtonSpot(211, 38)),
    ),
)
APT_PACKAGES = "xvfb dbus xdotool imagemagick " + " ".join(d.package for d in DAEMONS)


class DaemonSession(DunstSession):
    """Xvfb + private bus (from the dunst session, whose dunstrc and action-menu script dunst uses here
    too) + the daemon of `spec`, restartable on its own."""

    def __init__(self, directory: Path, spec: DaemonSpec) -> None:
        super().__init__(directory)
        self.spec = spec

    def start(self) -> None:
        self._write_files()
        try:
            self.start_xvfb()
            self.start_bus()
            self.start_daemon()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.stop_daemon()
        super().stop()

    def start_daemon(self) -> None:
        """Start the daemon and wait until it owns the notifications name (no activation on this bus)."""
        if self.spec.name == "dunst":
            self.start_dunst()
            return
        home = self.dir / "home"
        home.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(self.dir),
            "XDG_CONFIG_HOME": str(self.dir / "config"),
            "NO_AT_BRIDGE": "1",  # else GTK daemons start an accessibility bus of their own
            **self.env(),
        }
        self._spawn(self.spec.name, list(self.spec.command), env=env)
        deadline = time.monotonic() + 10
        while not self.daemon_owns_name():
            if self._procs[self.spec.name].poll() is not None or time.monotonic() > deadline:
                raise SessionError(f"{self.spec.name} did not take {NOTIFICATIONS}\n{self.log_tail(self.spec.name)}")
            time.sleep(0.02)

    def stop_daemon(self) -> None:
        self._stop(self.spec.name)

    def kill_daemon(self) -> None:
        self.kill(self.spec.name)

    def daemon_running(self) -> bool:
        return self.is_running(self.spec.name)

    def daemon_owns_name(self) -> bool:
        args = [
            "dbus-send",
            "--session",
            "--dest=org.freedesktop.DBus",
            "--print-reply",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetNameOwner",
            f"string:{NOTIFICATIONS}",
        ]
        env = {**os.environ, **self.env()}
        return subprocess.run(args, env=env, capture_output=True, timeout=5, check=False).returncode == 0

    # the person --------------------------------------------------------------------------------------

    def toast_windows(self) -> list[str]:
        """The daemon's visible toast windows (xdotool); dunst: see `Dunst.displayed_length`."""
        found = self._xdotool("search", "--onlyvisible", "--class", self.spec.window_class, check=False)
        return found.split()

    async def toast_visible(self) -> bool:
        if self.spec.name == "dunst":
            dunst = await Dunst.connect(self.bus_address)
            try:
                return await dunst.displayed_length() > 0
            finally:
                dunst.disconnect()
        return bool(await asyncio.to_thread(self.toast_windows))

    async def click(self, daemon_id: int, button: int, key: str) -> None:
        """The person clicks button number `button` (0: Approve, 1: Reject; `key` is its action key)."""
        if self.spec.name == "dunst":
            self.pick(daemon_id, key)
            dunst = await Dunst.connect(self.bus_address)
            try:
                await dunst.context_menu()
            finally:
                dunst.disconnect()
            return
        if self.spec.menu is not None:
            await asyncio.to_thread(self._choose_in_menu, button)
        else:
            await asyncio.to_thread(self._click_window, self.spec.buttons[button])

    def _click_window(self, spot: ButtonSpot, *, park: bool = True) -> None:
        windows = self.toast_windows()
        if not windows:
            raise AssertionError(f"{self.spec.name} shows no toast window to click")
        geometry = dict(
            line.split("=", 1) for line in self._xdotool("getwindowgeometry", "--shell", windows[-1]).split()
        )
        x0, y0, width, height = (int(geometry[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        x = x0 + spot.x if spot.x >= 0 else x0 + width + spot.x
        self._xdotool("mousemove", str(x), str(y0 + height - spot.from_bottom), "click", "1")
        if park:
            self._xdotool("mousemove", "0", "0")  # a pointer left on a toast stops some daemons' timers

    def _choose_in_menu(self, index: int) -> None:
        """Open the drop-down of actions, pick the `index`-th (the first is preselected), press OK."""
        assert self.spec.menu is not None
        dropdown, ok = self.spec.menu
        if index:
            self._click_window(dropdown, park=False)
            time.sleep(0.3)
            self._xdotool("key", *(["Down"] * index), "Return")
            time.sleep(0.2)
        self._click_window(ok)

    def _xdotool(self, *args: str, check: bool = True) -> str:
        env = {**os.environ, **self.env()}
        done = subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=10, check=False)
        if check and done.returncode != 0:
            raise SessionError(f"xdotool {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def screenshot_rgb(self, path: Path) -> tuple[int, int, bytes]:
        env = {**os.environ, **self.env()}
        subprocess.run(["import", "-window", "root", "-depth", "8", f"ppm:{path}"], env=env, check=True, timeout=20)
        return read_ppm(path.read_bytes())


@dataclass(slots=True)
class NotifyCall:
    """One Notify the hub sent, and the id the daemon answered (0 until the reply is seen)."""

    replaces_id: int
    app_icon: str
    summary: str
    body: str
    actions: list[str]
    hints: dict[str, Any]
    expire_timeout: int
    daemon_id: int = 0


@dataclass(slots=True)
class BusMonitor:
    """A D-Bus monitor connection: every Notify / CloseNotification on the bus, with the daemon's reply."""

    bus: MessageBus
    notifies: list[NotifyCall] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)
    _pending: dict[tuple[str, int], NotifyCall] = field(default_factory=dict)

    @classmethod
    async def connect(cls, address: str) -> BusMonitor:
        bus = await MessageBus(bus_address=address).connect()
        monitor = cls(bus)
        bus.add_message_handler(monitor._on_message)
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus.Monitoring",
                member="BecomeMonitor",
                signature="asu",
                body=[[f"type='method_call',interface='{NOTIFICATIONS}'", "type='method_return'"], 0],
            )
        )
        if reply.message_type is MessageType.ERROR:
            raise SessionError(f"BecomeMonitor: {reply.error_name} {reply.body}")
        return monitor

    def _on_message(self, message: Message) -> bool:
        if message.message_type is MessageType.METHOD_CALL and message.interface == NOTIFICATIONS:
            if message.member == "Notify":
                _, replaces_id, icon, summary, body, actions, hints, expire = message.body
                call = NotifyCall(
                    replaces_id, icon, summary, body, list(actions), {k: v.value for k, v in hints.items()}, expire
                )
                self.notifies.append(call)
                self._pending[(message.sender or "", message.serial)] = call
            elif message.member == "CloseNotification":
                self.closes.append(message.body[0])
        elif message.message_type is MessageType.METHOD_RETURN:
            call = self._pending.pop((message.destination or "", message.reply_serial), None)
            if call is not None and message.body:
                call.daemon_id = int(message.body[0])
        # a monitor only listens: never let dbus-fast answer a call it overheard; replies go on to dbus-fast,
        # which needs the one to BecomeMonitor (after that this connection makes no call of its own)
        return message.message_type is MessageType.METHOD_CALL

    async def notified(self, summary: str, *, count: int = 1, within: float = 10.0) -> list[NotifyCall]:
        """The first `count` answered Notify calls titled `summary` (waits for them)."""
        deadline = time.monotonic() + within
        while True:
            hits = [c for c in self.notifies if c.summary == summary and c.daemon_id]
            if len(hits) >= count:
                return hits
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {count} answered Notify titled {summary!r} within {within} s: {self.notifies}")
            await asyncio.sleep(0.01)

    def disconnect(self) -> None:
        with contextlib.suppress(Exception):
            self.bus.disconnect()
