"""This device's renderer: the hub's own (`render.selection` + `render.dispatcher`), for one backend name.

The same backends, fallback, queue, in-place progress updates and image handling as on a hub, so a toast
looks the same on every device. Settings are not read from TOASTY_* variables here (those configure a
hub, which may run on this machine too): only the backend name, the AUMID on Windows and the image cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from toasty_server.config import Settings
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.images import ImageCache
from toasty_server.render.selection import choose_backends

AUMID_ENV = "TOASTY_AUMID"  # Windows: the AppUserModelID `toasty-server register-aumid` registered


def renderer_settings(renderer: str, cache_dir: Path) -> Settings:
    """The hub's defaults, but for the backend, the AUMID and the image cache (validation skipped: only
    these fields are read, and the hub's rules, such as TLS beyond loopback, are not the companion's)."""
    fields: dict[str, object] = {"renderer": renderer, "image_cache_dir": cache_dir}
    if os.environ.get(AUMID_ENV):
        fields["aumid"] = os.environ[AUMID_ENV]
    return Settings.model_construct(**fields)  # type: ignore[arg-type]


def build_renderer(renderer: str, cache_dir: Path) -> Renderer:
    """The chosen desktop backend first (when it loads here), the console last, as on a hub."""
    settings = renderer_settings(renderer, cache_dir)
    return Renderer(
        choose_backends(settings),
        queue_depth=settings.render_queue_depth,
        concurrency=settings.render_concurrency,
        image_resolver=ImageCache.from_settings(settings).resolve,
        local_image_max_bytes=settings.image_max_bytes,
    )
