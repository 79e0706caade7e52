"""Promise 2: when the SQLite file cannot be written (disk full), publishes are refused with UNAVAILABLE
naming the file, never acknowledged and then lost; the server stays up and recovers when space returns."""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path

from tests.reliability import scenarios
from tests.reliability.faults import Server, SmallDisk, run_to_exit
from toasty_client import TextNotification


async def test_full_disk_refuses_publishes_and_recovers(tmp_path: Path) -> None:
    """A real tmpfs holding the database fills up (ENOSPC) twice while a subscriber reads: each time
    publishes are refused with UNAVAILABLE naming the file, none of the refused ones is ever delivered,
    every acknowledged one is, the server stays up and accepts publishes again once the filler file is
    deleted, and after a kill -9 a new subscriber still reads everything acknowledged."""
    report = await scenarios.disk_full(tmp_path, cycles=2)
    print(report.describe())
    assert report.ok, report.describe()
    assert report.verdict.refused >= 2


async def test_read_only_database_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    """A database on a filesystem that is read-only (remounted, or without write permission when not
    root): `toasty-server` exits non-zero saying the file is read-only and naming it, and leaves the
    file as it was; once writable again, the server starts on it with its log intact."""
    disk = SmallDisk.mount(tmp_path / "disk", 4 * 2**20)
    folder = disk.mountpoint if disk is not None else tmp_path / "data"
    folder.mkdir(exist_ok=True)
    server = Server(folder / "toasty.db", log_path=tmp_path / "server.log")
    try:
        server.start()
        async with scenarios.client(server.address, "pub") as pub:
            kept = await pub.publish(TextNotification(title="kept"))
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
        before = fingerprint(folder)
        if disk is not None:
            disk.read_only(True)
        else:
            server.db_path.chmod(0o444)
            folder.chmod(0o555)

        code, output = run_to_exit(server.command())
        assert code != 0, output
        assert str(server.db_path) in output, output
        assert "read-only" in output, output
        assert fingerprint(folder) == before, "the read-only start changed files"

        if disk is not None:
            disk.read_only(False)
        else:
            folder.chmod(0o755)
            server.db_path.chmod(0o644)
        server.start()
        async with scenarios.client(server.address, "reader") as reader:
            assert (await reader.status()).last_sequence == kept.sequence
    finally:
        server.stop()
        if disk is not None:
            disk.unmount()


def fingerprint(folder: Path) -> dict[str, tuple[int, str]]:
    """name → (size, sha256) of every file in folder."""
    return {p.name: (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()) for p in sorted(folder.iterdir())}
