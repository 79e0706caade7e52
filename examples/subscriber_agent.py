"""Subscriber agent: reacts to what other agents publish, and never misses one across restarts.

It subscribes as `on-call`, writes every delivery it gets to a JSON-lines journal, and escalates each
CRITICAL notification by publishing a follow-up toast. It saves the last sequence it handled in a
state file, so when it is restarted it resumes exactly where it stopped (nothing missed, nothing
handled twice).

    hatch run python examples/subscriber_agent.py --state ~/.cache/on-call.state --journal ~/on-call.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

import betterproto2

from toasty_client import ResilientNotificationClient, TextNotification, Urgency
from toasty_proto import v1

log = logging.getLogger("subscriber_agent")
AGENT_ID = "on-call"


def load_sequence(state: Path) -> int:
    return int(state.read_text()) if state.exists() else 0


def save_sequence(state: Path, sequence: int) -> None:
    """Write then rename, so a crash mid-write never leaves a broken state file."""
    tmp = state.with_suffix(".tmp")
    tmp.write_text(str(sequence))
    tmp.replace(state)


def title_of(notification: v1.Notification) -> str:
    _, payload = betterproto2.which_one_of(notification, "payload")
    header = getattr(payload, "header", None)
    return header.title if header is not None else ""


async def handle(toasty: ResilientNotificationClient, delivery: v1.Delivery, journal: Path) -> None:
    n = delivery.notification
    with journal.open("a") as out:
        out.write(json.dumps(delivery.to_dict()) + "\n")
    if n is None or delivery.publisher_agent_id == AGENT_ID:
        return  # answers, receipts, and our own escalations
    if n.urgency == v1.UrgencyLevel.CRITICAL:
        await toasty.publish(
            TextNotification(
                title=f"Escalated: {title_of(n)}"[:256],
                line1=f"from {delivery.publisher_agent_id}; on-call has been paged",
                urgency=Urgency.WARNING,
                idempotency_key=f"escalate-{n.id}"[:128],  # once, even if we crash before saving state
            ),
            skip_toast=False,
        )
        log.info("escalated %s from %s", n.id, delivery.publisher_agent_id)


async def run(state: Path, journal: Path, stop_after: int | None) -> None:
    after = load_sequence(state)
    handled = 0
    async with ResilientNotificationClient(agent_id=AGENT_ID) as toasty:
        async for delivery in toasty.subscribe(after_sequence=after, from_beginning=after == 0):
            await handle(toasty, delivery, journal)
            save_sequence(state, delivery.sequence)
            handled += 1
            if stop_after is not None and handled >= stop_after:
                return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", type=Path, required=True, help="file keeping the last handled sequence")
    parser.add_argument("--journal", type=Path, required=True, help="JSON-lines file of every delivery")
    parser.add_argument("--stop-after", type=int, help="exit after handling this many deliveries")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    asyncio.run(run(args.state, args.journal, args.stop_after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
