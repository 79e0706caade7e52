"""`toasty-desktop` as real child processes, and a hub that shows nothing itself (a server in a rack)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.core.process import ServerProcess
from toasty_client import ResilientNotificationClient


class HeadlessHub(ServerProcess):
    """A hub with no desktop: its toasts reach the person only through companions (and page, CLI, MCP)."""

    renderer = "none"


class CompanionProcess:
    """One device's `python -m toasty_server.companion`, its stderr (toast lines and log) in a file.

    The person secret is given as a file (`--secret-file`), as on a device the hub's secret was copied to;
    TOASTY_TOKEN is taken out of its environment so that nothing else can stand in for it.
    """

    def __init__(
        self, hub: ServerProcess, directory: Path, client_id: str, *, renderer: str = "console", poll: float = 0.4
    ) -> None:
        self.hub = hub
        self.client_id = client_id
        self.renderer = renderer
        self.poll = poll
        safe = re.sub(r"[^A-Za-z0-9]+", "-", client_id)
        self.log_path = directory / f"companion-{safe}.log"
        self.state_dir = directory / f"state-{safe}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_offset = 0  # where the current run's output starts in the log

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "toasty_server.companion",
            "--hub", self.hub.address, "--renderer", self.renderer, "--client-id", self.client_id,
            "--secret-file", str(self.hub.person_secret_file), "--state-dir", str(self.state_dir),
            "--poll-interval", str(self.poll),
        ]  # fmt: skip

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "TOASTY_TOKEN"}
        env["PYTHONUNBUFFERED"] = "1"
        self.run_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, env=env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def run_log(self) -> str:
        """What the current run wrote."""
        with self.log_path.open("rb") as f:
            f.seek(self.run_offset)
            return f.read().decode(errors="replace")

    async def wait_for(self, text: str, within: float = 5.0) -> float:
        """Until this run's output contains `text`; returns when it was seen (time.monotonic)."""
        deadline = time.monotonic() + within
        while text not in self.run_log():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.client_id} exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.client_id} never wrote {text!r} within {within} s:\n{self.run_log()}")
            await asyncio.sleep(0.01)
        return time.monotonic()

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, as a service manager stops it; its exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def wait_subscribed(person: ResilientNotificationClient, *client_ids: str, within: float = 15.0) -> None:
    """Until the hub has a live stream for each client id (the companions are ready)."""
    deadline = time.monotonic() + within
    while True:
        status = await person.status()
        live = {s.client_id for s in status.subscribers}
        if set(client_ids) <= live:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not subscribed within {within} s: {set(client_ids) - live}")
        await asyncio.sleep(0.05)


def toast_lines(text: str, title: str) -> list[str]:
    """The console backend's lines for toasts titled `title`."""
    return [line for line in text.splitlines() if line.startswith("[toast ") and f"] {title}" in line]
