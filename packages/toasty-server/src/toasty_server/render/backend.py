"""What a desktop backend implements, and how it reports the user's answers back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from toasty_server.render.spec import ToastSpec


class InteractionKind(Enum):
    BUTTON = "button"
    ACTIVATED = "activated"
    DISMISSED = "dismissed"
    TIMED_OUT = "timed_out"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Interaction:
    """A user's answer (or the desktop's verdict) on one toast, as a backend observed it."""

    notification_id: str
    kind: InteractionKind
    backend: str
    button_id: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    detail: str = ""


InteractionSink = Callable[[Interaction], None]
"""Called on the event loop thread. Backends whose callbacks arrive on other threads re-enter the loop
with `loop.call_soon_threadsafe(sink, interaction)`."""


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """What a backend shows toasts on, for `toasty status` and the web page: a user sees why a toast
    looks the way it does (or why it went to the console)."""

    backend: str
    available: bool
    detail: str = ""  # e.g. "waiting for a notification daemon on the session bus"
    server_name: str = ""  # the desktop's notification service (freedesktop: GetServerInformation)
    server_vendor: str = ""
    server_version: str = ""
    spec_version: str = ""
    capabilities: tuple[str, ...] = ()


class BackendUnavailable(Exception):
    """The backend cannot run here (wrong platform, no bus, no daemon). The dispatcher tries the next."""


class ToastBackend(Protocol):
    """A desktop notification system. Every method must not block the event loop."""

    @property
    def name(self) -> str: ...

    @property
    def available(self) -> bool:
        """False while the desktop is away (no daemon yet, daemon gone): the renderer skips the backend
        until it comes back, without an error per toast."""
        ...

    def status(self) -> BackendStatus: ...

    async def start(self, sink: InteractionSink) -> None:
        """Connect; raise BackendUnavailable if this desktop cannot be used."""
        ...

    async def show(self, toast: ToastSpec) -> None:
        """Show the toast, or update in place the one with the same `replace_key`. Raise on failure."""
        ...

    async def withdraw(self, notification_id: str) -> None:
        """Remove the toast from the screen (and notification centre) if it is still there."""
        ...

    async def close(self) -> None: ...
