"""Which deliveries of the person's subscription become toasts on this device, and which toast.

The subscription carries every broadcast and what is addressed to this device's client id (answers and
receipts go to the asking agents' own mailboxes, so they never reach it). Each notification becomes the
ToastSpec the hub would show (`render.mapping`), keyed by the hub's global id `<agent>~<id>`: the id
`ListQuestions` and `Answer` use, so a question on this screen is the question at the hub. Toasts older
than `max_age` found while catching up are not shown (a laptop back after a weekend does not replay it);
questions are, whatever their age, while the hub still lists them open (checked by `questions`).

A notification published with `skip_toast` (for subscribers only) is not shown (the Delivery says so).
What the stream cannot tell: a publisher's withdrawal of a plain toast (recorded by no delivery).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from toasty_proto import v1
from toasty_server.render.mapping import toast_from_notification
from toasty_server.render.spec import Kind, ToastSpec
from toasty_server.service.ids import global_id

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A notification that is not shown here, and why (logged at debug level)."""

    notification_id: str
    reason: str


def toast_for(delivery: v1.Delivery, *, max_age_seconds: float, now: float | None = None) -> ToastSpec | Skipped | None:
    """The toast a delivery shows here; Skipped for a notification that is not shown; None for what is
    not a notification (gaps, log resets, answers and receipts)."""
    n = delivery.notification
    if n is None:
        return None
    publisher = delivery.publisher_agent_id
    key = global_id(publisher, n.id)
    if delivery.skip_toast:
        return Skipped(key, "published for subscribers only (skip_toast)")
    try:
        toast = toast_from_notification(n, publisher, toast_id=key)
    except ValueError as exc:  # no payload this version knows (a newer hub's template)
        return Skipped(key, str(exc))
    age = (time.time() if now is None else now) - delivery.published_at_unix_ms / 1000
    if toast.kind is not Kind.INTERACTIVE and delivery.published_at_unix_ms and age > max_age_seconds:
        return Skipped(key, f"published {age:.0f} s ago, older than the companion's --max-age")
    return toast
