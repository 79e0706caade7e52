"""What a tool call asks to do, as a person reads it on a toast before allowing it.

The whole input is shown: the person approves what they can see, so a long value is cut with a visible
marker ("… (1234 more characters)") and never silently. The main argument of well-known tools (a Bash
command, the file an edit touches) comes first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_SUMMARY = 2048  # one body line of a toast (builders.MAX_TEXT)
MAX_VALUE = 1200  # one argument's share, so that the arguments after a long one still show
# the argument that says what a call does, first; the rest follow in the order the caller gave them
MAIN_ARGUMENTS = ("command", "file_path", "notebook_path", "path", "url", "pattern", "query", "prompt")


def shorten(text: str, limit: int) -> str:
    """`text`, or its head with `… (N more characters)` at the end so that the whole fits in `limit`."""
    if len(text) <= limit:
        return text
    keep = limit
    while keep > 0 and keep + len(_marker(len(text) - keep)) > limit:  # the marker's length depends on N
        keep = max(0, limit - len(_marker(len(text) - keep)))
    return text[:keep] + _marker(len(text) - keep)


def _marker(dropped: int) -> str:
    return f"… ({dropped} more characters)"


def summarize(tool_name: str, tool_input: Mapping[str, Any], limit: int = MAX_SUMMARY) -> str:
    """One `name: value` line per argument (a Bash command as `$ command`), within `limit` characters."""
    keys = sorted(tool_input, key=lambda k: MAIN_ARGUMENTS.index(k) if k in MAIN_ARGUMENTS else len(MAIN_ARGUMENTS))
    lines: list[str] = []
    for key in keys:
        value = _text(tool_input[key])
        if tool_name == "Bash" and key == "command":
            lines.append(f"$ {shorten(value, MAX_VALUE)}")
        else:
            lines.append(f"{key}: {shorten(value, MAX_VALUE)}")
    return shorten("\n".join(lines) or "(no arguments)", limit)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
