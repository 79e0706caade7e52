"""Starting a real PostgreSQL server of one's own (initdb in a temporary folder, a loopback port): what the
tests' `postgres` fixture (tests/postgres.py) and the benchmark's hubs shape share. No pytest here: the
benchmark's environment has none.

The binaries come from PATH or Debian's /usr/lib/postgresql/*/bin. PostgreSQL refuses to run as root, so as
root the server runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
import uuid
from pathlib import Path

APT_PACKAGE = "postgresql"


def find_binary(name: str) -> str | None:
    """A PostgreSQL program from PATH, else the newest of Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def create_database(admin_url: str, prefix: str) -> str:
    """A new empty database named `<prefix>_<random>` on the server of `admin_url`; its URL."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL will not run as root: run it as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start_cluster(directory: Path, port: int, *, durable: bool) -> subprocess.Popen[bytes]:
    """initdb in `directory`/data (owned by the `postgres` user when root), then the server on 127.0.0.1:`port`,
    its socket and log (postgres.log) in `directory`. Not `durable`: fsync, synchronous commit and full page
    writes off (a test database need not survive a power loss). RuntimeError when a step fails."""
    initdb, postgres = find_binary("initdb"), find_binary("postgres")
    if initdb is None or postgres is None:
        raise RuntimeError(f"PostgreSQL is not installed: apt-get install -y {APT_PACKAGE}")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
    data = directory / "data"
    # --no-sync: initdb's own flush of the new cluster (the server's settings decide durability)
    init = [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
    done = subprocess.run(as_postgres(init), capture_output=True, text=True, timeout=120, check=False)
    if done.returncode:
        raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr[-2000:]}")
    args = [postgres, "-D", str(data), "-p", str(port), "-k", str(directory), "-c", "listen_addresses=127.0.0.1"]
    if not durable:
        args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    with (directory / "postgres.log").open("wb") as log:
        return subprocess.Popen(as_postgres(args), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path, within: float = 30.0) -> None:
    """Until the server at `url` takes connections; RuntimeError with its log's tail if it exits first."""
    import psycopg

    deadline = time.monotonic() + within
    while True:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise RuntimeError(f"PostgreSQL exited ({process.returncode}):\n{tail}")
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
