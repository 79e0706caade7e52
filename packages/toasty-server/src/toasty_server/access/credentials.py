"""A call's credential → its principal: the one place that decides who is calling (gRPC and HTTP alike).

- `Bearer <person secret>` (or a token file entry with role = "person"): the person;
- `Bearer <token of agent X>`: agent X, proved (an x-agent-id claiming someone else is refused);
- no credential: an anonymous publisher named by its x-agent-id claim, unless a token file is configured
  (then every caller needs a token) or the claim is the name of a token file agent;
- any other bearer: refused (UNAUTHENTICATED), never downgraded to anonymous.
"""

from __future__ import annotations

import hmac

from toasty_server.access.principal import Channel, Principal, Role
from toasty_server.access.tokens import BEARER, TokenBook, token_digest
from toasty_server.errors import ToastyError
from toasty_server.interceptors.errors import Unauthenticated

PERSON_AGENT_ID = "person"


class Credentials:
    """The person secret and the token book; `principal` answers "who is this call?"."""

    def __init__(self, person_secret: str, book: TokenBook | None = None) -> None:
        self._person = token_digest(person_secret)
        self.book = book

    def principal(self, claim: str, authorization: str, channel: Channel, agent_header: str) -> Principal:
        """Raises Unauthenticated with what to fix."""
        claim = claim.strip()
        if not authorization:
            if self.book is not None:
                raise _refusal(f"no bearer token was sent for agent {claim or 'anonymous'!r}", agent_header)
            return Principal(Role.ANONYMOUS, claim or Role.ANONYMOUS.value, channel)
        if authorization[: len(BEARER)].lower() != BEARER:
            raise _refusal("the authorization is not of the form `Bearer <token>`", agent_header)
        given = token_digest(authorization[len(BEARER) :].strip())  # once, for the secret and every token
        if hmac.compare_digest(given, self._person):
            return Principal(Role.PERSON, claim or PERSON_AGENT_ID, channel)
        found = self.book.identify(given) if self.book is not None else None
        if found is None:
            raise _refusal(f"the token does not match for agent {claim or 'anonymous'!r}", agent_header)
        name, role = found
        if claim and claim != name:
            raise _refusal(f"the token is not the token of agent {claim!r}", agent_header)
        return Principal(role, name, channel)


def _refusal(what: str, agent_header: str) -> ToastyError:
    return Unauthenticated(
        f"{what}: send `authorization: Bearer <token>` with the token of your {agent_header} from the "
        "server's TOASTY_TOKEN_FILE (client: token=...), or the person secret (TOASTY_PERSON_SECRET_FILE)"
    )
