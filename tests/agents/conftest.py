"""The agents here run as a user's script does: a local agent with no token (its questions are proved by
their answer_key), while the person answers with the person secret (the `toasty` command finds it through
TOASTY_PERSON_SECRET_FILE, which tests/conftest.py sets)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.agents.person import withdraw_all
from toasty_client import ResilientNotificationClient
from toasty_server.app import ToastyServer


@pytest.fixture(autouse=True)
def agent_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOASTY_TOKEN", raising=False)
    monkeypatch.delenv("TOASTY_ADDRESS", raising=False)
    monkeypatch.delenv("TOASTY_AGENT_ID", raising=False)


@pytest.fixture
async def person(server: ToastyServer) -> AsyncIterator[ResilientNotificationClient]:
    """The person, on the in-process hub. At the end, whatever is still asked is withdrawn: a test that
    failed before answering leaves no caller waiting out its timeout."""
    async with ResilientNotificationClient(server.address, agent_id="person", token=server.person_secret) as client:
        yield client
        await withdraw_all(client)
