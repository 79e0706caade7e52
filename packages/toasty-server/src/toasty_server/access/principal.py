"""Who is calling: the person, an agent proved by its token, or an anonymous loopback publisher.

Decided from the call's credential only (`access.credentials`), never from a field the caller fills in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PERSON = "person"  # the desktop user: the per-user secret, or a token file entry with role = "person"
    AGENT = "agent"  # a token file entry: its id is proved
    ANONYMOUS = "anonymous"  # no credential: its x-agent-id is only a claim


class Channel(StrEnum):
    """Where a call came in; an answer's source is set from it, never by the caller."""

    TERMINAL = "terminal"  # gRPC: the `toasty` command, scripts
    WEB = "web"  # HTTP: the web page, curl


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    agent_id: str  # the token's agent, or the claimed x-agent-id (anonymous, person)
    channel: Channel = Channel.TERMINAL

    @property
    def is_person(self) -> bool:
        return self.role is Role.PERSON

    @property
    def proved(self) -> bool:
        """True when the agent id is backed by a credential, not just claimed."""
        return self.role is not Role.ANONYMOUS


def current_principal() -> Principal:
    """The principal of the call being handled, as the access check decided it (anonymous outside a call)."""
    from toasty_server.observability.context import current_call

    info = current_call()
    if info is not None and info.principal is not None:
        return info.principal
    return Principal(Role.ANONYMOUS, info.agent_id if info is not None and info.agent_id else Role.ANONYMOUS.value)
