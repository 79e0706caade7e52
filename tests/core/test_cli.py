"""The `toasty` command line against a real server process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.process import ServerProcess


@pytest.fixture
def proc(module_proc: ServerProcess) -> ServerProcess:
    """The module's server (tests/conftest.py), under the name these tests use."""
    return module_proc


def toasty(proc: ServerProcess, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]
    return subprocess.run(
        [*command, "--address", proc.address, "--agent-id", "cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=check,
    )


def test_publish_then_subscribe_from_the_beginning(proc: ServerProcess) -> None:
    published = toasty(proc, "publish", "--title", "From the shell", "--line1", "hello", "--urgency", "warning")
    assert published.stdout.startswith("published ")
    toasty(proc, "publish", "--title", "Upload", "--progress", "0.5", "--key", "up", "--status", "half")
    toasty(proc, "publish", "--title", "Deploy?", "--button", "ok=OK", "--input", "why=Why", "--select", "env=a,b")
    out = toasty(proc, "subscribe", "--client-id", "reader", "--from-beginning", "--json", "--count", "3").stdout
    deliveries = [json.loads(line) for line in out.splitlines()]
    assert deliveries[0]["notification"]["textMessage"]["header"]["title"] == "From the shell"
    assert deliveries[0]["notification"]["urgency"] == "URGENCY_LEVEL_WARNING"
    assert deliveries[1]["notification"]["progress"]["value"] == 0.5
    assert deliveries[2]["notification"]["interactive"]["selectionInputs"][0]["choices"][1]["id"] == "b"
    human = toasty(proc, "subscribe", "--client-id", "human", "--from-beginning", "--count", "1").stdout
    assert "[warning text_message] From the shell" in human


def test_publish_from_json_file(proc: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    path.write_text(json.dumps({"urgency": "URGENCY_LEVEL_CRITICAL", "textMessage": {"header": {"title": "JSON"}}}))
    assert toasty(proc, "publish", "--json", str(path)).returncode == 0


def test_errors_are_one_clear_line(proc: ServerProcess) -> None:
    bad = toasty(proc, "publish", "--title", "x" * 300, check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("toasty: invalid notification: title")
    refused = toasty(proc, "publish", "--title", "t", "--target", "has space", check=False)
    assert refused.returncode == 1
    assert "target_client_id" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    status = json.loads(toasty(proc, "status").stdout)
    assert status["store"] == "sqlite"
    assert status["health"] == "SERVING"
    assert "console" in status["backends"]


def test_progress_from_stdin_updates_one_key(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "progress.db")
    proc.start()
    try:
        check_piped_progress(proc)
    finally:
        proc.kill()


def check_piped_progress(proc: ServerProcess) -> None:
    command = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]
    fed = subprocess.run(
        [*command, "--address", proc.address, "--agent-id", "cli", "progress", "--title", "Piped", "--key", "pipe-1"],
        input="10% fetching\n0.5\n\n90% linking\n",
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert fed.returncode == 0, fed.stderr
    failing = subprocess.run(
        [*command, "--address", proc.address, "--agent-id", "cli", "progress", "--title", "Piped", "--key", "pipe-2"],
        input="20%\nfail out of disk\n",
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert failing.returncode == 1
    out = toasty(proc, "subscribe", "--client-id", "piped", "--from-beginning", "--json", "--count", "8").stdout
    bars = [json.loads(line)["notification"]["progress"] for line in out.splitlines() if "pipe-" in line]
    first = [(b.get("value", 0), b.get("status", ""), b.get("state")) for b in bars if b["progressKey"] == "pipe-1"]
    assert first == [
        (0, "", "PROGRESS_STATE_RUNNING"),
        (0.1, "fetching", "PROGRESS_STATE_RUNNING"),
        (0.5, "", "PROGRESS_STATE_RUNNING"),
        (0.9, "linking", "PROGRESS_STATE_RUNNING"),
        (1.0, "linking", "PROGRESS_STATE_SUCCEEDED"),
    ]
    second = [(b.get("status", ""), b.get("state")) for b in bars if b["progressKey"] == "pipe-2"]
    assert second[-1] == ("out of disk", "PROGRESS_STATE_FAILED")


def test_bad_progress_line_is_one_clear_error(proc: ServerProcess) -> None:
    command = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]
    bad = subprocess.run(
        [*command, "--address", proc.address, "progress", "--title", "T"],
        input="lots\n", capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "progress lines look like '40% status'" in bad.stderr
