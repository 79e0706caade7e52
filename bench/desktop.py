"""Workload 4 of issue 7: publish → toast displayed on a real dunst (Xvfb + private D-Bus), Toasty vs direct D-Bus.

One desktop session (tests/desktop/session.py: Xvfb, a dbus-daemon without service activation, dunst)
serves both columns, one after the other, round by round:
- Toasty: `python -m toasty_server --renderer freedesktop --store sqlite` in that session, fed by a
  publisher process (bench/desktop_worker.py) whose N agents each have their own gRPC channel;
- direct D-Bus: the same publisher process kind, whose N agents each have their own D-Bus connection
  and call dunst's `Notify` with the arguments Toasty would send. Toasty ÷ direct is what Toasty adds.

"Displayed" is dunst's on-display hook (a rule `script`), as the reference notes describe: dunst emits no
signal when it shows something. The hook here is a leaner script than the tests' (bash, `$EPOCHREALTIME`,
no fork): the tests' hook forks `date` and three `sed` pipelines per toast, and in a burst of 100 those
~800 processes would compete with dunst and Toasty for the two cores and be measured as latency.
What the stamp means, from dunst 1.9.0's source: on Notify dunst queues the toast, answers, then in the
same main-loop pass moves it to the displayed list, spawns the hook (fork, fork, exec) and draws every
displayed toast. So the stamp is taken by a process that starts while dunst draws: it is an upper bound
on "dunst accepted it for display" (plus the hook's start-up, ~1-2 ms), not a timestamp of the pixels;
with many toasts on screen the draw itself takes tens of ms and ends after the stamp. Both columns share
this offset, so the difference Toasty minus direct does not depend on it.

Clock: the hook can only read CLOCK_REALTIME (`$EPOCHREALTIME`, like `date +%s.%N`), so the publisher
stamps CLOCK_REALTIME too (`time.time_ns()`), right before each call: one kernel clock for every process,
so the difference is exact unless the clock is stepped (NTP) during a round. CLOCK_MONOTONIC, which the
rest of the bench uses, cannot be read from a shell hook, and stamping "displayed" when the harness reads
the log would add its polling delay. The harness records REALTIME minus MONOTONIC before and after every
round; any change (a step or a slew) is reported as `clock_step_max_us`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import upb
from bench.common import write_json
from bench.procs import ToastyServer, child_env, cpu_seconds
from bench.stats import percentile

if TYPE_CHECKING:
    from tests.desktop.session import DesktopSession, Dunst

COLUMNS = ("direct", "toasty")
SESSION_PROCS = ("dunst", "Xvfb", "dbus-daemon")
ANSWER_LIMIT = 16 * 1024 * 1024  # a worker's answer is one JSON line, ~100 bytes per toast

# Bash, no fork: one line per toast dunst puts on screen, `<CLOCK_REALTIME s.µs> <dunst id> <summary>`.
# A short line goes out in one write() on an O_APPEND file, so concurrent hooks do not interleave.
LEAN_HOOK = """#!{bash}
LC_ALL=C
printf '%s\\t%s\\t%s\\n' "$EPOCHREALTIME" "$DUNST_ID" "${{DUNST_SUMMARY//$'\\n'/ }}" >> {log}
"""


@dataclass(frozen=True)
class DesktopSizes:
    """Counts of one mode. Every wait is bounded; a toast not seen by then counts as not displayed."""

    agents: tuple[int, ...]
    burst_rounds: tuple[int, ...]  # per entry of `agents`; rounds alternate between the two columns
    paced_rate: float  # toasts per second, all agents together
    paced_count: int  # toasts per segment
    paced_segments: int  # per column; segments alternate between the two columns
    burst_wait_s: float  # after the last publish answered, for the last toast to show
    paced_wait_s: float


# dunst redraws every toast on screen for each new one, so a burst of 100 takes it seconds (Toasty's
# column longer, see README): few rounds there. The paced rate stays well below what dunst can show on a
# busy 2-core VM (7-20 ms of dunst CPU per toast there), so that shape measures the path, not a queue.
DESKTOP_FULL = DesktopSizes(
    agents=(20, 50, 100),
    burst_rounds=(3, 1, 1),
    paced_rate=15.0,
    paced_count=30,
    paced_segments=2,
    burst_wait_s=60.0,
    paced_wait_s=10.0,
)
DESKTOP_QUICK = DesktopSizes(
    agents=(20,),
    burst_rounds=(1,),
    paced_rate=15.0,
    paced_count=20,
    paced_segments=1,
    burst_wait_s=20.0,
    paced_wait_s=5.0,
)


def _repo_on_path() -> None:
    """`tests` (tests/desktop/session.py) is importable from the repository root, whatever the cwd."""
    if str(upb.REPO) not in sys.path:
        sys.path.insert(0, str(upb.REPO))


def desktop_available() -> str:
    """'' when the desktop workload can run here, else why not (the report prints it)."""
    _repo_on_path()
    try:
        from tests.desktop.session import APT_PACKAGES, missing_tools
    except ImportError as exc:  # dbus-fast or toasty_server missing in this env
        return f"tests/desktop/session.py not importable: {exc}"
    missing = missing_tools()
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install -y --no-install-recommends {APT_PACKAGES})"
    if shutil.which("bash") is None:
        return "bash not installed (the on-display hook reads $EPOCHREALTIME)"
    return ""


def make_session(directory: Path) -> DesktopSession:
    """A DesktopSession whose on-display hook is LEAN_HOOK (see the module docstring for why)."""
    _repo_on_path()
    from tests.desktop.session import DesktopSession

    class BenchSession(DesktopSession):
        def _write_files(self) -> None:
            super()._write_files()
            hook = self.dir / "on-display"
            bash = shutil.which("bash") or "/bin/bash"
            hook.write_text(LEAN_HOOK.format(bash=bash, log=shlex.quote(str(self.displayed_log))))
            hook.chmod(0o755)

    return BenchSession(directory)


def session_pid(session: DesktopSession, name: str) -> int:
    proc = session._procs.get(name)
    return proc.pid if proc is not None else 0


def parse_stamp(text: str) -> int:
    """`$EPOCHREALTIME` ("1790000000.123456"; a comma in some locales) → ns."""
    seconds, _, fraction = text.replace(",", ".").partition(".")
    return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9])


class HookLog:
    """Reads the hook's log as it grows: title → (displayed at, CLOCK_REALTIME ns; dunst id)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.seen: dict[str, tuple[int, int]] = {}
        self.redisplays = 0  # a title shown twice (dunst re-runs the hook after a replace); first one counts

    def poll(self) -> list[tuple[str, int]]:
        """New (title, dunst id) since the last call."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size <= self.offset:
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        new: list[tuple[str, int]] = []
        for raw in lines:
            stamp, daemon_id, title = raw.decode(errors="replace").split("\t", 2)
            if title in self.seen:
                self.redisplays += 1
                continue
            self.seen[title] = (parse_stamp(stamp), int(daemon_id))
            new.append((title, int(daemon_id)))
        return new


class DesktopServer(ToastyServer):
    """Toasty as shipped (SQLite store), rendering through the freedesktop backend in the bench session."""

    def __init__(self, name: str, workdir: Path, pb_dir: Path, session_env: dict[str, str]) -> None:
        super().__init__(name, workdir, pb_dir, store="sqlite", renderer="freedesktop", extra_env=session_env)

    def env(self) -> dict[str, str]:
        env = super().env()
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def backends(self) -> list[str]:
        """The renderer's active backends, from GetStatus ("freedesktop" first when it found dunst)."""
        return list(self.status().backends)


class Publisher:
    """One bench.desktop_worker process: READY, then one command a line in, one JSON answer a line out."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str, log_path: Path) -> None:
        self.proc = proc
        self.name = name
        self.log_path = log_path

    @classmethod
    async def start(cls, spec: dict[str, Any], workdir: Path, name: str) -> Publisher:
        spec_path = workdir / f"{name}.spec.json"
        log_path = workdir / f"{name}.log"
        write_json(spec_path, spec)
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.desktop_worker", str(spec_path),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=child_env(), cwd=upb.REPO,
                limit=ANSWER_LIMIT,
            )  # fmt: skip
        return cls(proc, name, log_path)

    async def _line(self, within: float) -> bytes:
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        except TimeoutError:
            line = b""
        if not line:
            raise RuntimeError(f"desktop worker {self.name} did not answer in {within} s:\n{self.log_tail()}")
        return line

    async def wait_ready(self, within: float) -> None:
        line = await self._line(within)
        if not line.startswith(b"READY"):
            raise RuntimeError(f"desktop worker {self.name}: {line[:200]!r}\n{self.log_tail()}")

    async def command(self, command: str, within: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{command}\n".encode())
        await self.proc.stdin.drain()
        answer: dict[str, Any] = json.loads(await self._line(within))
        return answer

    async def stop(self) -> None:
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(OSError, RuntimeError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"stop\n")
            await self.proc.stdin.drain()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@dataclass
class Tally:
    """Everything one column measured on one shape (all its rounds or segments together)."""

    sent: int = 0
    acked: int = 0
    displayed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_us: list[int] = field(default_factory=list)
    ack_us: list[int] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    clock_step_max_us: float = 0.0
    wall_s: float = 0.0

    def add(self, answer: dict[str, Any], log: HookLog) -> None:
        for title, toast in answer["toasts"].items():
            self.sent += 1
            if toast["error"]:
                self.errors[toast["error"]] = self.errors.get(toast["error"], 0) + 1
            else:
                self.acked += 1
                self.ack_us.append((toast["ack_ns"] - toast["sent_ns"]) // 1000)
            shown = log.seen.get(title)
            if shown is not None:
                self.displayed += 1
                self.latencies_us.append((shown[0] - toast["sent_ns"]) // 1000)

    def result(self) -> dict[str, Any]:
        lat, ack = self.latencies_us, self.ack_us
        return {
            "sent": self.sent,
            "acked": self.acked,
            "displayed": self.displayed,
            "errors": self.errors,
            "success_pct": 100.0 * self.displayed / self.sent if self.sent else float("nan"),
            "latency_p50_ms": percentile(lat, 50) / 1000,
            "latency_p90_ms": percentile(lat, 90) / 1000,
            "latency_p99_ms": percentile(lat, 99) / 1000,
            "latency_max_ms": percentile(lat, 100) / 1000,
            "ack_p50_ms": percentile(ack, 50) / 1000,
            "ack_p99_ms": percentile(ack, 99) / 1000,
            "cpu_us_per_toast": {k: v * 1e6 / self.sent for k, v in self.cpu_s.items()} if self.sent else {},
            "clock_step_max_us": self.clock_step_max_us,
            "wall_s": self.wall_s,
            "latencies_us": lat,
        }


def _clock_offset_ns() -> int:
    return time.time_ns() - time.monotonic_ns()


class DesktopRun:
    """The measurement itself, on a running session and server (async: dunst's control bus, workers)."""

    def __init__(
        self,
        session: DesktopSession,
        server: DesktopServer,
        sizes: DesktopSizes,
        workdir: Path,
        pb_dir: Path,
        client_loop: str,
        log: Callable[[str], None],
    ) -> None:
        self.session = session
        self.server = server
        self.sizes = sizes
        self.workdir = workdir
        self.pb_dir = pb_dir
        self.client_loop = client_loop
        self.log = log
        self.hook = HookLog(session.displayed_log)
        self.tallies: dict[str, dict[str, Tally]] = {}
        self.control: Dunst | None = None

    def cpu(self, column: str) -> dict[str, float]:
        pids = {name: session_pid(self.session, name) for name in SESSION_PROCS}
        if column == "toasty":
            pids["toasty_server"] = self.server.pid
        return {name: cpu_seconds(pid) for name, pid in pids.items()}

    async def run(self) -> dict[str, dict[str, Any]]:
        from tests.desktop.session import Dunst

        self.control = await Dunst.connect(self.session.bus_address)
        try:
            for agents, rounds in zip(self.sizes.agents, self.sizes.burst_rounds, strict=True):
                await self.agents(agents, rounds)
        finally:
            self.control.disconnect()
        return {
            shape: {column: tally.result() for column, tally in columns.items()}
            for shape, columns in self.tallies.items()
        }

    async def agents(self, agents: int, rounds: int) -> None:
        """Both publishers with `agents` agents: burst rounds, then paced segments, columns alternating."""
        common = {"agents": agents, "loop": self.client_loop, "pb_dir": str(self.pb_dir)}
        specs = {
            "toasty": {**common, "kind": "toasty", "address": self.server.address, "tag": f"t{agents}"},
            "direct": {**common, "kind": "dbus", "bus_address": self.session.bus_address, "tag": f"d{agents}"},
        }
        pubs: dict[str, Publisher] = {}
        try:
            for column, spec in specs.items():
                pubs[column] = await Publisher.start(spec, self.workdir, f"desktop-{column}-{agents}")
            await asyncio.gather(*(p.wait_ready(90) for p in pubs.values()))
            for r in range(rounds):
                for column in COLUMNS if r % 2 == 0 else COLUMNS[::-1]:
                    await self.burst(pubs[column], column, agents, r)
            for seg in range(self.sizes.paced_segments):
                for column in COLUMNS if seg % 2 == 0 else COLUMNS[::-1]:
                    await self.paced(pubs[column], column, agents, seg)
        finally:
            await asyncio.gather(*(p.stop() for p in pubs.values()))
        for shape in (f"burst-{agents}", f"paced-{agents}"):
            brief = []
            for column, tally in self.tallies.get(shape, {}).items():
                m = tally.result()
                brief.append(
                    f"{column} p50 {m['latency_p50_ms']:.1f} p99 {m['latency_p99_ms']:.1f} ms "
                    f"{tally.displayed}/{tally.sent} shown"
                )
            self.log(f"  desktop {shape:10} {', '.join(brief)}")

    def tally(self, shape: str, column: str) -> Tally:
        return self.tallies.setdefault(shape, {}).setdefault(column, Tally())

    async def clear_screen(self, settle: float) -> None:
        """Close every toast (CloseAll) and wait until dunst shows none, so rounds start alike."""
        assert self.control is not None
        await self.control.close_all()
        for _ in range(1000):  # at most ~10 s; dunst has no signal for "nothing displayed": poll its count
            if not await self.control.displayed_length():
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(settle)  # the senders (Toasty, or the direct agents) handle NotificationClosed
        self.hook.poll()

    async def wait_displayed(self, titles: list[str], deadline: float, dismiss: bool) -> None:
        """Poll the hook's log until every title was displayed or the deadline passed."""
        pending = set(titles) - self.hook.seen.keys()
        closers: list[asyncio.Task[None]] = []
        while pending and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
            for title, daemon_id in self.hook.poll():
                pending.discard(title)
                if dismiss:
                    closers.append(asyncio.create_task(self.dismiss(daemon_id)))
        await asyncio.gather(*closers)

    async def dismiss(self, daemon_id: int) -> None:
        """CloseNotification, as a user dismissing the toast right after seeing it."""
        from dbus_fast import Message

        from tests.desktop.session import DUNST_BUS_NAME, DUNST_PATH

        assert self.control is not None
        await self.control.bus.call(
            Message(
                destination=DUNST_BUS_NAME,
                path=DUNST_PATH,
                interface="org.freedesktop.Notifications",
                member="CloseNotification",
                signature="u",
                body=[daemon_id],
            )
        )

    async def burst(self, pub: Publisher, column: str, agents: int, r: int) -> None:
        await self.clear_screen(settle=0.05 + agents / 500)
        tally = self.tally(f"burst-{agents}", column)
        offset0, cpu0, t0 = _clock_offset_ns(), self.cpu(column), time.monotonic()
        answer = await pub.command(f"burst {column[0]}{agents}b{r}", 60)
        titles = [t for t, toast in answer["toasts"].items() if not toast["error"]]
        await self.wait_displayed(titles, time.monotonic() + self.sizes.burst_wait_s, dismiss=False)
        self.finish(tally, answer, offset0, cpu0, t0, column)

    async def paced(self, pub: Publisher, column: str, agents: int, seg: int) -> None:
        """Toasts at a steady rate; each is dismissed once displayed, so the screen holds one or two."""
        s = self.sizes
        await self.clear_screen(settle=0.1)
        tally = self.tally(f"paced-{agents}", column)
        offset0, cpu0, t0 = _clock_offset_ns(), self.cpu(column), time.monotonic()
        tag = f"{column[0]}{agents}p{seg}"
        command = asyncio.create_task(pub.command(f"paced {tag} {s.paced_count} {s.paced_rate} {agents + seg}", 120))
        closers: list[asyncio.Task[None]] = []
        while not command.done():  # dismiss while publishing
            await asyncio.sleep(0.002)
            closers += [asyncio.create_task(self.dismiss(i)) for _, i in self.hook.poll()]
        answer = command.result()
        await asyncio.gather(*closers)
        titles = [t for t, toast in answer["toasts"].items() if not toast["error"]]
        await self.wait_displayed(titles, time.monotonic() + s.paced_wait_s, dismiss=True)
        self.finish(tally, answer, offset0, cpu0, t0, column)

    def finish(
        self, tally: Tally, answer: dict[str, Any], offset0: int, cpu0: dict[str, float], t0: float, column: str
    ) -> None:
        tally.wall_s += time.monotonic() - t0
        for name, value in self.cpu(column).items():
            tally.cpu_s[name] = tally.cpu_s.get(name, 0.0) + value - cpu0[name]
        tally.clock_step_max_us = max(tally.clock_step_max_us, abs(_clock_offset_ns() - offset0) / 1000)
        tally.add(answer, self.hook)


def _ratio(toasty: float, direct: float) -> float:
    return toasty / direct if direct and direct == direct and toasty == toasty else float("nan")


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    out = subprocess.run(["dunst", "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"\d+\.\d+\.\d+", out)
    return {"dunst": found.group(0) if found else "?", "dbus_fast": version("dbus-fast")}


def run_desktop(
    workdir: Path, pb_dir: Path, client_loop: str, quick: bool, log: Callable[[str], None]
) -> dict[str, Any]:
    """Start the session and Toasty, measure both columns, stop everything; the `desktop` result section."""
    sizes = DESKTOP_QUICK if quick else DESKTOP_FULL
    started = time.monotonic()
    load0 = os.getloadavg()
    desk = workdir / "desk"  # short: the bus socket path must stay under 108 bytes
    desk.mkdir(exist_ok=True)
    session = make_session(desk)
    session.start()
    server = DesktopServer("desktop-toasty", workdir, pb_dir, session.env())
    try:
        server.start()
        backends = server.backends()
        if not backends or backends[0] != "freedesktop":
            raise RuntimeError(f"Toasty did not start its freedesktop backend (backends: {backends})")
        log(f"  desktop: session and Toasty (backends: {', '.join(backends)}) up in {time.monotonic() - started:.1f} s")
        run = DesktopRun(session, server, sizes, workdir, pb_dir, client_loop, log)
        shapes = asyncio.run(run.run())
        redisplays = run.hook.redisplays
    finally:
        server.stop()
        session.stop()
    for columns in shapes.values():
        if "toasty" in columns and "direct" in columns:
            columns["ratio"] = {
                key: _ratio(columns["toasty"][f"latency_{key}_ms"], columns["direct"][f"latency_{key}_ms"])
                for key in ("p50", "p99", "max")
            }
    success: dict[str, dict[str, Any]] = {}
    for column in COLUMNS:
        rows = [cols[column] for cols in shapes.values() if column in cols]
        sent = sum(r["sent"] for r in rows)
        displayed = sum(r["displayed"] for r in rows)
        success[column] = {
            "sent": sent,
            "acked": sum(r["acked"] for r in rows),
            "displayed": displayed,
            "pct": 100.0 * displayed / sent if sent else float("nan"),
        }
    return {
        "sizes": dataclasses.asdict(sizes),
        "shapes": shapes,
        "success": success,
        "redisplays": redisplays,
        "clock": "CLOCK_REALTIME (publisher stamp and hook), REALTIME - MONOTONIC checked per round",
        "hook": "dunst rule script: bash printf $EPOCHREALTIME $DUNST_ID $DUNST_SUMMARY (no fork)",
        "toasty": "python -m toasty_server --store sqlite --renderer freedesktop",
        "versions": _versions(),
        "loadavg": {"start": list(load0), "end": list(os.getloadavg())},
        "duration_s": time.monotonic() - started,
    }
