"""`approval_prompt`, Claude Code's --permission-prompt-tool contract: the person sees the whole call and
allows or denies it; a reason reaches the model; no answer in time is a deny."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from mcp import ClientSession

from tests.core.process import ServerProcess
from tests.mcp.harness import agent, answer, open_question, published, stdio_session, text
from toasty_client import ResilientNotificationClient
from toasty_client.mcp.summary import shorten, summarize

pytestmark = pytest.mark.timeout(60)
MARKER = re.compile(r"… \((\d+) more characters\)")


async def decide(
    session: ClientSession,
    hub: ServerProcess,
    person: ResilientNotificationClient,
    me: str,
    tool_input: dict[str, Any],
    *clicks: str,
) -> tuple[dict[str, Any], str]:
    """Ask for approval of a Bash call, answer it with `toasty answer ID *clicks`; (the decision, the toast's text)."""
    call = {"tool_name": "Bash", "input": tool_input, "tool_use_id": f"toolu_{len(clicks)}_{clicks[0]}"}
    deciding = asyncio.ensure_future(session.call_tool("approval_prompt", call))
    question = await open_question(person, me)
    assert question.title == "Allow Bash?"
    assert list(question.button_ids) == ["allow", "deny"]
    toast = await published(person, me, question.notification_id.removeprefix(f"{me}~"))
    assert toast.interactive is not None
    assert [i.id for i in toast.interactive.text_inputs] == ["reason"]
    await answer(hub, question.notification_id, *clicks)
    result = await asyncio.wait_for(deciding, 10)
    assert not result.is_error, text(result)
    assert result.structured_content is None, "Claude Code reads the first text content"
    return json.loads(text(result)), toast.interactive.body_text_line1


async def test_allow_echoes_the_input_and_deny_carries_the_reason(
    hub: ServerProcess, person: ResilientNotificationClient
) -> None:
    me = agent()
    command = "rm -rf build/ && ./configure --prefix=/opt/x " + "--with-feature " * 200  # 3000+ characters
    tool_input = {"description": "Clean and reconfigure", "command": command, "timeout": 120000}
    async with stdio_session(hub.address, me) as session:
        allowed, shown = await decide(session, hub, person, me, tool_input, "allow")
        assert allowed == {"behavior": "allow", "updatedInput": tool_input}
        first, *rest = shown.split("\n")
        assert first.startswith("$ rm -rf build/ && ./configure --prefix=/opt/x --with-feature"), "the command first"
        cut = MARKER.search(first)
        assert cut is not None, f"a long command is shortened visibly: {first[-80:]!r}"
        assert len(first[2 : cut.start()]) + int(cut.group(1)) == len(command), "the marker counts what is left out"
        assert rest == ["description: Clean and reconfigure", "timeout: 120000"], "and every other argument"

        denied, _ = await decide(
            session, hub, person, me, {"command": "git push --force"}, "deny", "reason=not on main"
        )
        assert denied == {"behavior": "deny", "message": "not on main"}
        bare, _ = await decide(session, hub, person, me, {"command": "git push --force"}, "deny")
        assert bare == {"behavior": "deny", "message": "Denied by the user"}


async def test_no_answer_in_time_is_a_deny(hub: ServerProcess, person: ResilientNotificationClient) -> None:
    me = agent()
    async with stdio_session(hub.address, me, "--approval-timeout", "1") as session:
        call = {"tool_name": "Write", "input": {"file_path": "/etc/hosts", "content": "x"}, "tool_use_id": "toolu_9"}
        result = await asyncio.wait_for(session.call_tool("approval_prompt", call), 20)
    assert not result.is_error
    decision = json.loads(text(result))
    assert decision["behavior"] == "deny"
    assert decision["message"].startswith("Denied: nobody answered within 1 s.")
    assert "Do not retry this on your own" in decision["message"]


def test_a_summary_shows_every_argument_and_marks_what_it_leaves_out() -> None:
    assert shorten("short", 10) == "short"
    cut = shorten("x" * 5000, 100)
    assert len(cut) == 100
    assert cut.endswith("… (4924 more characters)")
    assert cut.count("x") + 4924 == 5000
    edit = {"file_path": "/src/app.py", "old_string": "a" * 3000, "new_string": "b" * 3000, "replace_all": False}
    summary = summarize("Edit", edit)
    assert len(summary) <= 2048
    lines = summary.split("\n")
    assert lines[0] == "file_path: /src/app.py"
    assert lines[1].startswith("old_string: aaa")
    assert MARKER.search(lines[1])
    assert MARKER.search(summary[-40:]), "the whole summary is cut visibly too when the arguments add up"
    assert summarize("Read", {}) == "(no arguments)"
    assert summarize("mcp__db__query", {"sql": "select 1", "params": [1, "two"]}) == 'sql: select 1\nparams: [1, "two"]'
