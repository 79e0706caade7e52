"""Notification ids are namespaced per agent: two agents may both publish `deploy-1`.

Deliveries, answers and receipts carry the id as its publisher gave it (with `publisher_agent_id`); the
server keys its log, questions and toasts by the *global* id `<agent>~<local id>`. `~` is not allowed in
the ids and agent ids callers send (service.validation), so a global id splits one way only. A caller
names its own notification by its local id (or the global one); the person names another agent's by its
global id, which the toast, the web page and the console show.
"""

from __future__ import annotations

SEPARATOR = "~"


def global_id(owner: str, local_id: str) -> str:
    """The id the server stores and delivers for `owner`'s notification `local_id`."""
    return f"{owner}{SEPARATOR}{local_id}"


def resolve(caller: str, given: str) -> str:
    """What `given` names when `caller` sends it: a global id as is, a local one in the caller's namespace."""
    return given if SEPARATOR in given else global_id(caller, given)


def is_global(notification_id: str) -> bool:
    return SEPARATOR in notification_id


def local_id(notification_id: str) -> str:
    """The id as its publisher gave it (what deliveries, answers and receipts carry)."""
    return notification_id.partition(SEPARATOR)[2] or notification_id
