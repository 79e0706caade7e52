"""Run windows-toasts' real classes on any OS over the fake WinRT layer in tests/fakes.

The fake goes on sys.path only when the real PyWinRT cannot be imported; these tests drive the fake's
hooks (recorded toasts, fired events), so with the real PyWinRT (on Windows) they are skipped.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

try:
    import winrt  # noqa: F401  (the real PyWinRT, on Windows)
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fakes"))

from toasty_server.render.backend import Interaction
from toasty_server.render.windows import WindowsBackend

AUMID = "Test.Toasty.Aumid"


@pytest.fixture(autouse=True)
def fake() -> Iterator[ModuleType]:
    """The fake `winrt.windows.ui.notifications`, emptied before and after each test."""
    import winrt

    if not getattr(winrt, "FAKE", False):
        pytest.skip("the real PyWinRT is installed: these tests need the fake WinRT layer in tests/fakes")
    from winrt.windows.ui import notifications

    notifications.reset()
    yield notifications
    notifications.reset()


@dataclass
class Sink:
    """Collects interactions, with the thread each arrived on."""

    received: list[Interaction] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, interaction: Interaction) -> None:
        self.received.append(interaction)
        self.threads.append(threading.get_ident())
        self.event.set()

    async def next(self, timeout: float = 2.0) -> Interaction:
        count = len(self.received)
        async with asyncio.timeout(timeout):
            while len(self.received) == count:
                self.event.clear()
                await self.event.wait()
        return self.received[count]


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
async def backend(fake: ModuleType, sink: Sink) -> AsyncIterator[WindowsBackend]:
    """A started Windows backend under a test AUMID; its interactions go to `sink`."""
    b = WindowsBackend(AUMID)
    await b.start(sink)
    yield b
    await b.close()


@pytest.fixture
def notifier(fake: ModuleType) -> object:
    """What the fake Windows recorded for the backend's AUMID (shown toasts, updates, calling threads)."""
    return fake.notifier_for(AUMID)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "pic.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    return path
