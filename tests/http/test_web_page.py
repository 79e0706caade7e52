"""The live web page in a real headless Chromium (Debian's package, driven by Playwright): it shows what
agents publish over gRPC, and a click on a question's button resolves the asking agent's `ask()`.

Needs `apt-get install chromium` (Playwright's own browser download is not used). Skipped when Chromium
is absent, unless TOASTY_REQUIRE_BROWSER=1 (CI), which makes that a failure.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClientFactory
from tests.core.test_pubsub import wait_subscribed
from tests.http.helpers import http_url, open_question
from tests.requires import missing
from toasty_client import (
    Button,
    Choice,
    InteractiveNotification,
    Outcome,
    SelectionInput,
    TextInput,
    TextNotification,
    Urgency,
)
from toasty_server.app import ToastyServer

CHROMIUM = os.environ.get("TOASTY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE_TITLE = "<img src=x onerror=\"document.title='pwned'\"><b>bold?</b>"


def _chromium_or_skip() -> None:
    problem = None
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        problem = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed"
    if problem is not None:
        missing(problem, "TOASTY_REQUIRE_BROWSER")


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    _chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            tab = await context.new_page()
            tab.set_default_timeout(15_000)
            yield tab
        finally:
            await browser.close()


async def test_a_click_on_the_page_answers_the_agents_ask(
    server: ToastyServer, connect: ClientFactory, page: Any, tmp_path: Path
) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)

    watcher, deployer, builder = connect("watcher"), connect("deployer"), connect("ci")
    watching = watcher.subscribe()
    pump = asyncio.ensure_future(anext(watching))
    await wait_subscribed(server, "watcher")
    await builder.publish(TextNotification(title="Build passed", line1="main @ 4f2a9c", urgency=Urgency.INFO))
    await builder.publish(TextNotification(title=HOSTILE_TITLE, line1="escaped, not run"))
    asking = asyncio.ensure_future(
        deployer.ask(
            InteractiveNotification(
                title="Deploy v1.2 to production?",
                line1="3 services, 12 migrations",
                urgency=Urgency.WARNING,
                buttons=[Button(id="approve", label="Approve"), Button(id="reject", label="Reject")],
                inputs=[
                    TextInput(id="reason", title="Reason", placeholder="why?"),
                    SelectionInput(
                        id="window",
                        title="When",
                        choices=[Choice(id="now", label="Now"), Choice(id="tonight", label="Tonight")],
                    ),
                ],
            ),
            timeout=120,
        )
    )
    nid = await open_question(server)

    await page.goto(http_url(server) + "/")  # without the person's secret: refused, and told how to get in
    await page.locator("#connection[data-state='refused']").wait_for()
    assert await page.locator("#identity[open]").count() == 1
    assert await page.locator("article.ask").count() == 0
    problems.clear()  # the browser logs that refused fetch (403) as a console error: expected here

    await page.goto(http_url(server) + f"/#token={server.person_secret}")  # the link `toasty page` prints
    await page.wait_for_function("!window.location.hash.includes('token')")  # out of the address bar
    card = page.locator(f'article.ask[data-id="{nid}"]')
    await card.get_by_text("Deploy v1.2 to production?").wait_for()
    await page.locator("#connection[data-state='live']").wait_for()
    await page.locator("#agents td", has_text="watcher").wait_for()
    await page.locator("#log li", has_text="Build passed").wait_for()

    # Notification text is shown as text, never interpreted as HTML.
    await page.locator("#log li strong", has_text=HOSTILE_TITLE).wait_for()
    assert await page.locator("#log img, #log b").count() == 0
    assert await page.title() == "Toasty"

    await card.locator('input[data-input-id="reason"]').fill("tested on staging")
    await card.locator('select[data-input-id="window"]').select_option("tonight")
    screenshot = tmp_path / "toasty-page.png"
    picture = await page.screenshot(path=str(screenshot), full_page=True)
    if os.environ.get("TOASTY_SCREENSHOT_DIR"):
        shutil.copy(screenshot, Path(os.environ["TOASTY_SCREENSHOT_DIR"]) / screenshot.name)
    await _assert_not_blank(page, picture)

    await card.get_by_role("button", name="Approve").click()
    answer = await asyncio.wait_for(asking, 10)
    assert answer.outcome is Outcome.BUTTON
    assert answer.button_id == "approve"
    assert answer.inputs == {"reason": "tested on staging", "window": "tonight"}
    assert answer.backend == "web"
    await card.locator(".result", has_text="Answered: Approve").wait_for()
    await page.locator(f'article.ask[data-id="{nid}"]').wait_for(state="detached")  # gone once decided

    pump.cancel()
    assert problems == []


async def _assert_not_blank(page: Any, data: bytes) -> None:
    """The screenshot is a real picture with content: many distinct colours, not one flat fill. Counted by
    the browser itself (a canvas in a blank tab), so the test needs no imaging library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800
    assert height >= 600
    blank = await page.context.new_page()
    try:
        colours = await blank.evaluate(COUNT_COLOURS, base64.b64encode(data).decode())
    finally:
        await blank.close()
    assert colours > 20, f"the screenshot looks blank ({colours} colours)"


COUNT_COLOURS = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const seen = new Set();
  for (let i = 0; i < pixels.length; i += 4 * 7) seen.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
  return seen.size;
}"""
