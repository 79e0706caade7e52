"""`toasty-mcp` over streamable HTTP, and without a hub: tool errors that say what to do, a server that
stays up, and the next call working once the hub runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from mcp_types import ListRootsResult, Root

from tests.core.process import ServerProcess
from tests.mcp.harness import (
    agent,
    answer,
    http_server,
    http_session,
    open_question,
    published,
    stdio_session,
    structured,
    text,
)
from toasty_client import ResilientNotificationClient
from toasty_client.mcp.server import parse_listen

pytestmark = pytest.mark.timeout(60)


async def test_streamable_http_serves_the_same_tools(
    hub: ServerProcess, person: ResilientNotificationClient, tmp_path: Path
) -> None:
    me = agent()
    project = tmp_path / "project"
    project.mkdir()

    async def roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=project.as_uri(), name="project")])

    log = tmp_path / "toasty-mcp.log"
    async with http_server(hub.address, me, log) as url, http_session(url, list_roots_callback=roots) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert names == {"notify", "progress", "ask", "get_answer", "withdraw", "approval_prompt"}
        note = structured(await session.call_tool("notify", {"title": "Over HTTP"}))
        toast = await published(person, me, note["id"])
        assert toast.text_message is not None
        assert toast.text_message.header is not None
        assert toast.text_message.header.attribution == f"test-host in {project}", "the client's root names the place"

        asked = structured(await session.call_tool("ask", {"title": "Over HTTP?", "wait_seconds": 1}))
        assert asked["outcome"] == "pending"
        question = await open_question(person, me)
        await answer(hub, question.notification_id, "yes")
        got = structured(await session.call_tool("get_answer", {"id": asked["id"]}))
        assert (got["outcome"], got["choice"]) == ("answered", "Yes")
    assert "Traceback" not in log.read_text()


async def test_without_a_hub_each_call_is_a_tool_error_and_the_next_works_once_it_runs(tmp_path: Path) -> None:
    later = ServerProcess(tmp_path / "later.db")  # its port is chosen; it is not started yet
    me = agent()
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as errlog:
        async with stdio_session(later.address, me, errlog=errlog) as session:
            calls = [
                ("notify", {"title": "Anyone?"}),
                ("progress", {"key": "k", "title": "Build", "value": 0.5}),
                ("ask", {"title": "Anyone there?", "wait_seconds": 1}),
                ("withdraw", {"id": "abc"}),
                ("approval_prompt", {"tool_name": "Bash", "input": {"command": "ls"}}),
            ]
            results = await asyncio.gather(*(session.call_tool(tool, arguments) for tool, arguments in calls))
            for (tool, _), result in zip(calls, results, strict=True):
                assert result.is_error, tool
                assert text(result) == (
                    f"Error executing tool {tool}: cannot reach toasty-server at {later.address}; "
                    "start it with `toasty-server`"
                )
            await session.send_ping()  # the server is still there

            later.start()
            try:
                note = structured(await session.call_tool("notify", {"title": "Back again"}))
                assert note["id"]
            finally:
                later.kill()
    logged = stderr.read_text()
    assert f"hub at {later.address} as {me}" in logged, "logs go to stderr"
    assert "Traceback" not in logged


def test_http_listens_on_loopback_only() -> None:
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:8765") == ("::1", 8765)
    assert parse_listen("localhost:1") == ("localhost", 1)
    assert parse_listen("8765") == ("127.0.0.1", 8765)
    for wrong in ("0.0.0.0:8765", "192.168.1.2:80", "example.com:80", "127.0.0.1:http", "127.0.0.1:0"):
        with pytest.raises(ValueError, match="--http"):
            parse_listen(wrong)
