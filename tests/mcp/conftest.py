"""Fixtures of the MCP tests: one real hub for all of them, and the person's client to read it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.core.process import ServerProcess
from toasty_client import ResilientNotificationClient


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A `toasty-server` process shared by the MCP tests: each test uses its own agent ids on it."""
    server = ServerProcess(tmp_path_factory.mktemp("mcp-hub") / "toasty.db")
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def person(hub: ServerProcess) -> AsyncIterator[ResilientNotificationClient]:
    """The person's client: lists every open question and reads every notification."""
    async with ResilientNotificationClient(hub.address, agent_id="person", token=hub.person_secret) as client:
        yield client
