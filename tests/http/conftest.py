"""A real server with its HTTP endpoint on a free loopback port, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.http.helpers import Api, http_url, spec_for
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ToastyServer]:
    """SQLite store (the shipped default) in a temp dir, HTTP on, no desktop backend."""
    async with running_server(store="sqlite", db_path=tmp_path / "toasty.db", http_enabled=True, http_port=0) as srv:
        yield srv


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def api(server: ToastyServer, session: aiohttp.ClientSession) -> Api:
    base = http_url(server)
    return Api(base, session, spec_for(base))
