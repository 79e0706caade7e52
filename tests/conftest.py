"""Shared fixtures: a real Toasty server on a loopback port and clients talking to it over gRPC."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.core.process import ServerProcess
from toasty_client import ResilientNotificationClient, RetryPolicy
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server

# the `store` fixture (the in-memory store, a SQLite file, a PostgreSQL database) and the `postgres` fixture
# (a real PostgreSQL server for the session)
pytest_plugins = ["tests.stores"]

# Every server the suite starts (in process or as a child) shares one person secret in a temporary file,
# and clients present it by default (TOASTY_TOKEN): the tests written before the access model act as the
# person, as everyone could then. The access model's own tests (tests/hardening/test_roles.py) clear
# TOASTY_TOKEN and pass agents' tokens or none.
_SECRET_DIR = tempfile.mkdtemp(prefix="toasty-tests-")
PERSON_SECRET = secrets.token_urlsafe(32)
PERSON_SECRET_FILE = Path(_SECRET_DIR) / "person.secret"
PERSON_SECRET_FILE.write_text(PERSON_SECRET + "\n")
PERSON_SECRET_FILE.chmod(0o600)
os.environ["TOASTY_PERSON_SECRET_FILE"] = str(PERSON_SECRET_FILE)
os.environ["TOASTY_TOKEN"] = PERSON_SECRET


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `toasty-server` process on a fixed loopback port, SQLite log in tmp_path, killed at the end."""
    server = ServerProcess(tmp_path / "toasty.db")
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def module_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One `toasty-server` process for a whole test module (command-line tests that only add to its log)."""
    server = ServerProcess(tmp_path_factory.mktemp("module") / "toasty.db")
    server.start()
    yield server
    server.kill()


FAST_RETRY = RetryPolicy(initial_backoff=0.02, max_backoff=0.3, jitter=0.05)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ToastyServer]:
    """A server with the shipped defaults (SQLite store) in a temp dir, no desktop backend."""
    async with running_server(store="sqlite", db_path=tmp_path / "toasty.db") as srv:
        yield srv


ClientFactory = Callable[..., ResilientNotificationClient]


@pytest.fixture
async def connect(server: ToastyServer) -> AsyncIterator[ClientFactory]:
    """Make connected clients for `server`; all are closed at the end of the test."""
    clients: list[ResilientNotificationClient] = []

    def make(agent_id: str = "tester", **kwargs: object) -> ResilientNotificationClient:
        """A client acting as the person (answers, reads everything) unless a test passes `token=`:
        the access model's own tests (tests/hardening/test_roles.py) use agents and anonymous callers."""
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("token", server.person_secret)
        client = ResilientNotificationClient(server.address, agent_id=agent_id, **kwargs)  # type: ignore[arg-type]
        client.connect()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
