"""Local image paths reach a desktop only when they are regular image files within the size limit."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tests.desktop.session import write_png
from toasty_server.render.console import ConsoleBackend
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.spec import ImageSpec, Kind, ToastSpec


async def shown_with(path: Path, max_bytes: int = 5 * 1024 * 1024) -> tuple[str, Renderer]:
    out = io.StringIO()
    renderer = Renderer([ConsoleBackend(out)], local_image_max_bytes=max_bytes)
    await renderer.start()
    toast = ToastSpec(notification_id="n1", publisher="a", kind=Kind.IMAGE_TEXT, title="T", image=ImageSpec(path=path))
    receipt = await renderer.show(toast)
    await renderer.close()
    assert receipt.shown
    return out.getvalue(), renderer


async def test_a_real_png_is_kept(tmp_path: Path) -> None:
    line, renderer = await shown_with(write_png(tmp_path / "ok.png", 4, 4, (1, 2, 3)))
    assert "[image inline:" in line
    assert renderer.failed["image_refused"] == 0


@pytest.mark.parametrize("kind", ["fifo", "text", "missing", "too big", "folder"])
async def test_unsafe_or_useless_paths_are_dropped_not_shown(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    max_bytes = 5 * 1024 * 1024
    if kind == "fifo":
        os.mkfifo(path)  # opening it would block the desktop daemon forever
    elif kind == "text":
        path.write_text("not an image")
    elif kind == "too big":
        write_png(path, 64, 64, (9, 9, 9))
        max_bytes = 100
    elif kind == "folder":
        path.mkdir()
    line, renderer = await shown_with(path, max_bytes)
    assert "[image" not in line
    assert "T" in line
    assert renderer.failed["image_refused"] == 1
