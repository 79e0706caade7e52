"""The `toasty` command line against a real server process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.process import ServerProcess


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("cli") / "toasty.db")
    server.start()
    yield server
    server.kill()


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
