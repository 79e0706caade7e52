"""@require_approval in plain Python: old backups are deleted only when the person allows it.

The function that deletes is wrapped in `toasty_client.require_approval`: each call first shows the person
"Allow delete_old_backups?" with its arguments, Allow / Deny and a reason box, and runs only on Allow.
A denial (or no answer in time) raises `ApprovalDenied`, carrying the reason the person typed.

    hatch run server                                             # terminal 1
    hatch run python examples/agents/plain_approval.py --days 30  # terminal 2
    hatch run toasty asks                                        # the question, if no desktop shows it
    hatch run toasty answer <id> deny --input reason="keep them until the audit"   # or: <id> allow

Without --folder it works on a demo folder of pretend backups it makes. The hub is --address, else
TOASTY_ADDRESS, else localhost:50053. Exit code: 0 deleted, 1 not allowed (denied, dismissed, withdrawn),
2 nobody answered in time, 3 Toasty could not ask.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import toasty_client
from toasty_client import ApprovalDenied, ToastyError

DAY = 86_400.0


def delete_old_backups(folder: Path, older_than_days: int) -> list[str]:
    """What needs the person's yes: delete the *.bak files in `folder` older than `older_than_days`."""
    cutoff = time.time() - older_than_days * DAY
    old = sorted(p for p in folder.glob("*.bak") if p.stat().st_mtime < cutoff)
    for path in old:
        path.unlink()
    return [p.name for p in old]


def demo_folder() -> Path:
    """Three backups: two of them 40 and 90 days old, one from today."""
    folder = Path(tempfile.mkdtemp(prefix="toasty-backups-"))
    for name, age_days in (("db-90d.bak", 90), ("db-40d.bak", 40), ("db-today.bak", 0)):
        path = folder / name
        path.write_text("pretend backup\n")
        stamp = time.time() - age_days * DAY
        os.utime(path, (stamp, stamp))
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, help="where the *.bak files are (default: a demo folder)")
    parser.add_argument("--days", type=int, default=30, help="delete backups older than this")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds the person has to answer")
    parser.add_argument("--address", help="the hub (default: TOASTY_ADDRESS, else localhost:50053)")
    parser.add_argument("--agent-id", default="backup-cleaner", help="who asks, as the person sees it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # shows the question's id
    folder = args.folder or demo_folder()

    # The same as writing `@toasty_client.require_approval(timeout=...)` above `def delete_old_backups`;
    # here the options come from the command line.
    guarded = toasty_client.require_approval(timeout=args.timeout, address=args.address, agent_id=args.agent_id)(
        delete_old_backups
    )
    print(f"asking the person before deleting backups older than {args.days} days in {folder}", flush=True)
    try:
        deleted = guarded(folder, args.days)
    except ApprovalDenied as denied:
        print(f"nothing deleted: {denied} (outcome {denied.outcome})")
        return 2 if denied.outcome == "timed_out" else 1
    except ToastyError as exc:  # ServerUnavailable: no hub at the address; the function did not run
        print(f"nothing deleted: {exc}", file=sys.stderr)
        return 3
    print(f"allowed: deleted {len(deleted)} backups: {', '.join(deleted) or 'none'}")
    print(f"left in {folder}: {', '.join(sorted(p.name for p in folder.iterdir())) or 'nothing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
