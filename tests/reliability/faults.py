"""Real faults for the reliability tests and the soak command: processes, memory, network, disk.

Everything here acts on real things: a `toasty-server` child process killed with SIGKILL, its resident
memory read from /proc, a loopback TCP proxy that resets connections, a tmpfs that runs out of space.
Nothing is mocked inside the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.core.process import ServerProcess

# No rate limit (these tests publish far faster than an agent should), metrics on a free port (several
# servers run at once), no desktop: the faults under test are in the log and the streams.
SERVER_ENV = {
    "TOASTY_RATE_LIMIT": "0",
    "TOASTY_CALL_RATE_LIMIT": "0",
    "TOASTY_METRICS_PORT": "0",
    "TOASTY_SHUTDOWN_GRACE_SECONDS": "1",
    "PYTHONUNBUFFERED": "1",
}


class Server(ServerProcess):
    """A `toasty-server` child process with extra settings, its memory readable, its log kept apart.

    Crashes are counted: `crashes` is how many times the process was found dead without our kill.
    """

    renderer = "none"

    def __init__(
        self,
        db_path: Path,
        *extra: str,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(db_path, port, *extra, env={**SERVER_ENV, **(env or {})})
        if log_path is not None:
            self.log_path = log_path
        self.kills = 0
        self.crashes = 0
        self.peak_rss = 0

    def start(self, timeout: float = 20.0) -> None:
        super().start(timeout)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        """Count a crash if the process died without being killed by us."""
        if self.proc is not None and self.proc.poll() is not None:
            self.crashes += 1
            raise AssertionError(f"toasty-server died (exit {self.proc.returncode}):\n{self.log()[-4000:]}")

    def rss(self) -> int:
        """Resident memory now, in bytes (and remember the peak)."""
        value = proc_status(self.pid, "VmRSS")
        self.peak_rss = max(self.peak_rss, proc_status(self.pid, "VmHWM"), value)
        return value

    def kill(self) -> None:
        """kill -9 (no flush, no goodbye); a process found already dead counts as a crash."""
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            self.crashes += 1
            self.proc = None
            return
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            self.peak_rss = max(self.peak_rss, proc_status(self.pid, "VmHWM"))
        self.proc.kill()
        self.proc.wait(10)
        self.kills += 1

    def stop(self) -> None:
        """Stop at the end of a test: SIGKILL if still running (not counted as a fault)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                self.peak_rss = max(self.peak_rss, proc_status(self.pid, "VmHWM"))
            self.proc.kill()
            self.proc.wait(10)


def proc_status(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def run_to_exit(args: list[str], env: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, str]:
    """Run a command to its end; its exit code and combined output."""
    done = subprocess.run(
        args, env={**os.environ, **SERVER_ENV, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    return done.returncode, done.stdout + done.stderr


# -- network ---------------------------------------------------------------------------------------


class TcpProxy:
    """A loopback TCP proxy in front of the server: cut every connection with a reset, refuse new ones.

    `attempts` records the time of every connection a client opened, refused ones included: with the
    proxy refusing, it shows how often the clients retry (backoff) and how their retries spread (jitter).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.refusing = False
        self.attempts: list[float] = []
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> int:
        """Reset (RST) every open connection, both sides; returns how many were cut."""
        links = list(self._links)
        for writer in links:
            _reset(writer)
        self._links.clear()
        return len(links)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.attempts.append(time.monotonic())
        if self.refusing:
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            _reset(writer)
            return
        self._links.update((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._links.discard(dst)
            _reset(dst)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP reset, as when a network path dies."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# -- disk ------------------------------------------------------------------------------------------


class SmallDisk:
    """A real, small filesystem for the database: a tmpfs mounted by this (root) process.

    `fill()` writes a filler file until the kernel answers ENOSPC; `free()` deletes it. `read_only()`
    remounts it read-only (only possible while no file on it is open for writing, i.e. between server
    runs). Without the right to mount, `SmallDisk.mount` returns None and the caller falls back to
    `FileSizeLimit`.
    """

    def __init__(self, mountpoint: Path, size_bytes: int) -> None:
        self.mountpoint = mountpoint
        self.size_bytes = size_bytes
        self.filler = mountpoint / "filler.bin"
        self.kind = f"tmpfs of {size_bytes // 1024} KiB, filled until ENOSPC"

    @classmethod
    def mount(cls, mountpoint: Path, size_bytes: int) -> SmallDisk | None:
        mountpoint.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return None
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(mountpoint)],
            capture_output=True,
        )
        return cls(mountpoint, size_bytes) if done.returncode == 0 else None

    def fill(self) -> int:
        """Write zeros until the kernel says ENOSPC (down to the last free byte); returns bytes written."""
        written = 0
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (65536, 4096, 512, 1):
                while written < self.size_bytes * 2:
                    try:
                        written += os.write(fd, b"\0" * size)
                    except OSError:
                        break
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def read_only(self, on: bool) -> None:
        subprocess.run(["mount", "-o", f"remount,{'ro' if on else 'rw'}", str(self.mountpoint)], check=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True)


class FileSizeLimit:
    """Fallback without mount rights: RLIMIT_FSIZE on the server process (prlimit), real EFBIG from the
    kernel on any write that grows a file (Python ignores SIGXFSZ, so the process lives)."""

    kind = "RLIMIT_FSIZE on the server process (no right to mount a tmpfs)"

    def __init__(self, pid: int, files: list[Path]) -> None:
        self.pid = pid
        self.files = files

    def fill(self) -> int:
        largest = max((f.stat().st_size for f in self.files if f.exists()), default=0)
        # the soft limit only: lowering a hard limit could not be undone without privileges
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (largest, resource.RLIM_INFINITY))
        return 0

    def free(self) -> None:
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


@contextlib.contextmanager
def small_disk(mountpoint: Path, size_bytes: int) -> Iterator[SmallDisk | None]:
    disk = SmallDisk.mount(mountpoint, size_bytes)
    try:
        yield disk
    finally:
        if disk is not None:
            disk.unmount()
