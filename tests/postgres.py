"""A real PostgreSQL server for the tests: started once per test session (and xdist worker) in a
temporary folder, on a free loopback port, with a fresh database per test.

The binaries come from PATH or Debian's /usr/lib/postgresql/*/bin (`.ci/run` installs them). PostgreSQL
refuses to run as root, so as root the server runs as the `postgres` user. Outside CI, missing binaries
skip the tests with the command to install them; in CI (TOASTY_REQUIRE_POSTGRES) they fail.

The server is started by tests/postgres_server.py, which the benchmark uses too (durable as shipped there;
the tests' one runs without fsync, for speed).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.postgres_server import APT_PACKAGE, create_database, find_binary, start_cluster, wait_ready
from tests.requires import missing


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
