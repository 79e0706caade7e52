"""A real PostgreSQL server for the tests: started once per test session (and xdist worker) in a
temporary folder, on a free loopback port, with a fresh database per test.

The binaries come from PATH or Debian's /usr/lib/postgresql/*/bin (`.ci/run` installs them). PostgreSQL
refuses to run as root, so as root the server runs as the `postgres` user. Outside CI, missing binaries
skip the tests with the command to install them; in CI (TOASTY_REQUIRE_POSTGRES) they fail.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.requires import missing

APT_PACKAGE = "postgresql"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]  # a name made just above
        return self.url(name)


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL will not run as root: run it as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    initdb, postgres = _binary("initdb"), _binary("postgres")
    if initdb is None or postgres is None:
        missing(
            f"PostgreSQL is not installed; the PostgreSQL store tests need it: apt-get install -y {APT_PACKAGE}",
            "TOASTY_REQUIRE_POSTGRES",
        )
    directory = Path(tempfile.mkdtemp(prefix="toasty-pg-"))  # not under pytest's 0700 root-owned folders
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
    data = directory / "data"
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    log = (directory / "postgres.log").open("wb")
    args = [postgres, "-D", str(data), "-p", str(port), "-k", str(directory), "-c", "listen_addresses=127.0.0.1"]
    args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    process = subprocess.Popen(_as_postgres(args), stdout=log, stderr=subprocess.STDOUT)
    server = PostgresServer(directory, port, process)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_ready(server: PostgresServer, within: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + within
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited:\n{(server.directory / 'postgres.log').read_text()[-2000:]}")
        try:
            with psycopg.connect(server.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server
