"""The code blocks of README.md and docs/*.md, as tests/docs/test_snippets.py runs them.

A block is a fenced ```python, ```sh, ```bash or ```toml (a server configuration file) block; other fences
show output, a diagram or another language. One that cannot run as it is written carries, on the line right
above its fence, a comment saying why: `<!-- snippet: not run (a fragment of the block above) -->`.

Shell blocks are split into commands (a command goes on over `\\` line ends and open quotes); a command
that does not end by itself is recognised here: one that starts a hub (`toasty-server`, `hatch run server`)
and one that follows deliveries (`toasty subscribe` without `--count`, `curl -N`).
"""

from __future__ import annotations

import enum
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "shell": "sh", "toml": "toml"}
EXEMPT = re.compile(r"<!-- snippet: not run \((?P<reason>[^)]+(?:\([^)]*\)[^)]*)*)\) -->")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str  # "python", "sh" or "toml"
    code: str
    exempt: str  # why it is not run; "" when it is

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def __str__(self) -> str:
        return self.where


def documents(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def snippets(path: Path) -> list[Snippet]:
    """Every python, shell and TOML block of one Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Snippet] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```\s*(\S*)", lines[i])
        if fence is None:
            _refuse_stray_marker(path, lines, i)
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{path}:{i + 1}: a code block that is never closed")
        language = LANGUAGES.get(fence.group(2).lower(), "")
        exempt = _exemption(path, lines, i)
        if language:
            indent = len(fence.group(1))
            code = "\n".join(line[indent:] for line in lines[i + 1 : end]) + "\n"
            found.append(Snippet(path, i + 1, language, code, exempt))
        elif exempt:
            raise ValueError(f"{path}:{i + 1}: a `snippet: not run` comment above a block that is never run")
        i = end + 1
    return found


def all_snippets(root: Path = ROOT) -> list[Snippet]:
    return [s for doc in documents(root) for s in snippets(doc)]


def _exemption(path: Path, lines: list[str], fence: int) -> str:
    """The reason in a `<!-- snippet: not run (...) -->` comment on the line right above the fence, or ""."""
    above = lines[fence - 1].strip() if fence > 0 else ""
    if not above.startswith("<!-- snippet:"):
        return ""
    match = EXEMPT.fullmatch(above)
    if match is None:
        raise ValueError(f"{path}:{fence}: write `<!-- snippet: not run (why) -->`, not {above!r}")
    return match.group("reason")


def _refuse_stray_marker(path: Path, lines: list[str], i: int) -> None:
    """A snippet comment must sit right above a code block; anywhere else it exempts nothing."""
    if lines[i].strip().startswith("<!-- snippet:"):
        below = lines[i + 1] if i + 1 < len(lines) else ""
        if not below.lstrip().startswith("```"):
            raise ValueError(f"{path}:{i + 1}: a snippet comment that is not right above a code block")


class Kind(enum.Enum):
    PLAIN = "plain"  # runs and ends
    HUB = "hub"  # starts a hub: runs until stopped
    FOLLOW = "follow"  # prints deliveries until stopped


@dataclass(frozen=True)
class Command:
    text: str  # as written, over one or more lines
    kind: Kind
    env: dict[str, str]  # NAME=value words before the program
    argv: list[str]  # the program and its arguments, `hatch run` resolved; [] for assignments only


def commands(code: str) -> list[Command]:
    """Split a shell block into its commands, dropping blank and comment-only lines."""
    out: list[Command] = []
    pending: list[str] = []
    for line in code.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending.append(line)
        text = "\n".join(pending)
        if text.rstrip().endswith(("\\", "|", "&&")):  # goes on on the next line
            continue
        try:
            words = shlex.split(text, comments=True)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        out.append(_command(text, words))
        pending = []
    if pending:
        raise ValueError(f"a shell command that never ends: {pending[0]!r}")
    return out


def _command(text: str, words: list[str]) -> Command:
    env: dict[str, str] = {}
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if words[:3] == ["hatch", "run", "server"]:  # hatch.toml: server = "toasty-server {args}"
        words = ["toasty-server", *words[3:]]
    elif words[:2] == ["hatch", "run"]:
        words = words[2:]
    return Command(text, _kind(words), env, words)


def _kind(words: list[str]) -> Kind:
    if not words or {"|", "&&", "||", ";", "&"} & set(words):
        return Kind.PLAIN  # a pipeline or list ends when its commands end
    program, args = words[0], set(words[1:])
    if program == "toasty-server" and not {"--print-config", "--help", "register-aumid"} & args:
        return Kind.HUB
    follows = program == "toasty" and words[1:2] == ["subscribe"] and "--count" not in args
    streams = program == "curl" and bool({"-N", "--no-buffer"} & args)
    return Kind.FOLLOW if follows or streams else Kind.PLAIN
