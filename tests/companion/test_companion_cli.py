"""`toasty-desktop`'s command line: help with examples, and the mistakes retrying cannot fix end it with
a message that says what to change (a missing or refused secret, a bad or shared client id)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.companion.companions import CompanionProcess, HeadlessHub, wait_subscribed
from toasty_client import ResilientNotificationClient
from toasty_server.companion.cli import main
from toasty_server.companion.options import default_client_id

pytestmark = pytest.mark.timeout(60)


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "toasty-desktop --hub hub.lan:50053" in out
    for flag in ("--renderer", "--client-id", "--token", "--secret-file", "--ca-file", "--state-dir", "--max-age"):
        assert flag in out


def test_without_a_person_secret_it_says_where_to_put_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TOASTY_TOKEN", raising=False)
    monkeypatch.setenv("TOASTY_PERSON_SECRET_FILE", str(tmp_path / "absent.secret"))
    assert main(["--hub", "127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "no person secret in" in err
    assert "absent.secret" in err
    assert "--secret-file" in err


def test_a_client_id_the_hub_would_refuse_is_refused_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--token", "x", "--client-id", "my laptop\x1b[2J"]) == 2
    err = capsys.readouterr().err
    assert "--client-id" in err
    assert "\x1b" not in err


def test_the_default_client_id_is_this_device() -> None:
    assert default_client_id("Work Laptop.local") == "desktop@Work-Laptop.local"
    assert default_client_id("") == "desktop@unknown"


def test_a_secret_the_hub_refuses_ends_it_with_exit_1(hub: HeadlessHub, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "toasty_server.companion", "--hub", hub.address, "--token", "not-the-secret",
        "--renderer", "console", "--state-dir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1, done.stderr
    assert "refuses this companion's credential" in done.stderr


async def test_a_second_device_with_the_same_client_id_takes_over_and_the_first_says_why(
    hub: HeadlessHub, tmp_path: Path
) -> None:
    first = CompanionProcess(hub, tmp_path / "one", "desktop@cloned-vm")
    second = CompanionProcess(hub, tmp_path / "two", "desktop@cloned-vm")
    for device in (first, second):
        device.log_path.parent.mkdir()
    first.start()
    try:
        async with ResilientNotificationClient(hub.address, agent_id="person", token=hub.person_secret) as person:
            await wait_subscribed(person, first.client_id)
        await first.wait_for("following hub")
        second.start()
        assert first.proc is not None
        code = await asyncio.to_thread(first.proc.wait, 20)
        assert code == 1
        assert "give each device its own --client-id" in first.log()
        assert second.proc is not None
        assert second.proc.poll() is None
    finally:
        first.kill()
        second.kill()
