"""Per-agent bearer tokens from a file of the user's, so another local process cannot act as an agent.

The file maps agent id → token, as TOML (`ci-bot = "s3cret"`) or, when it ends in `.json`, a JSON
object; either may also nest the mapping under a `tokens` key. An entry may instead be a table that names
its role: `[ops]` `token = "…"` `role = "person"` (roles: agent, the default, and person). Tokens are
compared in constant time (SHA-256 digests through `hmac.compare_digest`) against every entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import stat
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from toasty_server.access.principal import Role

log = logging.getLogger(__name__)

AUTHORIZATION_KEY = "authorization"
BEARER = "bearer "
ANY_CLIENT = "*"


class TokenFileError(ValueError):
    """The token file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class TokenEntry:
    token: str
    role: Role = Role.AGENT


def load_tokens(path: Path) -> dict[str, TokenEntry]:
    """Read and check the name → token (and role) mapping of `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data: object = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise TokenFileError(f"{path} is not valid {kind}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("tokens"), dict):
        data = data["tokens"]
    if not isinstance(data, dict) or not data:
        raise TokenFileError(f'{path} must map agent ids to tokens, e.g. ci-bot = "<token>"')
    return {str(name): _entry(path, str(name), value) for name, value in data.items()}


def _entry(path: Path, name: str, value: object) -> TokenEntry:
    role = Role.AGENT
    if isinstance(value, dict):
        role_name = value.get("role", Role.AGENT.value)
        if role_name not in (Role.AGENT.value, Role.PERSON.value):
            raise TokenFileError(f'{path}: the role of {name!r} must be "agent" or "person", not {role_name!r}')
        role, value = Role(role_name), value.get("token")
    if not isinstance(value, str) or len(value) < 8:
        raise TokenFileError(f"{path}: the token of {name!r} must be a string of 8 characters or more")
    return TokenEntry(value, role)


def token_digest(value: str) -> bytes:
    """What secrets are compared by (in constant time): their SHA-256."""
    return hashlib.sha256(value.encode("utf-8")).digest()


class TokenBook:
    """The configured tokens and subscription grants; answers "is this call really agent X?"."""

    def __init__(
        self, tokens: Mapping[str, str | TokenEntry], grants: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        entries = {name: e if isinstance(e, TokenEntry) else TokenEntry(e) for name, e in tokens.items()}
        self._digests = {name: token_digest(entry.token) for name, entry in entries.items()}
        self._roles = {name: entry.role for name, entry in entries.items()}
        self._grants = {agent: frozenset(ids) for agent, ids in (grants or {}).items()}

    @classmethod
    def from_file(cls, path: Path, grants: Mapping[str, Iterable[str]] | None = None) -> TokenBook:
        book = cls(load_tokens(path), grants)
        mode = path.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("token file %s is readable by other users (mode %o): chmod 600 it", path, mode & 0o777)
        log.info("tokens required: %d agents in %s", len(book), path)
        return book

    def __len__(self) -> int:
        return len(self._digests)

    def identify(self, given: bytes) -> tuple[str, Role] | None:
        """The entry whose token has the digest `given` (name and role), compared with every entry in
        constant time."""
        found: tuple[str, Role] | None = None
        for name, expected in self._digests.items():
            if hmac.compare_digest(given, expected) and found is None:
                found = (name, self._roles[name])
        return found

    def may_subscribe_as(self, agent: str, client_id: str) -> bool:
        """An agent subscribes as itself, or as a client id the grants give it (`*`: any)."""
        if not client_id or client_id == agent:
            return True
        granted = self._grants.get(agent, frozenset())
        return client_id in granted or ANY_CLIENT in granted
