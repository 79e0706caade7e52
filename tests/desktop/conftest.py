"""Fixtures for the freedesktop backend tests: a real headless desktop (Xvfb + private D-Bus + dunst).

One desktop per test session and per xdist worker (each worker has its own tmp_path_factory). Each test
gets the desktop's DISPLAY and DBUS_SESSION_BUS_ADDRESS through monkeypatch (restored after it), so the
code under test can never notify the developer's real desktop, and starts with an empty screen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.desktop.session import APT_PACKAGES, Desktop, DesktopSession, Dunst, Interactions, missing_tools
from tests.requires import missing
from toasty_server.render.freedesktop import FreedesktopBackend


@pytest.fixture(scope="session")
def desktop_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DesktopSession]:
    absent = missing_tools()
    if absent:
        missing(
            f"{', '.join(absent)} not installed; the freedesktop tests need a real desktop: "
            f"apt-get install -y --no-install-recommends {APT_PACKAGES}",
            "TOASTY_REQUIRE_DESKTOP",
        )
    session = DesktopSession(tmp_path_factory.mktemp("desk"))
    session.start()
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
async def desktop(desktop_session: DesktopSession, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desktop]:
    """The session, made current for this test, with nothing on screen and no pending pick."""
    session = desktop_session
    # a test that killed the bus or dunst and then failed must not break the ones after it
    if not session.is_running("dbus-daemon"):
        session.stop()
        session.start()
    elif not session.is_running("dunst"):
        session.start_dunst()
    for key, value in session.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    session.clear_pick()
    dunst = await Dunst.connect(session.bus_address)
    await dunst.close_all()
    desktop = Desktop(session, dunst)
    yield desktop
    desktop.dunst.disconnect()


@pytest.fixture
def interactions() -> Interactions:
    return Interactions()


@pytest.fixture
async def backend(desktop: Desktop, interactions: Interactions) -> AsyncIterator[FreedesktopBackend]:
    """A started FreedesktopBackend on the test desktop, reporting to `interactions`."""
    backend = FreedesktopBackend()
    await backend.start(interactions)
    yield backend
    await backend.close()
