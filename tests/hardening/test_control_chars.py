"""Control characters and terminal escapes agents send never reach a terminal (`toasty` output) or a log
line raw: they are shown as escapes (`\\x1b`, `\\u202e`), and one delivery or log record stays one line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import unicodedata
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.conftest import ClientFactory
from tests.core.process import free_port
from tests.hardening.helpers import ToastyProcess
from toasty_client import ResilientNotificationClient
from toasty_client.builders import Button, InteractiveNotification, TextInput, TextNotification
from toasty_client.safe_text import printable
from toasty_proto import v1
from toasty_server.app import ToastyServer
from toasty_server.logs import JsonFormatter, TextFormatter

# Retitles the terminal, turns it red, returns to the line's start, backspaces, C1 CSI, reads backwards.
HOSTILE = "x\x1b]0;pwned\x07\x1b[31m\rback\x08\x9b2J\u202edrawkcab\u2066"
SHOWN = "x\\x1b]0;pwned\\x07\\x1b[31m\\rback\\x08\\x9b2J\\u202edrawkcab\\u2066"
TOASTY = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]
# A whole text log record: timestamp, level, logger (the file holds nothing else with --renderer none).
RECORD_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def raw_controls(text: str) -> list[str]:
    """The control (Cc, a newline aside), format (Cf: bidi) and line-separator characters in `text`."""
    return [ch for ch in text if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]


async def toasty(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The `toasty` command as a child process (the suite's TOASTY_TOKEN: it acts as the person)."""
    return await asyncio.to_thread(
        subprocess.run,
        [*TOASTY, "--address", address, "--agent-id", "cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=30,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def test_printable_escapes_controls_and_bidi_and_keeps_the_rest() -> None:
    assert printable(HOSTILE) == SHOWN
    assert printable("line\none\u2028") == "line\\none\\u2028"
    assert printable("Déploiement 中文 ✓") == "Déploiement 中文 ✓"
    assert not raw_controls(printable("".join(map(chr, range(0x110000)))))


async def test_subscribe_output_has_no_raw_control_characters(server: ToastyServer, connect: ClientFactory) -> None:
    client = connect("hostile")
    await client.publish(TextNotification(title=HOSTILE, line1=HOSTILE, line2=HOSTILE))
    await client.publish(
        InteractiveNotification(
            title=HOSTILE,
            line1=HOSTILE,
            buttons=[Button(id="ok", label=HOSTILE)],
            inputs=[TextInput(id="why", title=HOSTILE)],
        )
    )
    human = await toasty(server.address, "subscribe", "--client-id", "h", "--from-beginning", "--count", "2")
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert len(lines) == 2
    assert all(f"] {SHOWN} (id " in line for line in lines), lines  # the person sees what was sent, escaped
    assert not raw_controls(human.stdout + human.stderr)

    as_json = await toasty(
        server.address, "subscribe", "--client-id", "j", "--from-beginning", "--count", "2", "--json"
    )
    assert as_json.returncode == 0, as_json.stderr
    assert not raw_controls(as_json.stdout + as_json.stderr)
    assert as_json.stdout.isascii()
    deliveries = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert deliveries[0]["notification"]["textMessage"]["header"]["title"] == HOSTILE  # intact, only escaped
    assert deliveries[1]["notification"]["interactive"]["buttons"][0]["label"] == HOSTILE


async def test_errors_quoting_a_hostile_value_are_one_escaped_line(server: ToastyServer) -> None:
    refused = await toasty(server.address, "answer", HOSTILE, "yes")
    assert refused.returncode == 1
    assert refused.stderr.startswith("toasty: ")
    assert len(refused.stderr.splitlines()) == 1
    assert not raw_controls(refused.stdout + refused.stderr)

    unknown = await toasty(server.address, "status", HOSTILE)  # argparse quotes unrecognized arguments
    assert unknown.returncode == 2
    assert SHOWN in unknown.stderr
    assert not raw_controls(unknown.stdout + unknown.stderr)


@pytest.fixture
async def quoting_server() -> AsyncIterator[str]:
    """A gRPC server that refuses every Answer with a message quoting a hostile value raw, as a server of
    another version (or anything in between) might."""

    async def refuse(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await context.abort(grpc.StatusCode.NOT_FOUND, f"no notification {HOSTILE}\nforged line")
        return b""

    service, _, method = v1.NOTIFICATION_SERVICE_ANSWER.path.strip("/").partition("/")
    server = grpc.aio.server()
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(refuse)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {method: handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_a_servers_error_message_is_escaped_on_stderr(quoting_server: str) -> None:
    refused = await toasty(quoting_server, "answer", "n-1", "yes")
    assert refused.returncode == 1
    assert refused.stderr == f"toasty: no notification {SHOWN}\\nforged line\n"
    assert not raw_controls(refused.stdout + refused.stderr)


def record(msg: str, *args: object, **extra: Any) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "toasty_server.x", "levelname": "INFO", "msg": msg, "args": args, **extra})


def test_text_log_records_are_one_escaped_line() -> None:
    context = {"agent_id": HOSTILE, "notification_id": HOSTILE, "trace_id": HOSTILE}
    line = TextFormatter().format(record("published %s\nforged INFO line", HOSTILE, **context))
    assert "\n" not in line
    assert not raw_controls(line)
    assert line.endswith(
        f"published {SHOWN}\\nforged INFO line [trace_id={SHOWN} agent_id={SHOWN} notification_id={SHOWN}]"
    )

    try:
        raise ValueError(HOSTILE)
    except ValueError:
        failed = record("rendering %s failed", HOSTILE, exc_info=sys.exc_info())
    text = TextFormatter().format(failed)
    first, *traceback = text.split("\n")
    assert first.endswith(f"rendering {SHOWN} failed")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == f"ValueError: {SHOWN}"  # the traceback keeps its line breaks, not the caller's
    assert not raw_controls(text)


def test_json_log_records_are_ascii() -> None:
    line = JsonFormatter().format(record("published %s", HOSTILE, agent_id=HOSTILE))
    assert line.isascii()
    assert "\n" not in line
    parsed = json.loads(line)
    assert (parsed["message"], parsed["agent_id"]) == (f"published {HOSTILE}", HOSTILE)


@pytest.fixture
def text_server(tmp_path: Path) -> Iterator[tuple[ToastyProcess, int]]:
    """A real `toasty-server` logging text at DEBUG to a file, its HTTP API on (paths land in the log)."""
    http_port = free_port()
    env = {"TOASTY_HTTP_ENABLED": "1", "TOASTY_HTTP_PORT": str(http_port)}
    proc = ToastyProcess(tmp_path, "--log-level", "DEBUG", "--log-format", "text", "--renderer", "none", env=env)
    proc.start()
    proc.wait_for_log("HTTP API and web page at")
    yield proc, http_port
    proc.kill()


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_the_server_log_has_no_raw_control_characters(text_server: tuple[ToastyProcess, int]) -> None:
    proc, http_port = text_server
    async with ResilientNotificationClient(proc.address, agent_id="hostile", token=proc.person_secret) as client:
        await client.publish(TextNotification(title=HOSTILE, line1=HOSTILE))
    person = {"Authorization": f"Bearer {os.environ['TOASTY_TOKEN']}"}
    base = f"http://127.0.0.1:{http_port}"
    escaped_path = "x%1b%5d0%3bpwned%07%1b%5b31m%0d%e2%80%ae"  # percent-encoded: the server decodes the path
    statuses = await asyncio.gather(
        asyncio.to_thread(post, f"{base}/v1/notifications/{escaped_path}/answer", {"buttonId": "ok"}, person),
        asyncio.to_thread(post, f"{base}/v1/notifications/{escaped_path}/withdraw", {}, person),
        asyncio.to_thread(
            post,
            f"{base}/v1/publish",
            {"notification": {"textMessage": {"header": {"title": HOSTILE}, "bodyTextLine1": HOSTILE}}},
            {**person, "X-Agent-Id": "agent\xe2\x80\xae"},  # U+202E's UTF-8 bytes (aiohttp refuses an ESC)
        ),
        asyncio.to_thread(
            post, f"{base}/v1/publish", {"notification": {"textMessage": {"header": {"title": HOSTILE}}}}, person
        ),
    )
    assert all(400 <= status < 500 for status in statuses[:2]), statuses
    await asyncio.to_thread(proc.wait_for_log, "/withdraw 400")

    log = proc.log()
    assert "x\\x1b]0;pwned\\x07\\x1b[31m\\r\\u202e" in log, log  # the hostile path was logged, escaped
    assert not raw_controls(log), [line for line in log.split("\n") if raw_controls(line)]
    records = [line for line in log.split("\n") if line]
    strays = [line for line in records if not RECORD_START.match(line)]
    assert not strays, strays  # every line starts a record: nothing forged a line, nothing split one
