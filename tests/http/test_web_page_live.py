"""The web page as a person watches it (issue 16), in a real headless Chromium: a progress bar moves in
place, and when the hub goes away the page says so, then recovers by itself when it is back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.core.process import ServerProcess, free_port
from tests.http.test_web_page import page  # noqa: F401  (the fixture: Chromium driven by Playwright)
from toasty_client import ProgressNotification, ResilientNotificationClient, TextNotification


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ServerProcess]:
    http_port = free_port()
    server = ServerProcess(
        tmp_path / "toasty.db", env={"TOASTY_HTTP_ENABLED": "true", "TOASTY_HTTP_PORT": str(http_port)}
    )
    server.http_port = http_port  # type: ignore[attr-defined]
    server.start()
    yield server
    server.kill()


def page_url(hub: ServerProcess) -> str:
    return f"http://127.0.0.1:{hub.http_port}/#token={os.environ['TOASTY_TOKEN']}"  # type: ignore[attr-defined]


async def test_a_progress_bar_moves_in_place(hub: ServerProcess, page: Any) -> None:  # noqa: F811
    await page.goto(page_url(hub))
    await page.locator("#connection[data-state='live']").wait_for()
    bar = page.locator("#progress-bars li[data-key='upload-7']")
    async with ResilientNotificationClient(hub.address, agent_id="uploader") as client:
        for value in (0.1, 0.4, 0.75):
            await client.publish(ProgressNotification(title="Upload", key="upload-7", value=value, status="files"))
            await bar.locator(".percent", has_text=f"{round(value * 100)}%").wait_for()
            assert await page.locator("#progress-bars li").count() == 1  # one bar, updated in place
            assert float(await bar.locator("progress").get_attribute("value")) == value
        await client.publish(ProgressNotification(title="Upload", key="upload-7", value=1.0, state="succeeded"))
    await page.locator("#progress-empty:not([hidden])").wait_for()  # a finished bar leaves the list


async def test_the_page_says_the_hub_is_gone_and_recovers_when_it_is_back(hub: ServerProcess, page: Any) -> None:  # noqa: F811
    await page.goto(page_url(hub))
    await page.locator("#connection[data-state='live']").wait_for()
    hub.kill()
    badge = page.locator("#connection[data-state='down']")
    await badge.wait_for()
    assert "cannot reach the hub" in (await badge.text_content() or "") or "reconnecting" in (
        await badge.text_content() or ""
    )
    assert await page.locator("body[data-stale='true']").count() == 1  # what it shows is marked stale
    hub.start()
    await page.locator("#connection[data-state='live']").wait_for(timeout=20_000)
    assert await page.locator("body[data-stale='false']").count() == 1
    async with ResilientNotificationClient(hub.address, agent_id="ci") as client:
        await client.publish(TextNotification(title="after the restart"))
    await page.locator("#log li strong", has_text="after the restart").wait_for()
