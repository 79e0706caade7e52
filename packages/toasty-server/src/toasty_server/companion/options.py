"""What one companion runs with: the hub, the person's credential, this device's name and its limits."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir, user_state_dir

RendererName = Literal["auto", "windows", "freedesktop", "console"]

CLIENT_ID_PREFIX = "desktop@"
MAX_CLIENT_ID_CHARS = 128  # the hub's default TOASTY_MAX_ID_CHARS
POLL_SECONDS = 0.4  # how often open questions shown here are checked: "withdrawn within a second"
MAX_AGE_SECONDS = 3600.0  # older toasts found when catching up are not shown (open questions always are)

CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]*")  # what the hub accepts (service.validation)
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9._-]+")


def default_client_id(hostname: str | None = None) -> str:
    """`desktop@<hostname>`: stable per device, so that a restart resumes its own subscription, and
    distinct between devices, since the hub keeps one stream per client id (a second one replaces it)."""
    name = _NOT_IN_ID.sub("-", hostname if hostname is not None else socket.gethostname()).strip("-.") or "unknown"
    return (CLIENT_ID_PREFIX + name)[:MAX_CLIENT_ID_CHARS]


def default_state_dir() -> Path:
    """Where the resume point lives (XDG_STATE_HOME on Linux, the local app data folder on Windows)."""
    return Path(user_state_dir("toasty", appauthor=False)) / "desktop"


def default_cache_dir() -> Path:
    """Where toast images downloaded from URLs are cached (bounded, as on the hub)."""
    return Path(user_cache_dir("toasty", appauthor=False)) / "desktop-images"


@dataclass(frozen=True, slots=True)
class CompanionOptions:
    hub: str  # host:port or unix:/path, as the toasty command dials it
    token: str  # the person secret: answers are the person's
    client_id: str
    renderer: RendererName = "auto"
    state_dir: Path | None = None  # None: default_state_dir()
    cache_dir: Path | None = None  # None: default_cache_dir()
    poll_seconds: float = POLL_SECONDS
    max_age_seconds: float = MAX_AGE_SECONDS
    ca_file: Path | None = None  # a hub with TLS and a private CA (else TOASTY_CA_FILE / TOASTY_TLS)
