"""Run `toasty-server` as a real child process for restart and signal tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A `toasty-server` process on a fixed loopback port, so clients can reconnect after a restart.

    Subclasses change what runs by overriding `command()` and what it gets through `env`.
    """

    renderer = "console"

    def __init__(self, db_path: Path, port: int | None = None, *extra: str, env: dict[str, str] | None = None) -> None:
        self.db_path = db_path
        self.port = port or free_port()
        self.extra = extra
        self.log_path = db_path.with_suffix(".log")
        # Tests publish far faster than an agent should: no rate limit unless a test sets one.
        self.env = {
            # never the user's own data folder (attention state, image cache): the test's folder
            "TOASTY_DATA_DIR": str(db_path.parent),
            "TOASTY_RATE_LIMIT": "0",
            "TOASTY_CALL_RATE_LIMIT": "0",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "toasty_server",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--store", "sqlite", "--db-path", str(self.db_path),
            "--renderer", self.renderer, *self.extra,
        ]  # fmt: skip

    @property
    def person_secret_file(self) -> Path:
        """The suite's shared person secret (tests/conftest.py), else one beside the database."""
        named = os.environ.get("TOASTY_PERSON_SECRET_FILE", "")
        return Path(named) if named else self.db_path.parent / "person.secret"

    @property
    def person_secret(self) -> str:
        """The token acting as the person (the server writes it on start)."""
        return self.person_secret_file.read_text().strip()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, env={**os.environ, **self.env})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"toasty-server exited with {self.proc.returncode}:\n{self.log()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"toasty-server did not listen on {self.port}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise TimeoutError(f"{text!r} never logged:\n{self.log()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """kill -9: no flush, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
