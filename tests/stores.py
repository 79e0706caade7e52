"""The store fixture of the store tests: each runs on the in-memory store, on a SQLite file and on a fresh
database of a real PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.postgres import PostgresServer, postgres  # noqa: F401  (the fixture, for every test)
from toasty_server.store import MemoryStore, SQLiteStore, Store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened: Store
    if request.param == "postgres":
        # the PostgreSQL driver is an extra: the env of the lowest bounds leaves it out (tests/scale, which
        # needs it, runs in the main env, where it is locked)
        pytest.importorskip("psycopg", reason="the postgres extra is not installed in this environment")
        from toasty_server.store.postgres import PostgresStore

        server: PostgresServer = request.getfixturevalue("postgres")
        opened = PostgresStore(server.create_database())
    else:
        opened = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "t.db")
    await opened.open()
    yield opened
    await opened.close()
