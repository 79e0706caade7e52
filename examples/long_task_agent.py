"""Long-task agent: one Progress toast updated in place while it works, then success or failure.

`progress()` publishes with the same key each time, so the desktop shows one bar that moves (Windows
updates the toast's data binding; Linux replaces the notification in place). If the work raises, the
bar ends as failed with the error as its status.

    hatch run python examples/long_task_agent.py --files 20
    hatch run python examples/long_task_agent.py --files 20 --fail-at 12   # see the failure path
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from toasty_client import ResilientNotificationClient

log = logging.getLogger("long_task_agent")


class CopyFailed(Exception):
    pass


async def run(files: int, fail_at: int | None, delay: float) -> int:
    async with ResilientNotificationClient(agent_id="long-task") as toasty:
        try:
            async with toasty.progress("Backing up photos", key="backup-photos", caption="nightly backup") as bar:
                for n in range(1, files + 1):
                    await asyncio.sleep(delay)  # stand-in for copying one file
                    if n == fail_at:
                        raise CopyFailed(f"disk full after {n - 1} of {files} files")
                    await bar.update(n / files, status=f"{n} of {files} files", value_override=f"{n}/{files}")
        except CopyFailed as exc:
            log.error("backup failed: %s", exc)
            return 1
    log.info("backup done: %d files", files)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--fail-at", type=int, help="simulate a failure at this file")
    parser.add_argument("--delay", type=float, default=0.3, help="seconds per file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    return asyncio.run(run(args.files, args.fail_at, args.delay))


if __name__ == "__main__":
    raise SystemExit(main())
