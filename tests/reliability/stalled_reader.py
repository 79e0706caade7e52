"""A subscriber in its own process, to be frozen with SIGSTOP (a hung agent) and thawed with SIGCONT.

    python -m tests.reliability.stalled_reader ADDRESS CLIENT_ID EXPECTED TIMEOUT

Prints `ready` once its subscription delivered the first notification; then reads until it has seen
EXPECTED notifications (or TIMEOUT seconds passed) and prints one JSON line: how many, duplicates, order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time

from toasty_client import ResilientNotificationClient, RetryPolicy


async def main(address: str, client_id: str, expected: int, timeout: float) -> None:
    ids: list[str] = []
    sequences: list[int] = []
    retry = RetryPolicy(initial_backoff=0.05, max_backoff=0.5, jitter=0.1)
    async with ResilientNotificationClient(address, agent_id=client_id, retry=retry) as toasty:
        stream = toasty.subscribe(from_beginning=True)

        async def read() -> None:
            async for delivery in stream:
                if delivery.notification is None:
                    continue
                ids.append(delivery.notification.id)
                sequences.append(delivery.sequence)
                if len(ids) == 1:
                    print("ready", flush=True)
                if len(ids) >= expected:
                    return

        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(read(), timeout)
        result = {
            "count": len(set(ids)),
            "duplicates": len(ids) - len(set(ids)),
            "in_order": all(b > a for a, b in itertools.pairwise(sequences)),
            "seconds": round(time.monotonic() - started, 2),
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
