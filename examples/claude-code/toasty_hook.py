#!/usr/bin/env python3
"""A Claude Code hook: a desktop toast when a session waits for you (`Notification`) or is done (`Stop`).

Claude Code runs it with the event as JSON on stdin (`session_id`, `cwd`, `hook_event_name`, and for
`Notification` also `message`, `notification_type` and maybe `title`). The toast names the session's
directory, so with several sessions open you know which one wants you. It publishes through the `toasty`
command (`pip install toasty-client`), so the usual settings apply: TOASTY_ADDRESS, TOASTY_AGENT_ID
(default here: claude-code), TOASTY_TOKEN, TOASTY_CA_FILE.

Install: copy this file to ~/.claude/hooks/ and add the hooks of settings.json (next to this file) to
~/.claude/settings.json. Standard library only. It always exits 0: a missing hub must never block
Claude Code (a Stop hook that exits 2 would keep the session from stopping); problems go to stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

TIMEOUT = 10.0  # seconds `toasty notify` may take (with no hub it gives up after a second or so)
WAITING = {
    "permission_prompt": ("needs your permission", "warning"),
    "idle_prompt": ("is waiting for you", "warning"),
    "elicitation_dialog": ("has a question for you", "warning"),
    "auth_success": ("signed in", "info"),
}


def toast(event: dict[str, Any]) -> tuple[str, str, str] | None:
    """(title, message, urgency) for a hook event; None for an event this hook does not announce."""
    cwd = str(event.get("cwd") or os.getcwd())
    project = Path(cwd).name or cwd
    where = _tilde(cwd)
    name = event.get("hook_event_name")
    if name == "Notification":
        doing, urgency = WAITING.get(str(event.get("notification_type", "")), ("needs you", "warning"))
        message = str(event.get("message") or event.get("title") or "Claude Code needs your attention")
        return f"{project}: Claude {doing}", f"{message} ({where})", urgency
    if name == "Stop":
        return f"{project}: Claude is done", f"Your turn in {where}", "info"
    return None


def _tilde(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home) :] if path == home or path.startswith(home + os.sep) else path


def main() -> int:
    try:
        event = json.load(sys.stdin)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        print(f"toasty hook: stdin is not the hook's JSON: {exc}", file=sys.stderr)
        return 0
    shown = toast(event) if isinstance(event, dict) else None
    if shown is None:
        return 0
    title, message, urgency = shown
    toasty = shutil.which("toasty")
    if toasty is None:
        print("toasty hook: no `toasty` command on PATH (pip install toasty-client)", file=sys.stderr)
        return 0
    agent = os.environ.get("TOASTY_AGENT_ID") or "claude-code"
    command = [toasty, "notify", message[:2048], "--title", title[:256], "--urgency", urgency, "--agent-id", agent]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        print(f"toasty hook: `toasty notify` took longer than {TIMEOUT:g} s", file=sys.stderr)
        return 0
    except OSError as exc:
        print(f"toasty hook: cannot run {toasty}: {exc.strerror}", file=sys.stderr)
        return 0
    if done.returncode != 0:
        sys.stderr.write(done.stderr or f"toasty hook: toasty notify exited with {done.returncode}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
