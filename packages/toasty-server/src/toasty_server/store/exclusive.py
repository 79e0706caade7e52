"""One hub per database: an exclusive lock on the database's folder, held for the server's life.

Two hubs writing one SQLite log would hand out the same sequence numbers and lose deliveries, so a
single-hub store is guarded by an OS file lock (`flock` on POSIX, `msvcrt.locking` on Windows) on
`<folder>/toasty-server.lock`. The OS drops the lock when the process dies, even on kill -9, so a stale
file never blocks a restart. The file holds who has it (pid, address, start time) so that a second hub
can say whom it met, and is removed when the hub stops (a hub that took the lock on a file another one
was removing checks the inode and tries again).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

LOCK_NAME = "toasty-server.lock"
ATTEMPTS = 5


class HubLockError(OSError):
    """Another hub holds the folder's lock."""


class HubLock:
    """The held lock; `describe` records the listening address once it is known."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle: IO[str] | None = handle

    @classmethod
    def acquire(cls, folder: Path) -> HubLock:
        """Raises HubLockError when another hub holds it, OSError when the file cannot be made."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / LOCK_NAME
        for _ in range(ATTEMPTS):
            handle = path.open("a+", encoding="utf-8")
            cls._lock_or_refuse(folder, path, handle)
            if _same_file(handle, path):
                lock = cls(path, handle)
                lock.describe("")
                return lock
            handle.close()  # locked a file its holder removed while we opened it: take the new one
        raise HubLockError(f"could not take the lock {path}: it keeps being replaced; is another hub starting?")

    @staticmethod
    def _lock_or_refuse(folder: Path, path: Path, handle: IO[str]) -> None:
        try:
            _lock(handle)
        except OSError:
            content = ""
            with contextlib.suppress(OSError):  # Windows refuses reads of a locked range
                handle.seek(0)
                content = handle.read()
            handle.close()
            holder = _holder_text(content)
            raise HubLockError(
                f"another toasty-server ({holder}) already uses the database folder {folder} "
                f"(lock {path}); stop it, or give this one its own TOASTY_DATA_DIR / TOASTY_DB_PATH"
            ) from None

    def describe(self, address: str) -> None:
        """Write the holder's pid and address into the lock file (read by a hub that is refused)."""
        if self._handle is None:
            return
        record = {"pid": os.getpid(), "address": address, "started_unix": int(time.time())}
        try:
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.write(json.dumps(record))
            self._handle.flush()
        except OSError as exc:  # a full disk: the lock holds all the same, only the holder's note is missing
            log.warning("could not note this hub in %s: %s", self.path, exc.strerror)

    def release(self) -> None:
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still locked: a hub that opened it meanwhile sees the inode change
        with contextlib.suppress(OSError):
            _unlock(self._handle)
        self._handle.close()
        self._handle = None


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


def _holder_text(content: str) -> str:
    """'pid 123, listening on 127.0.0.1:50053' from the lock file, or what little is known."""
    try:
        record = json.loads(content)
        pid, address = int(record["pid"]), str(record.get("address") or "")
    except (ValueError, KeyError, TypeError):
        return "pid unknown"
    return f"pid {pid}, listening on {address}" if address else f"pid {pid}, starting"


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
