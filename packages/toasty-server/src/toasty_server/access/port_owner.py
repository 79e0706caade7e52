"""Who holds a TCP port, so that a hub refused its port can name the holder (Linux: /proc).

The kernel lists listening sockets in /proc/net/tcp{,6} with their inode; the process that has that
inode among its file descriptors is the holder. Processes of other users are not readable without
privileges: then only "another process" can be said.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LISTEN_STATE = "0A"
PROC = Path("/proc")


def port_owner(port: int) -> str | None:
    """'pid 1234 (toasty-server)' for the process listening on `port`, or None when it cannot be told."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    for pid_dir in PROC.iterdir():
        if not pid_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (pid_dir / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        return f"pid {pid_dir.name} ({_command_name(pid_dir)})"
    return None


def _listening_inodes(port: int) -> set[str]:
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == LISTEN_STATE and int(local.rsplit(":", 1)[1], 16) == port:
                    found.add(inode)
    return found


def _command_name(pid_dir: Path) -> str:
    """The holder's command line (its first words), tidied for one log line."""
    try:
        words = (pid_dir / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "unknown command"
    text = " ".join(w.decode(errors="replace") for w in words[:4] if w)
    return "".join(c if c.isprintable() else "?" for c in text)[:120] or "unknown command"
