"""A private headless desktop for the freedesktop tests: Xvfb, a dbus-daemon and dunst, all started here.

Nothing is faked: dunst is the real notification daemon, on a real X server, reached over a real D-Bus
session bus. The bus has its own config file without service activation, so a Notify sent while our dunst
is down fails instead of starting the machine's dunst with its default config. Every process is started
with Popen and stopped by that Popen (exactly the PIDs started here), so tests can kill and restart dunst
or the bus and the session still cleans up after itself.

The test "user" is scripted through two small shell scripts dunst runs itself:
- `dmenu-pick`: dunst's `dmenu` command (its context menu of actions). It answers with the menu line that
  ends in `[ID,KEY]`, read from the one-shot pick file, so "the user clicks Approve" is
  `session.pick(id, "approve")` followed by the cmd0 `ContextMenuCall`.
- `on-display`: a dunst rule script, run whenever dunst puts a notification on screen (and again after each
  replace). It appends one tab-separated line per display to `displayed.log`, the only way to learn what
  dunst really showed (dunst emits no signal when it displays something).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import shlex
import shutil
import signal
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from tests.core.helpers import wait_until
from toasty_server.render.backend import Interaction

T = TypeVar("T")

TOOLS = ("Xvfb", "dbus-daemon", "dunst")
APT_PACKAGES = "xvfb dbus dunst imagemagick"
SCREEN = (1280, 800)
# where dunst draws (dunstrc below: top-right corner, 300 px wide plus padding, 10 px from the edges), with margin
DUNST_REGION = (SCREEN[0] - 400, 0, 400, 400)  # x, y, width, height

# the themed icons Toasty names per urgency, as solid squares so a screenshot can tell them apart
ICONS = {"dialog-information": (0, 0, 255), "dialog-warning": (255, 200, 0), "dialog-error": (255, 0, 255)}

DUNST_BUS_NAME = "org.freedesktop.Notifications"
DUNST_PATH = "/org/freedesktop/Notifications"
DUNST_CMD = "org.dunstproject.cmd0"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- no <servicedir> and no <standard_session_servicedirs/>: nothing is ever activated -->
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

DUNSTRC = """[global]
    font = DejaVu Sans 10
    width = 300
    height = 300
    origin = top-right
    offset = 10x10
    notification_limit = 0
    idle_threshold = 0
    progress_bar = true
    show_indicators = yes
    stack_duplicates = false
    markup = {markup}
    format = "<b>%s</b>\\n%b"
    icon_position = left
    min_icon_size = 32
    max_icon_size = 32
    icon_path = {icons}
    sticky_history = yes
    history_length = 100
    dmenu = {dmenu}
    browser = /bin/true
    mouse_left_click = do_action
    mouse_middle_click = close_current
    mouse_right_click = context

[toasty_on_display]
    script = {on_display}
"""

EXPIRE_EVERYTHING = """
[expire_everything]
    summary = "*"
    override_dbus_timeout = 1
"""

DMENU_PICK = """#!/bin/sh
# dunst's dmenu: choose the menu line ending in [ID,KEY] named by the one-shot pick file, else nothing.
menu=$(cat)
taken={pick}.$$
if ! mv {pick} "$taken" 2>/dev/null; then
    printf 'menu (no pick):\\n%s\\n' "$menu" >> {menu_log}
    exit 1
fi
want=$(cat "$taken")
rm -f "$taken"
line=$(printf '%s\\n' "$menu" | grep -F -- "[$want]" | head -n 1)
printf 'menu:\\n%s\\npick %s -> %s\\n' "$menu" "$want" "$line" >> {menu_log}
[ -n "$line" ] || exit 1
printf '%s\\n' "$line"
"""

# <time> <id> <progress> <urgency> <summary>, then what else the tests check; tabs, one line per display
ON_DISPLAY = """#!/bin/sh
flat() {{ printf '%s' "$1" | sed -e ':a' -e 'N' -e '$!ba' -e 's/\\t/ /g' -e 's/\\n/\\\\n/g'; }}
printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$(date +%s.%N)" "$DUNST_ID" "$DUNST_PROGRESS" \\
    "$DUNST_URGENCY" "$(flat "$DUNST_SUMMARY")" "$DUNST_CATEGORY" "$DUNST_ICON_PATH" "$DUNST_TIMEOUT" \\
    "$(flat "$DUNST_APP_NAME")" "$(flat "$DUNST_BODY")" >> {log}
"""


class SessionError(RuntimeError):
    """A program of the desktop session did not start; the message carries the tail of its log."""


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@dataclass(frozen=True, slots=True)
class Displayed:
    """One line of the on-display hook: what dunst put on screen."""

    time: float
    id: int
    progress: int  # -1 without a progress value
    urgency: str  # LOW, NORMAL, CRITICAL
    summary: str
    category: str
    icon_path: str
    timeout: str
    app_name: str
    body: str

    @classmethod
    def parse(cls, line: str) -> Displayed:
        f = line.split("\t")
        progress = int(f[2]) if f[2].lstrip("-").isdigit() else -1
        body = f[9].replace("\\n", "\n")
        return cls(float(f[0]), int(f[1]), progress, f[3], f[4].replace("\\n", "\n"), f[5], f[6], f[7], f[8], body)


class DesktopSession:
    """Xvfb + private session bus + dunst in one directory; see the module docstring."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.bus_socket = directory / "bus"
        self.bus_address = f"unix:path={self.bus_socket}"  # no guid: a restarted bus has a new one
        self.pick_file = directory / "pick"
        self.displayed_log = directory / "displayed.log"
        self.menu_log = directory / "menu.log"
        self.display = ""
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._write_files()
        try:
            self.start_xvfb()
            self.start_bus()
            self.start_dunst()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """TERM, then KILL after 2 s, each process this session started (dunst first, Xvfb last)."""
        for name in ("dunst", "dbus-daemon", "Xvfb"):
            self._stop(name)

    def env(self) -> dict[str, str]:
        """What code under test needs to use this desktop and nothing else."""
        return {"DISPLAY": self.display, "DBUS_SESSION_BUS_ADDRESS": self.bus_address}

    def start_xvfb(self) -> None:
        read_end, write_end = os.pipe()
        try:
            args = ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24"]
            self._spawn("Xvfb", [*args, "-nolisten", "tcp", "-noreset", "-br"], pass_fds=(write_end,))
            os.close(write_end)
            write_end = -1
            # Xvfb writes the display number it chose once it accepts connections: no guessing, no sleep
            self.display = ":" + self._read_line(read_end, "Xvfb")
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)

    def start_bus(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.bus_socket.unlink()
        read_end, write_end = os.pipe()
        try:
            config = self.dir / "bus.conf"
            args = ["dbus-daemon", f"--config-file={config}", "--nofork", f"--print-address={write_end}"]
            self._spawn("dbus-daemon", args, pass_fds=(write_end,))
            os.close(write_end)
            write_end = -1
            self._read_line(read_end, "dbus-daemon")  # printed once the bus listens
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)

    def start_dunst(self, config: str = "dunstrc") -> None:
        """Start dunst; `config="dunstrc-plain"` gives one without markup (no `body-markup` capability),
        `"dunstrc-expiring"` one that expires every toast after a second, whatever the client asked."""
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env.update(self.env(), XDG_CONFIG_HOME=str(self.dir / "config"))
        self._spawn("dunst", ["dunst", "-config", str(self.dir / config)], env=env)
        deadline = time.monotonic() + 10
        while not self.dunst_answers():
            if self._procs["dunst"].poll() is not None or time.monotonic() > deadline:
                raise SessionError(f"dunst did not answer Ping\n{self.log_tail('dunst')}")
            time.sleep(0.01)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Kill one of our processes (as a crash would) and reap it."""
        proc = self._procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=5)

    def is_running(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def dunst_answers(self) -> bool:
        """dunst is up when its own interface answers Ping (blocking: only for start-up)."""
        args = ["dbus-send", "--session", f"--dest={DUNST_BUS_NAME}", "--print-reply", DUNST_PATH, f"{DUNST_CMD}.Ping"]
        env = {**os.environ, **self.env()}
        return subprocess.run(args, env=env, capture_output=True, timeout=5, check=False).returncode == 0

    # the scripted user ----------------------------------------------------------------------------

    def pick(self, daemon_id: int, key: str) -> None:
        """Arm the dmenu stand-in: the next context menu chooses action `key` of notification `daemon_id`."""
        tmp = self.pick_file.with_suffix(".tmp")
        tmp.write_text(f"{daemon_id},{key}\n")
        tmp.replace(self.pick_file)

    def clear_pick(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.pick_file.unlink()

    def log_offset(self) -> int:
        try:
            return self.displayed_log.stat().st_size
        except FileNotFoundError:
            return 0

    def displayed(self, since: int = 0) -> list[Displayed]:
        try:
            with self.displayed_log.open("rb") as f:
                f.seek(since)
                data = f.read().decode()
        except FileNotFoundError:
            return []
        # the hook runs asynchronously: ignore a line still being written
        return [Displayed.parse(line) for line in data.split("\n")[:-1] if line.count("\t") >= 9]

    def screenshot(self, path: Path) -> tuple[int, int, bytes]:
        """`import -window root` into `path` (PPM); returns width, height and the RGB bytes."""
        env = {**os.environ, **self.env()}
        subprocess.run(["import", "-window", "root", "-depth", "8", f"ppm:{path}"], env=env, check=True, timeout=20)
        return read_ppm(path.read_bytes())

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            return "\n".join((self.dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # internals ------------------------------------------------------------------------------------

    def _write_files(self) -> None:
        q = shlex.quote
        (self.dir / "config").mkdir(exist_ok=True)
        (self.dir / "bus.conf").write_text(BUS_CONFIG.format(socket=self.bus_socket))
        dmenu = self.dir / "dmenu-pick"
        dmenu.write_text(DMENU_PICK.format(pick=q(str(self.pick_file)), menu_log=q(str(self.menu_log))))
        on_display = self.dir / "on-display"
        on_display.write_text(ON_DISPLAY.format(log=q(str(self.displayed_log))))
        for script in (dmenu, on_display):
            script.chmod(0o755)
        icons = self.dir / "icons"
        icons.mkdir(exist_ok=True)
        for name, colour in ICONS.items():
            write_png(icons / f"{name}.png", 16, 16, colour)
        for config, markup in (("dunstrc", "full"), ("dunstrc-plain", "no")):
            text = DUNSTRC.format(dmenu=dmenu, on_display=on_display, icons=icons, markup=markup)
            (self.dir / config).write_text(text)
        # like daemons that expire every toast after a few seconds whatever the client asked
        expiring = DUNSTRC.format(dmenu=dmenu, on_display=on_display, icons=icons, markup="full")
        (self.dir / "dunstrc-expiring").write_text(expiring + EXPIRE_EVERYTHING)

    def _spawn(
        self, name: str, args: list[str], *, pass_fds: tuple[int, ...] = (), env: dict[str, str] | None = None
    ) -> None:
        with (self.dir / f"{name}.log").open("ab") as log:
            self._procs[name] = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=pass_fds, env=env
            )

    def _read_line(self, fd: int, name: str, timeout: float = 10.0) -> str:
        """Read the first line a starting program writes to `fd` (EOF or timeout: it failed)."""
        data = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(remaining, 0))
            chunk = os.read(fd, 256) if ready else b""
            if not chunk:
                raise SessionError(f"{name} did not start\n{self.log_tail(name)}")
            data += chunk
        return data.split(b"\n", 1)[0].decode().strip()

    def _stop(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def read_ppm(data: bytes) -> tuple[int, int, bytes]:
    """Parse a binary PPM (P6, maxval 255), what ImageMagick writes for `ppm:`."""
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError(f"not an 8-bit P6 PPM: {fields!r}")
    width, height = int(fields[1]), int(fields[2])
    pixels = data[pos + 1 : pos + 1 + width * height * 3]
    return width, height, pixels


def region_pixels(image: tuple[int, int, bytes], x: int, y: int, w: int, h: int) -> Iterator[tuple[int, int, int]]:
    width, _, pixels = image
    for row in range(y, y + h):
        start = (row * width + x) * 3
        chunk = pixels[start : start + w * 3]
        for i in range(0, len(chunk), 3):
            yield chunk[i], chunk[i + 1], chunk[i + 2]


def write_png(path: Path, width: int, height: int, rgb: tuple[int, int, int]) -> Path:
    """A small single-colour PNG, written by hand so the tests need no imaging library."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height))
    path.write_bytes(data + chunk(b"IEND", b""))
    return path


class Dunst:
    """The tests' own connection to dunst's control interface (org.dunstproject.cmd0), like `dunstctl`."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    @classmethod
    async def connect(cls, address: str) -> Dunst:
        return cls(await MessageBus(bus_address=address).connect())

    async def call(self, member: str, signature: str = "", body: list[object] | None = None) -> list[object]:
        reply = await self.bus.call(
            Message(
                destination=DUNST_BUS_NAME,
                path=DUNST_PATH,
                interface=DUNST_CMD,
                member=member,
                signature=signature,
                body=body or [],
            )
        )
        if reply.message_type is MessageType.ERROR:
            raise RuntimeError(f"dunst {member}: {reply.error_name} {reply.body}")
        return list(reply.body)

    async def prop(self, name: str) -> Any:
        reply = await self.bus.call(
            Message(
                destination=DUNST_BUS_NAME,
                path=DUNST_PATH,
                interface="org.freedesktop.DBus.Properties",
                member="Get",
                signature="ss",
                body=[DUNST_CMD, name],
            )
        )
        if reply.message_type is MessageType.ERROR:
            raise RuntimeError(f"dunst property {name}: {reply.error_name} {reply.body}")
        value: Variant = reply.body[0]
        return value.value

    async def displayed_length(self) -> int:
        """How many notifications are on screen: dunst answers after the pass that drew them."""
        return int(await self.prop("displayedLength"))

    async def close_all(self) -> None:
        await self.call("NotificationCloseAll")

    async def close_last(self) -> None:
        """What `dunstctl close` does: the user closes the newest notification (reason 2)."""
        await self.call("NotificationCloseLast")

    async def context_menu(self) -> None:
        """What `dunstctl context` does: open the actions menu (our dmenu stand-in answers it)."""
        await self.call("ContextMenuCall")

    async def history(self) -> list[dict[str, object]]:
        """Closed notifications, newest first, as plain values (id, summary, body, urgency, ...)."""
        (entries,) = await self.call("NotificationListHistory")
        assert isinstance(entries, list)
        return [{key: variant.value for key, variant in entry.items()} for entry in entries]

    def disconnect(self) -> None:
        self.bus.disconnect()


class Desktop:
    """One test's view of the session: dunst's control interface, and what dunst displayed since it began."""

    def __init__(self, session: DesktopSession, dunst: Dunst) -> None:
        self.session = session
        self.dunst = dunst
        self.since = session.log_offset()

    def displayed(self) -> list[Displayed]:
        return self.session.displayed(self.since)

    async def wait_displayed(self, summary: str, *, progress: int | None = None, within: float = 5.0) -> Displayed:
        """The latest display of a notification titled `summary` (with that progress value, if given)."""

        def latest() -> Displayed | None:
            hits = [
                d for d in self.displayed() if d.summary == summary and (progress is None or d.progress == progress)
            ]
            return hits[-1] if hits else None

        return await wait_until(latest, within)

    async def wait_empty(self, within: float = 5.0) -> None:
        """Wait until dunst displays nothing (it emits no signal for that: poll its count)."""
        deadline = time.monotonic() + within
        count = await self.dunst.displayed_length()
        while count and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            count = await self.dunst.displayed_length()
        assert count == 0, f"dunst still displays {count} notification(s) after {within} s"

    async def choose(self, daemon_id: int, key: str) -> None:
        """The user opens dunst's action menu and picks action `key` of notification `daemon_id`."""
        self.session.pick(daemon_id, key)
        await self.dunst.context_menu()

    async def reconnect(self) -> None:
        """A new control connection, after a test restarted the bus."""
        with contextlib.suppress(Exception):  # the old one died with the bus: collect its error
            await asyncio.wait_for(self.dunst.bus.wait_for_disconnect(), 1)  # type: ignore[no-untyped-call]
        self.dunst = await Dunst.connect(self.session.bus_address)


class Interactions:
    """The interaction sink of a test: records what the backend reported, lets the test wait for it."""

    def __init__(self) -> None:
        self.items: list[Interaction] = []
        self._arrived = asyncio.Event()

    def __call__(self, interaction: Interaction) -> None:
        self.items.append(interaction)
        self._arrived.set()

    async def wait(self, count: int = 1, within: float = 5.0) -> list[Interaction]:
        """Wait until at least `count` interactions arrived; return all of them."""
        async with asyncio.timeout(within):
            while len(self.items) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.items
