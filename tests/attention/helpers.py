"""What the attention tests share: the `toasty` command against a hub."""

from __future__ import annotations

import subprocess
import sys

TOASTY = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]


def toasty(address: str, *args: str) -> str:
    """Run the `toasty` command against the hub at `address`; its stdout (it must succeed)."""
    out = subprocess.run([*TOASTY, *args, "--address", address], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()
