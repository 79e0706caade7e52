"""File-watcher agent: a toast when a file appears or changes in a folder.

Images (png, jpg, gif, bmp, webp) become ImageText toasts showing the picture; anything else a Text
toast with the name and size. It polls the folder (portable, no extra dependency) and remembers what
it has seen by name, size and modification time.

    hatch run python examples/file_watcher_agent.py --folder ~/Downloads
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from toasty_client import Image, ImageTextNotification, Placement, ResilientNotificationClient, TextNotification

log = logging.getLogger("file_watcher_agent")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}

Snapshot = dict[str, tuple[int, int]]  # name -> (size, mtime ns)


def snapshot(folder: Path) -> Snapshot:
    with os.scandir(folder) as entries:
        return {e.name: (e.stat().st_size, e.stat().st_mtime_ns) for e in entries if e.is_file()}


def changes(before: Snapshot, after: Snapshot) -> list[tuple[str, str]]:
    """(name, "new" | "changed") in name order."""
    out = []
    for name in sorted(after):
        if name not in before:
            out.append((name, "new"))
        elif before[name] != after[name]:
            out.append((name, "changed"))
    return out


def notification_for(path: Path, change: str) -> TextNotification:
    size = path.stat().st_size
    title = f"{'New' if change == 'new' else 'Changed'}: {path.name}"[:256]
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageTextNotification(
            title=title,
            line1=f"{size:,} bytes in {path.parent}",
            image=Image(source=str(path.resolve()), placement=Placement.HERO, alt_text=path.name),
        )
    return TextNotification(title=title, line1=f"{size:,} bytes in {path.parent}")


async def run(folder: Path, interval: float, announce_existing: bool, rounds: int | None) -> None:
    seen: Snapshot = {} if announce_existing else snapshot(folder)
    async with ResilientNotificationClient(agent_id="file-watcher") as toasty:
        while rounds is None or rounds > 0:
            current = snapshot(folder)
            for name, change in changes(seen, current):
                await toasty.publish(notification_for(folder / name, change))
                log.info("%s file %s", change, name)
            seen = current
            if rounds is not None:
                rounds -= 1
            await asyncio.sleep(interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between scans")
    parser.add_argument("--announce-existing", action="store_true", help="also announce files already there")
    parser.add_argument("--rounds", type=int, help="stop after this many scans (default: run forever)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    asyncio.run(run(args.folder, args.interval, args.announce_existing, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
