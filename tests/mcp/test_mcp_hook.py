"""examples/claude-code: the Notification / Stop hook, run as Claude Code runs it (the event's JSON on
stdin), publishes a toast naming the session's directory through `toasty notify`, and never blocks."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from tests.core.process import ServerProcess, free_port
from tests.mcp.harness import BIN, agent
from toasty_client import ResilientNotificationClient
from toasty_proto import v1

HOOK = Path(__file__).resolve().parents[2] / "examples" / "claude-code" / "toasty_hook.py"
pytestmark = pytest.mark.timeout(60)


async def run_hook(event: dict[str, object], address: str, agent_id: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOASTY_")}
    env |= {"TOASTY_ADDRESS": address, "TOASTY_AGENT_ID": agent_id, "PATH": f"{BIN}{os.pathsep}{env['PATH']}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HOOK), env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(json.dumps(event).encode()), 30)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def toasts_of(person: ResilientNotificationClient, agent_id: str, count: int) -> list[v1.TextMessage]:
    found: list[v1.TextMessage] = []

    async def read() -> None:
        async for delivery in person.subscribe(f"reader-{uuid.uuid4().hex[:8]}", from_beginning=True):
            n = delivery.notification
            if n is not None and delivery.publisher_agent_id == agent_id and n.text_message is not None:
                found.append(n.text_message)
                if len(found) == count:
                    return

    await asyncio.wait_for(read(), 10)
    return found


async def test_waiting_and_done_toasts_name_the_sessions_directory(
    hub: ServerProcess, person: ResilientNotificationClient
) -> None:
    me = agent()
    base = {"session_id": "a1b2", "transcript_path": "/tmp/t.jsonl", "cwd": "/work/shop-api"}
    waiting = {
        **base,
        "hook_event_name": "Notification",
        "message": "Claude needs your permission to use Bash",
        "notification_type": "permission_prompt",
    }
    done = {**base, "hook_event_name": "Stop", "stop_hook_active": False}
    assert await run_hook(waiting, hub.address, me) == (0, "")
    assert await run_hook(done, hub.address, me) == (0, "")
    first, second = await toasts_of(person, me, 2)
    assert first.header is not None
    assert second.header is not None
    assert first.header.title == "shop-api: Claude needs your permission"
    assert first.body_text_line1 == "Claude needs your permission to use Bash (/work/shop-api)"
    assert second.header.title == "shop-api: Claude is done"
    assert second.body_text_line1 == "Your turn in /work/shop-api"


async def test_without_a_hub_it_says_so_and_exits_0() -> None:
    """A failing hook would block Claude Code (exit 2 keeps a Stop from stopping): it exits 0."""
    address = f"127.0.0.1:{free_port()}"
    code, err = await run_hook({"hook_event_name": "Stop", "cwd": "/tmp/x", "session_id": "s"}, address, agent())
    assert code == 0
    assert f"cannot reach toasty-server at {address}" in err
    assert await run_hook({"hook_event_name": "PreToolUse", "cwd": "/tmp/x"}, address, agent()) == (0, "")
