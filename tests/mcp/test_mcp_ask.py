"""`ask` and `get_answer` as a host meets them: long waits with progress, `pending` within the host's
patience, a cut call whose question (and answer) survive, and outcomes that tell the model to stop."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest
from mcp import MCPError

from tests.core.process import ServerProcess
from tests.mcp.harness import agent, answer, open_question, published, stdio_session, still_open, structured
from toasty_client import ResilientNotificationClient

pytestmark = pytest.mark.timeout(60)


async def test_an_ask_answered_in_a_terminal_after_10_s_with_progress_meanwhile(
    hub: ServerProcess, person: ResilientNotificationClient, tmp_path: Path
) -> None:
    me = agent()
    beats: list[tuple[float, float, float | None, str | None]] = []
    started = 0.0

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        beats.append((time.monotonic() - started, value, total, message))

    async with stdio_session(hub.address, me, TOASTY_MCP_CWD=str(tmp_path)) as session:
        arguments = {"title": "Ship v2?", "body": "all green", "choices": ["Ship it", "Wait a day"], "text_input": True}
        started = time.monotonic()
        asking = asyncio.ensure_future(session.call_tool("ask", arguments, progress_callback=on_progress))
        question = await open_question(person, me)
        local_id = question.notification_id.removeprefix(f"{me}~")
        assert question.title == "Ship v2?"
        assert list(question.button_ids) == ["ship-it", "wait-a-day"], "a valid button id per choice"
        toast = await published(person, me, local_id)
        assert toast.interactive is not None
        assert toast.interactive.header is not None
        assert toast.interactive.header.attribution == f"test-host in {tmp_path}", "who asks, and from where"
        assert [i.id for i in toast.interactive.text_inputs] == ["text"]

        await asyncio.sleep(started + 11 - time.monotonic())
        assert not asking.done()
        await answer(hub, question.notification_id, "ship-it", "text=after lunch")
        result = structured(await asyncio.wait_for(asking, 10))

    assert result["id"] == local_id
    assert (result["outcome"], result["choice"], result["text"]) == ("answered", "Ship it", "after lunch")
    assert len(beats) >= 2, beats
    gaps = [b - a for a, b in itertools.pairwise([0.0, *(t for t, *_ in beats)])]
    assert max(gaps) <= 10, f"progress at least every 10 s: {beats}"
    assert [v for _, v, _, _ in beats] == sorted(v for _, v, _, _ in beats)
    assert all(m and "waiting for the person" in m for *_, m in beats)


async def test_pending_within_the_wait_then_get_answer_gets_it(
    hub: ServerProcess, person: ResilientNotificationClient
) -> None:
    me = agent()
    async with stdio_session(hub.address, me) as session:
        first = structured(await session.call_tool("ask", {"title": "Merge #42?", "wait_seconds": 1}))
        assert (first["outcome"], first["choice"], first["text"]) == ("pending", None, None)
        assert f"get_answer with id '{first['id']}'" in first["message"]
        look = structured(await session.call_tool("get_answer", {"id": first["id"], "wait_seconds": 0}))
        assert look["outcome"] == "pending"

        question = await open_question(person, me)
        assert question.notification_id == f"{me}~{first['id']}", "the question stayed open"
        await answer(hub, question.notification_id, "no")
        got = structured(await session.call_tool("get_answer", {"id": first["id"], "wait_seconds": 10}))
        assert (got["id"], got["outcome"], got["choice"], got["text"]) == (first["id"], "answered", "No", None)


async def test_a_cut_call_leaves_its_question_open_and_its_answer_is_kept(
    hub: ServerProcess, person: ResilientNotificationClient
) -> None:
    """The host gives up on the call (it sends notifications/cancelled): the question stays on screen,
    and the answer reaches the model when it asks the same again or calls get_answer with the id."""
    me = agent()
    async with stdio_session(hub.address, me) as session:
        with pytest.raises(MCPError):
            await session.call_tool("ask", {"title": "Rotate the keys?"}, read_timeout_seconds=1)
        question = await open_question(person, me)
        await asyncio.sleep(0.3)
        assert await still_open(person, me) == [question], "the cut call did not take its question down"
        await answer(hub, question.notification_id, "yes")

        again = structured(await session.call_tool("ask", {"title": "Rotate the keys?"}))
        assert again["id"] == question.notification_id.removeprefix(f"{me}~"), "the same question, not a second"
        assert (again["outcome"], again["choice"]) == ("answered", "Yes")
        by_global_id = structured(await session.call_tool("get_answer", {"id": question.notification_id}))
        assert by_global_id == again

        fresh = structured(await session.call_tool("ask", {"title": "Rotate the keys?", "wait_seconds": 0}))
        assert fresh["id"] != again["id"], "once its answer was reported, asking again asks anew"
        assert fresh["outcome"] == "pending"


async def test_timed_out_dismissed_and_withdrawn_tell_the_model_not_to_ask_again(
    hub: ServerProcess, person: ResilientNotificationClient
) -> None:
    me = agent()
    async with stdio_session(hub.address, me) as session:
        late = structured(await session.call_tool("ask", {"title": "Still there?", "timeout_seconds": 1}))
        assert late["outcome"] == "timed_out"

        dismissed = structured(await session.call_tool("ask", {"title": "Coffee?", "wait_seconds": 0}))
        question = await open_question(person, me)
        assert await person.answer(question.notification_id, dismiss=True)  # as `toasty answer ID --dismiss`
        dismissed = structured(await session.call_tool("get_answer", {"id": dismissed["id"]}))
        assert dismissed["outcome"] == "dismissed"

        asked = structured(await session.call_tool("ask", {"title": "Lunch?", "wait_seconds": 0}))
        gone = structured(await session.call_tool("withdraw", {"id": asked["id"]}))
        assert gone["withdrawn"] is True
        assert not await still_open(person, me)
        withdrawn = structured(await session.call_tool("get_answer", {"id": asked["id"]}))
        assert withdrawn["outcome"] == "withdrawn"

    for result in (late, dismissed, withdrawn):
        assert (result["choice"], result["text"]) == (None, None)
        assert "Do not ask the same question again on your own" in result["message"]
