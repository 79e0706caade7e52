"""`toasty-mcp` over stdio: its tools as a host lists them, and notify, progress and withdraw end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.process import ServerProcess
from tests.mcp.harness import agent, published, stdio_session, still_open, structured, text
from toasty_client import ResilientNotificationClient
from toasty_client.mcp.hub import Hub
from toasty_client.mcp.questions import Question
from toasty_proto import v1

pytestmark = pytest.mark.timeout(60)


async def test_lists_the_tools_with_typed_validated_parameters(hub: ServerProcess) -> None:
    async with stdio_session(hub.address, agent()) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == {"notify", "progress", "ask", "get_answer", "withdraw", "approval_prompt"}
    required = {name: set(t.input_schema.get("required", [])) for name, t in tools.items()}
    assert required == {
        "notify": {"title"},
        "progress": {"key", "title", "value"},
        "ask": {"title"},
        "get_answer": {"id"},
        "withdraw": {"id"},
        "approval_prompt": {"tool_name", "input"},
    }
    props = {name: t.input_schema["properties"] for name, t in tools.items()}
    assert props["notify"]["urgency"]["enum"] == ["info", "warning", "critical"]
    assert set(props["notify"]) == {"title", "body", "urgency", "image", "tag"}
    assert (props["progress"]["value"]["minimum"], props["progress"]["value"]["maximum"]) == (0, 1)
    assert props["ask"]["choices"]["default"] == ["Yes", "No"]
    assert props["ask"]["choices"]["maxItems"] == 5
    assert props["ask"]["timeout_seconds"]["default"] == 600
    assert props["ask"]["wait_seconds"]["default"] == 45
    assert props["ask"]["title"]["maxLength"] == 256
    assert set(props["approval_prompt"]) == {"tool_name", "input", "tool_use_id"}
    assert props["approval_prompt"]["input"]["type"] == "object"
    ask_output = tools["ask"].output_schema
    assert ask_output is not None
    assert set(ask_output["required"]) >= {"id", "outcome", "choice", "text"}
    assert ask_output["properties"]["outcome"]["enum"] == ["answered", "dismissed", "timed_out", "withdrawn", "pending"]
    assert tools["notify"].output_schema is not None
    for t in tools.values():
        assert t.description
        assert not t.description.startswith(" "), "descriptions are dedented for the model"


async def test_notify_publishes_a_toast_naming_the_agent_and_its_directory(
    hub: ServerProcess, person: ResilientNotificationClient, tmp_path: Path
) -> None:
    me = agent()
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    async with stdio_session(hub.address, me, TOASTY_MCP_CWD=str(tmp_path)) as session:
        plain = structured(
            await session.call_tool(
                "notify",
                {"title": "Build passed", "body": "main @ 4f2a9c\nall 312 tests", "urgency": "warning", "tag": "api"},
            )
        )
        with_image = structured(await session.call_tool("notify", {"title": "A cat", "image": "cat.png"}))
    n = await published(person, me, plain["id"])
    assert n.text_message is not None
    assert n.text_message.header is not None
    assert n.text_message.header.title == "Build passed"
    assert (n.text_message.body_text_line1, n.text_message.body_text_line2) == ("main @ 4f2a9c", "all 312 tests")
    assert n.urgency == v1.UrgencyLevel.WARNING
    assert n.text_message.header.attribution == f"api · test-host in {tmp_path}"
    shown = await published(person, me, with_image["id"])
    assert shown.image_text is not None
    assert shown.image_text.image is not None
    assert shown.image_text.image.path == str(picture), "a relative path is taken from the agent's directory"


async def test_progress_updates_one_toast_and_withdraw_takes_one_down(
    hub: ServerProcess, person: ResilientNotificationClient
) -> None:
    me = agent()
    async with stdio_session(hub.address, me) as session:
        first = structured(await session.call_tool("progress", {"key": "build-1", "title": "Build", "value": 0.4}))
        last = structured(
            await session.call_tool(
                "progress", {"key": "build-1", "title": "Build", "value": 1, "status": "312 tests", "done": True}
            )
        )
        assert first["key"] == last["key"] == "build-1"
        updates = [await published(person, me, r["id"]) for r in (first, last)]
        assert [(u.progress.progress_key, u.progress.value, u.progress.state) for u in updates if u.progress] == [
            ("build-1", 0.4, v1.ProgressState.RUNNING),
            ("build-1", 1.0, v1.ProgressState.SUCCEEDED),
        ]

        note = structured(await session.call_tool("notify", {"title": "Temporary"}))
        gone = structured(await session.call_tool("withdraw", {"id": note["id"]}))
        assert gone["withdrawn"] is True
        unknown = await session.call_tool("withdraw", {"id": "never-published"})
        assert unknown.is_error
        assert "unknown id 'never-published'" in text(unknown)


INVALID_CALLS = [
    ("notify", {"title": "x", "urgency": "loud"}, "urgency"),
    ("notify", {"title": ""}, "title"),
    ("notify", {"body": "no title"}, "title"),
    ("notify", {"title": "x", "image": "/no/such/picture.png"}, "no image file"),
    ("progress", {"key": "k", "title": "x", "value": 1.5}, "value"),
    ("progress", {"key": "has space", "title": "x", "value": 0.5}, "key"),
    ("ask", {"title": "x", "choices": []}, "choices"),
    ("ask", {"title": "x", "choices": ["A", "B", "C", "D", "E", "F"]}, "choices"),
    ("ask", {"title": "x", "choices": ["Same", "Same"]}, "differ"),
    ("ask", {"title": "x", "wait_seconds": -1}, "wait_seconds"),
    ("ask", {"title": "x", "timeout_seconds": 0}, "timeout_seconds"),
    ("get_answer", {"id": "never-asked"}, "unknown id 'never-asked'"),
    ("approval_prompt", {"tool_name": "Bash"}, "input"),
]


async def test_invalid_calls_are_tool_errors_that_say_what_is_wrong(
    hub: ServerProcess, person: ResilientNotificationClient
) -> None:
    me = agent()
    async with stdio_session(hub.address, me) as session:
        for tool, arguments, complaint in INVALID_CALLS:
            result = await session.call_tool(tool, arguments)
            assert result.is_error, (tool, arguments)
            assert complaint in text(result), (tool, arguments, text(result))
        await session.send_ping()  # and the server goes on
    assert not await still_open(person, me), "nothing invalid was asked"


def test_without_the_extra_it_says_how_to_install_it() -> None:
    """The base wheel runs without `mcp`: the command prints one line and exits 1, and importing the
    command's module (or the client) does not import the SDK."""
    blocked = "import sys; sys.modules['mcp'] = None; sys.modules['mcp_types'] = None\n"
    run = blocked + "from toasty_client.mcp.server import main; raise SystemExit(main([]))"
    out = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == 'toasty-mcp needs the MCP extra: pip install "toasty-client[mcp]"\n'
    lazy = "import sys, toasty_client, toasty_client.mcp.server; print(sorted(m for m in sys.modules if 'mcp' in m))"
    loaded = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, timeout=30, check=True)
    assert loaded.stdout.strip() == "['toasty_client.mcp', 'toasty_client.mcp.server']"


def test_the_agent_id_defaults_to_toasty_mcp_unless_a_token_names_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub refuses an x-agent-id that contradicts the caller's token: with a token, none is claimed."""
    monkeypatch.delenv("TOASTY_AGENT_ID", raising=False)
    monkeypatch.setenv("TOASTY_TOKEN", "")
    assert Hub.from_environment("localhost:1").client.agent_id == "toasty-mcp"
    monkeypatch.setenv("TOASTY_TOKEN", "an-agent-token")
    named_by_token = Hub.from_environment("localhost:1")
    assert named_by_token.client.agent_id == ""
    named_by_token.questions.add(Question(id="q1", kind="ask", key=(), labels={}))
    assert named_by_token.questions.find("ci-bot~q1") is not None, "the person's global id finds it"
    assert named_by_token.questions.local_id("other~q2") == "other~q2", "another agent's id is left alone"
    monkeypatch.setenv("TOASTY_AGENT_ID", "deployer")
    assert Hub.from_environment("localhost:1").client.agent_id == "deployer"
