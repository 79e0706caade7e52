"""Promise 3: a corrupt or foreign SQLite file at start-up stops the real `toasty-server` process with a
non-zero exit and a message naming the file, and the file is left exactly as it was."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.faults import Server, run_to_exit
from tests.reliability.scenarios import client
from toasty_client import TextNotification


async def toasty_database(path: Path, publishes: int = 300) -> None:
    """A real Toasty database written by a real server, stopped cleanly (WAL checkpointed)."""
    server = Server(path, log_path=path.with_suffix(".log"))
    server.start()
    try:
        async with client(server.address, "writer") as pub:
            for i in range(publishes):
                await pub.publish(TextNotification(title=f"entry {i}", line1="x" * 200), skip_toast=True)
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
    finally:
        server.stop()


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def foreign_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
        conn.executemany("INSERT INTO invoices (amount) VALUES (?)", [(i * 1.5,) for i in range(100)])
    conn.close()


def damaged_pages(path: Path) -> None:
    """Garbage over a few pages in the middle of a real Toasty database (header intact)."""
    data = bytearray(path.read_bytes())
    page = 4096
    middle = (len(data) // page // 2) * page
    data[middle : middle + 3 * page] = os.urandom(3 * page)
    path.write_bytes(bytes(data))


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def newer_schema(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()


def a_directory(path: Path) -> None:
    path.mkdir()


DAMAGED = ("not a usable Toasty database", "is damaged")
CASES: dict[str, tuple[bool, Callable[[Path], None], tuple[str, ...]]] = {
    # name: (start from a real Toasty database?, damage, what the message says besides the path: one of)
    "random bytes": (False, random_bytes, DAMAGED),
    "foreign SQLite database": (False, foreign_database, ("database of another program",)),
    "damaged pages": (True, damaged_pages, DAMAGED),
    "truncated file": (True, truncated, DAMAGED),
    "newer schema": (True, newer_schema, ("newer Toasty",)),
    "a directory": (False, a_directory, ("cannot open",)),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_bad_database_stops_start_up_and_is_left_alone(case: str, tmp_path: Path) -> None:
    """`toasty-server` on this file exits non-zero within seconds, names the file and the problem, and
    changes nothing: the file's bytes are the same and no journal or WAL is left beside it."""
    real_toasty, damage, expected = CASES[case]
    db = tmp_path / "data" / "toasty.db"
    db.parent.mkdir()
    if real_toasty:
        await toasty_database(db)
        for leftover in db.parent.glob("toasty.log"):
            leftover.unlink()
    damage(db)
    before = fingerprint(db.parent)

    code, output = run_to_exit(Server(db).command(), timeout=30)

    assert code != 0, output
    assert str(db) in output, output
    assert any(words in output for words in expected), output
    assert "Traceback" not in output, output
    assert fingerprint(db.parent) == before, f"{case}: start-up changed the folder:\n{output}"


def fingerprint(folder: Path) -> dict[str, str]:
    """name → sha256 (or "dir") of everything in folder."""
    return {
        p.name: "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
    }
