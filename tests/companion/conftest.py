"""A headless hub and two devices running `toasty-desktop` on the console, shared by a module's tests.

The desktop fixtures (a private Xvfb + D-Bus + dunst) are tests/desktop's, imported for the dunst test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.companion.companions import CompanionProcess, HeadlessHub, wait_subscribed
from tests.desktop.conftest import desktop, desktop_session  # noqa: F401  (fixtures for the dunst test)
from toasty_client import ResilientNotificationClient, RetryPolicy

FAST_RETRY = RetryPolicy(initial_backoff=0.02, max_backoff=0.3, jitter=0.05)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadlessHub]:
    server = HeadlessHub(tmp_path_factory.mktemp("hub") / "toasty.db")
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def devices(hub: HeadlessHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[CompanionProcess]]:
    """Two devices of the person, started together (they start in parallel, in about a second)."""
    directory = tmp_path_factory.mktemp("devices")
    both = [CompanionProcess(hub, directory, "desktop@laptop"), CompanionProcess(hub, directory, "desktop@tower")]
    for device in both:
        device.start()
    yield both
    for device in both:
        device.kill()


@pytest.fixture
async def person(hub: HeadlessHub) -> AsyncIterator[ResilientNotificationClient]:
    """The person at a terminal (the credential `toasty answer` presents)."""
    async with ResilientNotificationClient(hub.address, agent_id="person", token=hub.person_secret) as client:
        yield client


@pytest.fixture
async def agent(hub: HeadlessHub) -> AsyncIterator[ResilientNotificationClient]:
    """An agent on the hub's machine, without a credential (its questions' answer_key proves them)."""
    async with ResilientNotificationClient(hub.address, agent_id="deployer", token="", retry=FAST_RETRY) as client:
        yield client


@pytest.fixture
async def ready(devices: list[CompanionProcess], person: ResilientNotificationClient) -> list[CompanionProcess]:
    """The two devices, subscribed."""
    await wait_subscribed(person, *(d.client_id for d in devices))
    return devices
