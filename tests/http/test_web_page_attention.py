"""The web page's attention controls (issue 20), in a real headless Chromium against a real hub process:
the person turns do-not-disturb on and off from the page and sees what was held and why; sees each
agent's rates over the last hour (shown, held, collapsed, refused by the budget, a chart of shown per
minute) and mutes and unmutes an agent; snoozes a question from its card; sees a toast waiting for its
time under Scheduled. What the page shows is checked against the API (GET /v1/attention).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.core.process import ServerProcess, free_port
from tests.http.helpers import EventStream, http_url
from tests.http.test_web_page import HOSTILE_TITLE, page  # noqa: F401  (the fixture: Chromium driven by Playwright)
from toasty_client import Button, InteractiveNotification, Outcome, ResilientNotificationClient, TextNotification
from toasty_server.testing import running_server

BUDGET = 4  # new toasts per agent a minute (TOASTY_RATE_LIMIT): one more is refused


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ServerProcess]:
    http_port = free_port()
    server = ServerProcess(
        tmp_path / "toasty.db",
        env={
            "TOASTY_HTTP_ENABLED": "true",
            "TOASTY_HTTP_PORT": str(http_port),
            "TOASTY_RATE_LIMIT": str(BUDGET),
            "TOASTY_QUIET_HOURS": "",  # whatever the environment says: toasts are shown unless told otherwise
        },
    )
    server.http_port = http_port  # type: ignore[attr-defined]
    server.start()
    yield server
    server.kill()


class Hub:
    """The hub's HTTP API as the person (the suite's person secret, tests/conftest.py)."""

    def __init__(self, hub: ServerProcess, session: aiohttp.ClientSession) -> None:
        self.base = f"http://127.0.0.1:{hub.http_port}"  # type: ignore[attr-defined]
        self.session = session
        self.auth = {"Authorization": f"Bearer {os.environ['TOASTY_TOKEN']}"}

    @property
    def page(self) -> str:
        """The link `toasty page` prints: the person secret in the fragment."""
        return f"{self.base}/#token={os.environ['TOASTY_TOKEN']}"

    async def attention(self) -> dict[str, Any]:
        async with self.session.get(f"{self.base}/v1/attention", headers=self.auth) as reply:
            assert reply.status == 200, await reply.text()
            state: dict[str, Any] = await reply.json()
            return state

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(f"{self.base}{path}", json=body, headers=self.auth) as reply:
            assert reply.status == 200, await reply.text()
            answer: dict[str, Any] = await reply.json()
            return answer

    async def publish(self, agent: str, title: str, group: str = "") -> int:
        body = {"notification": {"group": group, "textMessage": {"header": {"title": title}}}}
        headers = {**self.auth, "X-Agent-Id": agent}
        async with self.session.post(f"{self.base}/v1/publish", json=body, headers=headers) as reply:
            return reply.status


@pytest.fixture
async def api(hub: ServerProcess) -> AsyncIterator[Hub]:
    async with aiohttp.ClientSession() as session:
        yield Hub(hub, session)


def hhmm(unix_ms: int | str) -> str:
    """HH:MM in local time, as the page writes a time (after the day, when it is not today)."""
    return datetime.datetime.fromtimestamp(int(unix_ms) / 1000).strftime("%H:%M")


async def screenshot(tab: Any, name: str) -> None:
    """With TOASTY_SCREENSHOT_DIR set, a picture of the page there (to look at the layout)."""
    folder = os.environ.get("TOASTY_SCREENSHOT_DIR")
    if folder:
        await tab.screenshot(path=str(Path(folder) / name), full_page=True)


async def open_page(tab: Any, api: Hub) -> list[str]:
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    await tab.goto(api.page)
    await tab.locator("#connection[data-state='live']").wait_for()
    await tab.locator("#dnd:not([hidden])").wait_for()  # the person's page: the attention controls show
    return problems


async def test_do_not_disturb_from_the_page_holds_toasts_lists_them_with_why_and_turns_off(
    hub: ServerProcess,
    api: Hub,
    page: Any,  # noqa: F811
) -> None:
    problems = await open_page(page, api)
    assert await page.locator("#dnd-state").text_content() == "Do not disturb: off"
    assert await page.locator("#held-empty").is_visible()
    assert await page.locator("#dnd-off").is_disabled()

    await page.get_by_role("button", name="Do not disturb for 1 hour").click()
    await page.locator("#dnd[data-state='on']").wait_for()
    state = await api.attention()
    assert state["doNotDisturb"] is True
    assert 3500 < int(state["untilUnixMs"]) / 1000 - time.time() <= 3600
    line = await page.locator("#dnd-state").text_content() or ""
    assert line.startswith("Do not disturb: on until ")
    assert line.endswith(f"{hhmm(state['untilUnixMs'])} · critical toasts still show")

    async with ResilientNotificationClient(hub.address, agent_id="ci") as client:
        await client.publish(TextNotification(title="Nightly build failed"))
        await client.publish(TextNotification(title=HOSTILE_TITLE))
    held = page.locator("#held-list li")
    await page.locator("#held-count", has_text="(2)").wait_for()
    newest = held.nth(0)  # newest first
    assert await newest.locator("strong").text_content() == HOSTILE_TITLE  # an agent's text, as text
    assert await page.locator("#held-list img, #held-list b").count() == 0
    assert await newest.locator(".reason").text_content() == "do-not-disturb"
    assert await newest.locator(".route").text_content() == "from ci"
    assert await held.nth(1).locator("strong").text_content() == "Nightly build failed"
    assert [(h["agent"], h["reason"]) for h in (await api.attention())["held"]] == [("ci", "do-not-disturb")] * 2

    await page.get_by_role("button", name="Turn off").click()
    await page.locator("#dnd[data-state='off']").wait_for()
    await page.locator("#held-empty:not([hidden])").wait_for()  # summed up in one digest toast, no longer held
    off = await api.attention()
    assert (off["doNotDisturb"], off["held"]) == (False, [])

    # turned on elsewhere (`toasty dnd on`, another tab): the page follows by itself
    await api.post("/v1/attention/dnd", {"on": True})
    await page.locator("#dnd[data-state='on']").wait_for()
    assert (
        await page.locator("#dnd-state").text_content()
        == "Do not disturb: on until turned off · critical toasts still show"
    )
    assert await page.locator("#dnd-off").is_enabled()
    assert await page.title() == "Toasty"
    assert problems == []


async def test_an_agents_rates_show_what_was_shown_collapsed_and_refused_and_the_page_mutes_it(
    hub: ServerProcess,
    api: Hub,
    page: Any,  # noqa: F811
) -> None:
    problems = await open_page(page, api)
    await page.locator("#rates-empty:not([hidden])").wait_for()
    for n in range(3):  # one toast that counts them: 1 shown, 2 collapsed into it
        assert await api.publish("farm", f"job {n} failed", group="builds") == 200
    for n in range(BUDGET):
        assert await api.publish("chatty", f"tick {n}") == 200
    farm, chatty = page.locator("#rates tr[data-agent='farm']"), page.locator("#rates tr[data-agent='chatty']")
    await chatty.locator("td.shown", has_text=str(BUDGET)).wait_for()
    assert await api.publish("chatty", "one too many") == 429  # over the attention budget: refused
    await chatty.locator("td.refused", has_text="1").wait_for()  # a refusal publishes nothing, yet it shows
    assert [await farm.locator(f"td.{k}").text_content() for k in ("shown", "held", "collapsed", "refused")] == [
        "1",
        "0",
        "2",
        "0",
    ]
    assert await chatty.locator("td.shown").text_content() == str(BUDGET)
    # shown per minute, oldest first: all in this minute, the last bar (or two, when a minute began meanwhile)
    bars = chatty.locator("svg.spark rect")
    drawn = [(int(await b.get_attribute("x")), int(await b.get_attribute("data-count"))) for b in await bars.all()]
    assert sum(count for _, count in drawn) == BUDGET
    assert all(x in (58 * 2, 59 * 2) for x, _ in drawn), drawn
    label = await chatty.locator("svg.spark").get_attribute("aria-label")
    assert label.startswith(f"{BUDGET} shown in the last hour, at most ")
    rates = {r["agent"]: r for r in (await api.attention())["rates"]}
    assert (rates["farm"]["collapsed"], rates["chatty"]["refused"], sum(rates["chatty"]["shownPerMinute"])) == (
        2,
        1,
        BUDGET,
    )

    await farm.get_by_role("button", name="Mute 1 h").click()
    await page.locator("#rates tr[data-agent='farm'][data-muted='true']").wait_for()
    [muted] = (await api.attention())["muted"]
    assert muted["agent"] == "farm"
    assert 3500 < int(muted["untilUnixMs"]) / 1000 - time.time() <= 3600
    badge = await farm.locator(".muted-badge").text_content() or ""
    assert badge.startswith("muted until ")
    assert badge.endswith(hhmm(muted["untilUnixMs"]))
    assert await page.locator("#rates tr[data-agent='chatty'][data-muted='false']").count() == 1

    assert await api.publish("farm", "while muted") == 200
    held = page.locator("#held-list li[data-reason='muted']")
    await held.locator("strong", has_text="while muted").wait_for()
    assert await held.locator(".route").text_content() == "from farm"
    await farm.locator("td.held", has_text="1").wait_for()
    await screenshot(page, "toasty-page-rates.png")

    await farm.get_by_role("button", name="Unmute").click()
    await page.locator("#rates tr[data-agent='farm'][data-muted='false']").wait_for()
    assert (await api.attention())["muted"] == []
    await page.locator("#held-empty:not([hidden])").wait_for()  # what it was muted for: summed up in one toast
    assert problems == []


async def test_a_question_is_snoozed_from_its_card_and_toasts_waiting_for_their_time_are_scheduled(
    hub: ServerProcess,
    api: Hub,
    page: Any,  # noqa: F811
) -> None:
    problems = await open_page(page, api)
    await page.locator("#scheduled-empty:not([hidden])").wait_for()
    async with (
        ResilientNotificationClient(hub.address, agent_id="reminder") as reminder,
        ResilientNotificationClient(hub.address, agent_id="deployer") as deployer,
    ):
        at = datetime.datetime.now() + datetime.timedelta(minutes=1)
        await reminder.publish(TextNotification(id="standup", title="Stand-up <b>now</b>", deliver_at=at))
        later = page.locator("#scheduled-list li[data-id='reminder~standup']")
        await later.locator("strong", has_text="Stand-up <b>now</b>").wait_for()
        assert (await later.locator("time").text_content() or "").endswith(at.strftime("%H:%M"))
        assert await later.locator(".route").text_content() == "from reminder"
        assert (await later.locator(".until").text_content() or "").startswith("in ")
        assert await page.locator("#scheduled-list b").count() == 0

        asking = asyncio.ensure_future(
            deployer.ask(
                InteractiveNotification(
                    id="deploy-3",
                    title="Deploy v1.3?",
                    buttons=[Button(id="approve", label="Approve"), Button(id="reject", label="Reject")],
                ),
                timeout=1200,  # snoozed for the full ten minutes: never past the asker's deadline
            )
        )
        try:
            card = page.locator("article.ask[data-id='deployer~deploy-3']")
            await card.get_by_text("Deploy v1.3?").wait_for()
            await card.get_by_role("button", name="Snooze 10 min").click()
            await card.locator(".snoozed", has_text="Snoozed until").wait_for()
            waiting = {s["notificationId"]: s for s in (await api.attention())["scheduled"]}
            back = int(waiting["deployer~deploy-3"]["deliverAtUnixMs"])
            assert 590 < back / 1000 - time.time() <= 600
            note = await card.locator(".snoozed").text_content() or ""
            assert note.startswith("Snoozed until ")
            assert f"{hhmm(back)}: " in note
            assert await card.get_by_role("button", name="Snooze 10 min").is_hidden()  # once is enough
            snoozed = page.locator("#scheduled-list li[data-id='deployer~deploy-3']")
            await snoozed.locator("strong", has_text="Deploy v1.3?").wait_for()
            assert await page.locator("#scheduled-list li").count() == 2
            assert await page.locator("#scheduled-list li").nth(0).get_attribute("data-id") == "reminder~standup"
            await screenshot(page, "toasty-page-snoozed.png")

            # snoozed, not gone: it is still answered here, and then no longer waits for its time
            await card.get_by_role("button", name="Approve").click()
            answer = await asyncio.wait_for(asking, 10)
            assert (answer.outcome, answer.button_id) == (Outcome.BUTTON, "approve")
            await snoozed.wait_for(state="detached")
            assert [s["notificationId"] for s in (await api.attention())["scheduled"]] == ["reminder~standup"]
        finally:
            asking.cancel()
    assert problems == []


async def test_the_attention_state_is_in_the_persons_snapshots_only(tmp_path: Path) -> None:
    """A watcher with the grant `*` sees the page's snapshots, not what only the person may read."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"board": "board-secret"}))
    tokens.chmod(0o600)
    async with (
        running_server(http_enabled=True, http_port=0, token_file=tokens, subscribe_grants={"board": ["*"]}) as server,
        aiohttp.ClientSession() as session,
    ):

        async def first_snapshot(token: str) -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {token}", "X-Agent-Id": "board"}
            async with session.get(http_url(server) + "/v1/dashboard", headers=headers) as response:
                assert response.status == 200
                event = await EventStream(response).next()
                assert event.name == "snapshot"
                snapshot: dict[str, Any] = event.data
                return snapshot

        person = await first_snapshot(server.person_secret)
        assert (person["attention"]["doNotDisturb"], person["attention"]["held"]) == (False, [])
        assert abs(int(person["attentionReadUnixMs"]) - time.time() * 1000) < 5000
        watcher = await first_snapshot("board-secret")
        assert "attention" not in watcher
        assert "attentionReadUnixMs" not in watcher
        assert watcher["asks"] == []
