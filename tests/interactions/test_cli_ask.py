"""Headless interactive flow from terminals: `toasty ask` in one, `toasty answer` in another."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from tests.core.process import ServerProcess

TOASTY = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]


def shown_id(proc: ServerProcess, title: str, timeout: float = 10.0) -> str:
    """The console renderer prints each toast with its id: what a person at the terminal would read."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(rf"\] {re.escape(title)} .*\(from [^,]+, id ([\w~.:@/-]+)\)", proc.log())
        if match:
            return match.group(1)
        time.sleep(0.05)
    raise AssertionError(f"{title!r} was never shown:\n{proc.log()}")


@pytest.mark.parametrize(
    ("answer_args", "exit_code", "outcome"),
    [
        (["approve", "--input", "reason=ship it"], 0, "button"),
        (["--dismiss"], 3, "dismissed"),
    ],
)
def test_ask_in_one_terminal_answer_in_another(
    proc: ServerProcess, answer_args: list[str], exit_code: int, outcome: str
) -> None:
    common = ["--address", proc.address]
    asking = subprocess.Popen(
        [*TOASTY, *common, "--agent-id", "deployer", "ask", "--title", "Ship it?",
         "--button", "approve=Approve", "--button", "reject=Reject", "--input", "reason=Why", "--timeout", "60"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        nid = shown_id(proc, "Ship it?")
        answered = subprocess.run(
            [*TOASTY, *common, "--agent-id", "person", "answer", nid, *answer_args],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert answered.stdout.strip() == "answered"
        out, _ = asking.communicate(timeout=30)
    finally:
        asking.kill()
    assert asking.returncode == exit_code
    result = json.loads(out)
    assert result["outcome"] == outcome
    assert nid == f"deployer~{result['notification_id']}"  # the asker's own id; the toast shows the global one
    if outcome == "button":
        assert (result["button_id"], result["inputs"]) == ("approve", {"reason": "ship it"})


def test_ask_times_out_with_its_exit_code(proc: ServerProcess) -> None:
    done = subprocess.run(
        [*TOASTY, "--address", proc.address, "--agent-id", "deployer", "ask", "--title", "Anyone?",
         "--button", "yes=Yes", "--timeout", "1"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 4
    assert json.loads(done.stdout)["outcome"] == "timed_out"
