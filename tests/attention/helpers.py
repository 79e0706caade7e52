"""What the attention tests share: waiting for a condition, and the `toasty` command against a hub."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

TOASTY = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]


async def wait_for(check: Callable[[], object], within: float = 6.0) -> None:
    """Poll `check()` until it is truthy; TimeoutError after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {within} s")
        await asyncio.sleep(0.05)


def toasty(address: str, *args: str) -> str:
    """Run the `toasty` command against the hub at `address`; its stdout (it must succeed)."""
    out = subprocess.run([*TOASTY, *args, "--address", address], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()
