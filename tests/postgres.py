"""A real PostgreSQL server for the tests: started once per test session (and xdist worker) in a
temporary folder, on a free loopback port, with a fresh database per test.

The binaries come from PATH or Debian's /usr/lib/postgresql/*/bin (`.ci/run` installs them). PostgreSQL
refuses to run as root, so as root the server runs as the `postgres` user. Outside CI, missing binaries
skip the tests with the command to install them; in CI (TOASTY_REQUIRE_POSTGRES) they fail.

The benchmark starts its PostgreSQL with the same functions (`find_binary`, `as_postgres`, `start_cluster`,
`wait_ready`), durable as shipped; the tests' one runs without fsync, for speed.
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


def find_binary(name: str) -> str | None:
    """A PostgreSQL program from PATH, else the newest of Debian's /usr/lib/postgresql/*/bin."""
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
        return create_database(self.url(), "t")


def create_database(admin_url: str, prefix: str) -> str:
    """A new empty database named `<prefix>_<random>` on the server of `admin_url`; its URL."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL will not run as root: run it as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start_cluster(directory: Path, port: int, *, durable: bool) -> subprocess.Popen[bytes]:
    """initdb in `directory`/data (owned by the `postgres` user when root), then the server on 127.0.0.1:`port`,
    its socket and log (postgres.log) in `directory`. Not `durable`: fsync, synchronous commit and full page
    writes off (a test database need not survive a power loss). RuntimeError when a step fails."""
    initdb, postgres = find_binary("initdb"), find_binary("postgres")
    if initdb is None or postgres is None:
        raise RuntimeError(f"PostgreSQL is not installed: apt-get install -y {APT_PACKAGE}")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
    data = directory / "data"
    # --no-sync: initdb's own flush of the new cluster (the server's settings decide durability)
    init = [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
    done = subprocess.run(as_postgres(init), capture_output=True, text=True, timeout=120, check=False)
    if done.returncode:
        raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr[-2000:]}")
    args = [postgres, "-D", str(data), "-p", str(port), "-k", str(directory), "-c", "listen_addresses=127.0.0.1"]
    if not durable:
        args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    with (directory / "postgres.log").open("wb") as log:
        return subprocess.Popen(as_postgres(args), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path, within: float = 30.0) -> None:
    """Until the server at `url` takes connections; RuntimeError with its log's tail if it exits first."""
    import psycopg

    deadline = time.monotonic() + within
    while True:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise RuntimeError(f"PostgreSQL exited ({process.returncode}):\n{tail}")
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    if find_binary("initdb") is None or find_binary("postgres") is None:
        missing(
            f"PostgreSQL is not installed; the PostgreSQL store tests need it: apt-get install -y {APT_PACKAGE}",
            "TOASTY_REQUIRE_POSTGRES",
        )
    directory = Path(tempfile.mkdtemp(prefix="toasty-pg-"))  # not under pytest's 0700 root-owned folders
    port = _free_port()
    process = start_cluster(directory, port, durable=False)
    server = PostgresServer(directory, port, process)
    try:
        wait_ready(server.url(), process, directory / "postgres.log")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server
