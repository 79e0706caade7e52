"""Email-trigger agent: a Text toast for every new mail in a local Maildir folder.

It polls the Maildir's `new/` folder, publishes "New mail from <sender>" with the subject, and moves
each message to `cur/` (as a mail client does once it has seen it), so a restart does not announce a
mail twice. Point it at the Maildir your mail fetcher (fetchmail, mbsync, getmail) writes to.

    hatch run python examples/email_trigger_agent.py --maildir ~/Maildir
    hatch run python examples/email_trigger_agent.py --maildir ~/Maildir --once   # check once and exit
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import mailbox
from email.header import decode_header, make_header
from pathlib import Path

from toasty_client import ResilientNotificationClient, TextNotification, Urgency

log = logging.getLogger("email_trigger_agent")


def _decoded(value: str | None) -> str:
    """Mail headers may be RFC 2047 encoded ("=?utf-8?q?...?="): show them as text."""
    return str(make_header(decode_header(value))) if value else ""


def new_mail(maildir: mailbox.Maildir) -> list[tuple[str, str, str]]:
    """(key, sender, subject) of every unseen message, oldest first; marks each as seen."""
    found = []
    unseen = [(key, message) for key, message in maildir.iteritems() if message.get_subdir() == "new"]
    for key, message in sorted(unseen, key=lambda item: item[1].get_date()):
        found.append((key, _decoded(message["From"]), _decoded(message["Subject"])))
        message.set_subdir("cur")
        message.add_flag("S")
        maildir[key] = message
    return found


async def check(toasty: ResilientNotificationClient, maildir: mailbox.Maildir, urgent_words: set[str]) -> int:
    mails = new_mail(maildir)
    for key, sender, subject in mails:
        urgent = any(word in subject.lower() for word in urgent_words)
        await toasty.publish(
            TextNotification(
                title=f"New mail from {sender or 'unknown sender'}"[:256],
                line1=subject or "(no subject)",
                urgency=Urgency.WARNING if urgent else Urgency.INFO,
                idempotency_key=f"mail-{key}"[:128],  # announced once, even if the agent crashes mid-way
            )
        )
        log.info("announced mail %s from %s", key, sender)
    return len(mails)


async def run(folder: Path, interval: float, once: bool, urgent_words: set[str]) -> None:
    maildir = mailbox.Maildir(folder, create=True)
    async with ResilientNotificationClient(agent_id="email-trigger") as toasty:
        while True:
            await check(toasty, maildir, urgent_words)
            if once:
                return
            await asyncio.sleep(interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maildir", type=Path, default=Path.home() / "Maildir")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between checks")
    parser.add_argument("--once", action="store_true", help="check once and exit")
    parser.add_argument("--urgent", default="urgent,outage,down", help="subject words that make it a WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    asyncio.run(run(args.maildir, args.interval, args.once, {w.strip() for w in args.urgent.split(",") if w}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
