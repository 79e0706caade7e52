"""The `toasty` command as a new user meets it (issue 16): one-line notify, the asked id at once, one
clear line when no server runs, global flags on either side of the command, help that renders."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.core.process import ServerProcess, free_port

TOASTY = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]


@pytest.fixture
def hub(module_proc: ServerProcess) -> ServerProcess:
    return module_proc


def toasty(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TOASTY, *args], capture_output=True, text=True, timeout=timeout, check=check)


def test_notify_takes_the_message_as_its_argument(hub: ServerProcess) -> None:
    out = toasty("notify", "Backup done", "--address", hub.address, "--agent-id", "backup")  # flags after
    assert out.stdout.startswith("published ")
    titled = toasty(
        "--address", hub.address, "notify", "2 GB in 40 s", "--title", "Backup done", "--urgency", "warning"
    )
    assert titled.stdout.startswith("published ")
    shown = subscribe_titles(hub, 2)
    assert shown == [("Backup done", ""), ("Backup done", "2 GB in 40 s")]


def subscribe_titles(hub: ServerProcess, count: int) -> list[tuple[str, str]]:
    out = toasty("subscribe", "--address", hub.address, "--from-beginning", "--json", "--count", str(count)).stdout
    messages = [json.loads(line)["notification"]["textMessage"] for line in out.splitlines()]
    return [(m["header"]["title"], m.get("bodyTextLine1", "")) for m in messages]


def test_ask_prints_the_id_to_answer_at_once_so_another_terminal_can(hub: ServerProcess) -> None:
    asking = subprocess.Popen(
        [*TOASTY, "ask", "--address", hub.address, "--agent-id", "deployer", "--title", "Ship?",
         "--button", "yes=Yes", "--button", "no=No", "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert asking.stderr is not None
        first = asking.stderr.readline()  # before any answer: the question is open
        assert first.startswith("asked deployer~"), first
        question = first.split()[1].rstrip(":")
        listed = toasty("asks", "--address", hub.address).stdout
        assert question in listed
        assert "from deployer" in listed
        assert "Ship?" in listed
        assert "[yes/no]" in listed
        answered = toasty("answer", question, "no", "--address", hub.address)
        assert answered.stdout.strip() == "answered"
        out, _ = asking.communicate(timeout=30)
    finally:
        asking.kill()
    assert asking.returncode == 0
    assert json.loads(out)["button_id"] == "no"
    assert toasty("asks", "--address", hub.address).stdout.strip() == "no question is waiting for an answer"


@pytest.mark.parametrize(
    "command",
    [
        ["notify", "hello"],
        ["publish", "--title", "x"],
        ["subscribe"],
        ["status"],
        ["asks"],
        ["answer", "a~b", "yes"],
        ["ask", "--title", "x", "--button", "y=Y"],
    ],
)
def test_no_server_is_one_line_that_says_how_to_start_one(command: list[str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    out = toasty(*command, "--address", address, check=False, timeout=60)
    assert out.returncode == 1
    assert out.stderr == f"toasty: cannot reach toasty-server at {address}; start it with `toasty-server`\n"
    assert out.stdout == ""
    assert time.monotonic() - started < 30


def test_help_renders_its_examples_as_typed() -> None:
    text = toasty("progress", "--help").stdout
    assert "N%)" in text
    assert "%%" not in text
    assert "toasty notify" in toasty("--help").stdout
