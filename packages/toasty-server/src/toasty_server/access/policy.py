"""Who may do what: every rule of the access model, asked once per call by the service.

| action | person | agent (token) | anonymous (no credential) |
|---|---|---|---|
| publish | yes | yes | yes, on loopback (rate limited) |
| subscribe as client id C | any C | itself, or C its grants allow | only as its own claimed id |
| await / withdraw / resolve a question | any | its own questions | with the question's answer_key |
| answer a question as the person | yes | no | no |
| read every client's log (web page) | yes | with the grant `*` | no |
"""

from __future__ import annotations

import hashlib
import hmac

from toasty_server.access.principal import Principal
from toasty_server.access.tokens import TokenBook
from toasty_server.errors import PermissionDenied
from toasty_server.store import Ask


def key_digest(answer_key: str) -> str:
    """What the store keeps of a question's answer_key (never the key itself)."""
    return hashlib.sha256(answer_key.encode()).hexdigest()


def owns(principal: Principal, ask: Ask, answer_key: str) -> bool:
    """True when the caller asked this question: its proved agent id, or the question's answer_key."""
    if principal.proved and principal.agent_id == ask.publisher:
        return True
    return bool(answer_key and ask.owner_key) and hmac.compare_digest(key_digest(answer_key), ask.owner_key)


def answer_mailbox(ask: Ask) -> str:
    """Where a question's outcome is delivered: the asking agent's mailbox when its id was proved; for a
    question asked without a credential, a mailbox nobody can subscribe to ('#' is not allowed in client
    ids), since anyone could claim that id: such an asker reads its answer with its answer_key."""
    return f"{ask.publisher}#answers" if ask.owner_key else ask.publisher


def check_owner_or_person(principal: Principal, ask: Ask, answer_key: str, action: str) -> None:
    if principal.is_person or owns(principal, ask, answer_key):
        return
    raise PermissionDenied(
        f"{principal.agent_id!r} may not {action} notification {ask.notification_id!r}: only the agent that "
        "asked it (its token, or the answer_key its publish returned) and the person may"
    )


def check_subscribe(principal: Principal, client_id: str, book: TokenBook | None) -> None:
    """Person: any client id. Agent: itself or its grants. Anonymous: its own claimed id only."""
    if principal.is_person or not client_id or client_id == principal.agent_id:
        return
    if principal.proved and book is not None and book.may_subscribe_as(principal.agent_id, client_id):
        return
    what = "every client's notifications" if client_id == "*" else f"the deliveries of client_id {client_id!r}"
    raise PermissionDenied(
        f"agent {principal.agent_id!r} may not read {what}: read your own (leave client_id empty), grant it with "
        f'TOASTY_SUBSCRIBE_GRANTS (e.g. {{"{principal.agent_id}": ["*"]}}), or act as the person '
        "(the person secret, TOASTY_PERSON_SECRET_FILE)"
    )
