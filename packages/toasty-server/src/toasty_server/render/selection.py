"""Which backends to try, in order, for the `renderer` setting."""

from __future__ import annotations

import importlib
import logging
import sys

from toasty_server.config import Settings
from toasty_server.render.backend import ToastBackend
from toasty_server.render.console import ConsoleBackend

log = logging.getLogger(__name__)

# setting value -> "module:factory" of a desktop backend; imported lazily (platform-specific deps)
_DESKTOP = {
    "windows": "toasty_server.render.windows:create_backend",
    "freedesktop": "toasty_server.render.freedesktop:create_backend",
}


def _desktop_for_platform() -> str | None:
    if sys.platform == "win32":
        return "windows"
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return "freedesktop"
    return None


def _load(name: str, settings: Settings) -> ToastBackend | None:
    module_name, factory = _DESKTOP[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        log.info("desktop backend %s is not installed here: %s", name, exc)
        return None
    backend: ToastBackend = getattr(module, factory)(settings)
    return backend


def choose_backends(settings: Settings) -> list[ToastBackend]:
    """The chosen desktop backend first (when it loads), the console always last, nothing for `none`."""
    if settings.renderer == "none":
        return []
    wanted = _desktop_for_platform() if settings.renderer == "auto" else settings.renderer
    backends: list[ToastBackend] = []
    if wanted in _DESKTOP:
        desktop = _load(wanted, settings)
        if desktop is not None:
            backends.append(desktop)
    backends.append(ConsoleBackend())
    return backends
