"""Shared fixtures: a real Toasty server on a loopback port and clients talking to it over gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.core.process import ServerProcess
from toasty_client import ResilientNotificationClient, RetryPolicy
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `toasty-server` process on a fixed loopback port, SQLite log in tmp_path, killed at the end."""
    server = ServerProcess(tmp_path / "toasty.db")
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
        kwargs.setdefault("retry", FAST_RETRY)
        client = ResilientNotificationClient(server.address, agent_id=agent_id, **kwargs)  # type: ignore[arg-type]
        client.connect()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
