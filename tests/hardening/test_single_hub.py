"""One hub per port and per database (issue 15, part 2): two real `toasty-server` processes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.core.process import ServerProcess, free_port


def refused(second: ServerProcess) -> str:
    """Run `second`, which must exit by itself with status 1 (its port may answer: the first hub's); its
    output."""
    run = subprocess.run(second.command(), capture_output=True, text=True, timeout=30, env={**os.environ, **second.env})
    assert run.returncode == 1, run.stderr
    return run.stderr


def test_a_second_hub_on_the_same_port_is_refused_and_names_the_holder(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = ServerProcess(tmp_path / "a" / "toasty.db")
    first.start()
    try:
        second = ServerProcess(tmp_path / "b" / "toasty.db", first.port)
        message = refused(second)
        assert first.proc is not None
        assert f"cannot listen on 127.0.0.1:{first.port}" in message
        assert f"already in use by pid {first.proc.pid}" in message
        assert first.proc.poll() is None  # the first hub goes on serving
    finally:
        first.kill()


def test_a_second_hub_on_the_same_database_is_refused_before_it_listens(tmp_path: Path) -> None:
    db = tmp_path / "shared" / "toasty.db"
    db.parent.mkdir()
    first = ServerProcess(db)
    first.start()
    try:
        first.wait_for_log("toasty listening")
        second = ServerProcess(db, free_port())
        message = refused(second)
        assert first.proc is not None
        assert f"pid {first.proc.pid}, listening on 127.0.0.1:{first.port}" in message
        assert str(db.parent) in message
        assert "TOASTY_DATA_DIR" in message
        assert "Traceback" not in message
    finally:
        first.kill()


def test_the_lock_dies_with_its_hub_so_a_restart_after_kill_9_starts(tmp_path: Path) -> None:
    db = tmp_path / "toasty.db"
    first = ServerProcess(db)
    first.start()
    first.kill()
    again = ServerProcess(db, free_port())
    again.start()
    again.kill()


def test_a_stopped_hub_frees_its_database_for_the_next(tmp_path: Path) -> None:
    import signal

    db = tmp_path / "toasty.db"
    first = ServerProcess(db)
    first.start()
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    nxt = ServerProcess(db, free_port())
    nxt.start()
    nxt.kill()
