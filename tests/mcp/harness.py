"""Drive `toasty-mcp` as a host does: a real process, the `mcp` SDK's own client, a real hub.

The MCP server runs as an agent without a token (TOASTY_TOKEN cleared), so its questions are proved by
the answer keys its one hub client keeps; the person answers with the `toasty` command, which presents
the suite's person secret (tests/conftest.py sets TOASTY_TOKEN to it for this process and its children).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, Implementation, TextContent

from tests.core.process import ServerProcess, free_port
from toasty_client import ResilientNotificationClient
from toasty_proto import v1

BIN = Path(sys.executable).parent
HOST = Implementation(name="test-host", version="1.0")


def command(name: str) -> str:
    """A console script of this environment (`toasty-mcp`, `toasty`), as the wheel installs it."""
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}: sync the hatch env"
    return str(path)


def server_env(address: str, agent_id: str, **extra: str) -> dict[str, str]:
    """What a host passes to the server: the hub's address and an agent id; no token (anonymous)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOASTY_")}
    return {**env, "TOASTY_ADDRESS": address, "TOASTY_AGENT_ID": agent_id, **extra}


@contextlib.asynccontextmanager
async def stdio_session(
    address: str, agent_id: str, *args: str, errlog: TextIO | None = None, **env: str
) -> AsyncIterator[ClientSession]:
    """`toasty-mcp` started over stdio by the SDK's client, initialized. At the end, nothing but protocol
    messages came on its stdout (a stray line reaches the session as an exception)."""
    params = StdioServerParameters(
        command=command("toasty-mcp"), args=["--log-level", "INFO", *args], env=server_env(address, agent_id, **env)
    )
    stray: list[Exception] = []

    async def on_message(message: object) -> None:
        if isinstance(message, Exception):
            stray.append(message)

    async with (
        stdio_client(params, errlog=errlog or sys.stderr) as (read, write),
        ClientSession(read, write, client_info=HOST, message_handler=on_message) as session,
    ):
        await session.initialize()
        yield session
    assert not stray, f"toasty-mcp wrote something else than MCP messages on stdout: {stray}"


@contextlib.asynccontextmanager
async def http_server(address: str, agent_id: str, log: Path, **env: str) -> AsyncIterator[str]:
    """`toasty-mcp --http 127.0.0.1:PORT` as a process; yields its endpoint URL."""
    port = free_port()
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            command("toasty-mcp"), "--http", f"127.0.0.1:{port}", "--log-level", "INFO",
            env=server_env(address, agent_id, **env), stdout=out, stderr=out,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not _listening(port):
            assert proc.returncode is None, f"toasty-mcp --http exited with {proc.returncode}:\n{_read(log)}"
            assert time.monotonic() < deadline, f"toasty-mcp --http never listened:\n{_read(log)}"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)


@contextlib.asynccontextmanager
async def http_session(url: str, **kwargs: Any) -> AsyncIterator[ClientSession]:
    async with (
        streamable_http_client(url) as (read, write),
        ClientSession(read, write, client_info=HOST, **kwargs) as session,
    ):
        await session.initialize()
        yield session


def _read(log: Path) -> str:
    return log.read_text(errors="replace")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def structured(result: CallToolResult) -> dict[str, Any]:
    """A successful result's structured content, which its text repeats as JSON."""
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    assert json.loads(text(result)) == result.structured_content
    return result.structured_content


def text(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


def agent() -> str:
    """A fresh agent id per test: the module's hub is shared."""
    return f"mcp-{uuid.uuid4().hex[:8]}"


async def open_question(person: ResilientNotificationClient, agent_id: str, timeout: float = 10.0) -> v1.OpenQuestion:
    """The open question `agent_id` asked, as `toasty asks` lists it (its global id)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mine = [q for q in await person.open_questions() if q.publisher_agent_id == agent_id]
        if mine:
            assert len(mine) == 1, mine
            return mine[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{agent_id} has no open question after {timeout} s")


async def still_open(person: ResilientNotificationClient, agent_id: str) -> list[v1.OpenQuestion]:
    return [q for q in await person.open_questions() if q.publisher_agent_id == agent_id]


async def toasty(*args: str) -> str:
    """The `toasty` command as the person runs it (TOASTY_TOKEN is the person secret); its stdout."""
    proc = await asyncio.create_subprocess_exec(
        command("toasty"), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, f"toasty {' '.join(args)} exited with {proc.returncode}: {err.decode()}"
    return out.decode()


async def answer(hub: ServerProcess, question_id: str, button: str, *inputs: str) -> None:
    """`toasty answer ID BUTTON [--input key=value ...]` in a terminal."""
    flags = [part for value in inputs for part in ("--input", value)]
    out = await toasty("answer", question_id, button, *flags, "--address", hub.address)
    assert out.strip() == "answered", out


async def published(
    person: ResilientNotificationClient, agent_id: str, notification_id: str, timeout: float = 10.0
) -> v1.Notification:
    """The notification `agent_id` published with this id, read from the hub's log."""

    async def find() -> v1.Notification:
        async for delivery in person.subscribe(f"reader-{uuid.uuid4().hex[:8]}", from_beginning=True):
            n = delivery.notification
            if n is not None and n.id == notification_id and delivery.publisher_agent_id == agent_id:
                return n
        raise AssertionError("the subscription ended")

    return await asyncio.wait_for(find(), timeout)
