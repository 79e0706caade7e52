"""Who is asking, and from where: the line a toast from `toasty-mcp` carries so the person can tell two
agents (or two sessions of one host) apart."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from toasty_client.mcp.summary import shorten

CWD_ENV = "TOASTY_MCP_CWD"  # the directory the agent works in, when the server is not started there
MAX_ATTRIBUTION = 256  # the hub's limit for a toast's attribution line (builders.MAX_TITLE)


@dataclass(frozen=True)
class Origin:
    """The MCP client's name (`clientInfo.name`, "" if it gave none) and the directory it works in."""

    agent: str
    directory: str

    def label(self, tag: str = "") -> str:
        """`tag · claude-code in ~/src/app`, within the attribution line's limit (shortened visibly)."""
        where = f"in {self.directory}" if self.directory else ""
        who = " ".join(part for part in (self.agent, where) if part)
        return shorten(" · ".join(part for part in (tag, who) if part), MAX_ATTRIBUTION)


def working_directory(roots: Sequence[str] = ()) -> str:
    """TOASTY_MCP_CWD, else the client's first `file://` root, else this process's working directory
    (hosts such as Claude Code start a stdio server in the project's directory); the home folder as `~`."""
    named = os.environ.get(CWD_ENV, "").strip()
    path = named or next((p for p in map(_root_path, roots) if p), "") or _cwd()
    return _with_tilde(path)


def _root_path(uri: str) -> str:
    parts = urlsplit(uri)
    return unquote(parts.path) if parts.scheme == "file" and parts.path else ""


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:  # the directory was removed under us
        return ""


def _with_tilde(path: str) -> str:
    if not path:
        return ""
    try:
        home = Path.home()
        relative = Path(path).relative_to(home)
    except (ValueError, RuntimeError):  # not under home, or no home at all
        return path
    return "~" if relative == Path() else f"~{os.sep}{relative}"
