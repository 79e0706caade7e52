"""SQLite store: the embedded default, durable across restarts and crashes of the server process.

WAL mode; one writer thread commits whole batches (the broker batches concurrent publishes, so one
fsync covers many); reads run on their own connections in another thread. The event loop never waits
on SQLite directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from toasty_server.store.base import Ask, LogEntry, StoreCorrupt, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# "Tsty": marks the file as Toasty's, so a foreign SQLite file is refused instead of modified.
APPLICATION_ID = 0x54737479
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    published_at REAL NOT NULL,
    notification_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    publisher TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS log_by_target ON log (target, seq);
CREATE INDEX IF NOT EXISTS log_by_time ON log (published_at);
CREATE INDEX IF NOT EXISTS log_by_idempotency ON log (publisher, idempotency_key) WHERE idempotency_key != '';
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS asks (
    notification_id TEXT PRIMARY KEY,
    publisher TEXT NOT NULL,
    published_at REAL NOT NULL,
    deadline REAL NOT NULL,
    button_ids TEXT NOT NULL,
    input_ids TEXT NOT NULL,
    outcome BLOB,
    owner_key TEXT NOT NULL DEFAULT ''
);
"""
# Columns added after the first release, for databases created before them: (table, column, definition).
_ADDED_COLUMNS = (("asks", "owner_key", "TEXT NOT NULL DEFAULT ''"),)

_READ_AFTER = """
SELECT seq, target, published_at, notification_id, payload, publisher, idempotency_key FROM (
    SELECT * FROM (SELECT * FROM log WHERE target = '' AND seq > :after ORDER BY seq LIMIT :limit)
    UNION ALL
    SELECT * FROM (SELECT * FROM log WHERE target = :client AND seq > :after ORDER BY seq LIMIT :limit)
) ORDER BY seq LIMIT :limit
"""

_COLUMNS = "seq, target, published_at, notification_id, payload, publisher, idempotency_key"
_RECENT = f"SELECT {_COLUMNS} FROM log ORDER BY seq DESC LIMIT ?"
_ENTRIES_FOR = f"SELECT {_COLUMNS} FROM log WHERE notification_id = ? ORDER BY seq"

# The byte rule of prune in one pass, without loading payloads: a running sum of payload sizes from the
# newest entry down (length() of a blob reads its size from the record header, not its pages) gives the
# newest sequence to remove (with everything older) and the payload bytes then left. The newest entry
# (n = 1) always stays (see Store.prune).
_BYTE_CUT = """
SELECT MAX(CASE WHEN kept > :max_bytes AND n > 1 THEN seq END),
       COALESCE(MAX(CASE WHEN kept <= :max_bytes OR n = 1 THEN kept END), 0)
FROM (
    SELECT seq, SUM(length(payload)) OVER newest_first AS kept, ROW_NUMBER() OVER newest_first AS n
    FROM log WINDOW newest_first AS (ORDER BY seq DESC ROWS UNBOUNDED PRECEDING)
)
"""
_NO_BYTE_BOUND = 2**63 - 1  # SQLite's largest integer


class SQLiteStore:
    """Delivery log in one SQLite file."""

    name = "sqlite"

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self._path = path
        self._synchronous = synchronous
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toasty-sqlite-write")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toasty-sqlite-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.log_id = ""  # read from the file by open()
        self.payload_bytes = 0  # summed by open(), then kept by the writer thread (append, prune)

    @property
    def path(self) -> Path:
        return self._path

    async def open(self) -> int:
        return await self._run(self._writer, self._open_sync)

    async def append(self, entries: Sequence[LogEntry]) -> None:
        await self._run(self._writer, self._append_sync, entries)

    async def read_after(self, client_id: str, after: int, limit: int) -> list[LogEntry]:
        return await self._run(self._reader, self._read_after_sync, client_id, after, limit)

    async def oldest_sequence(self) -> int:
        return await self._run(self._reader, self._scalar_sync, "SELECT COALESCE(MIN(seq), 0) FROM log")

    async def prune(self, max_entries: int, older_than: float, max_bytes: int | None = None) -> int:
        return await self._run(self._writer, self._prune_sync, max_entries, older_than, max_bytes)

    async def pending_asks(self) -> list[Ask]:
        return await self._run(self._reader, self._pending_asks_sync)

    async def ask_outcome(self, notification_id: str) -> tuple[Ask, bytes | None] | None:
        return await self._run(self._reader, self._ask_outcome_sync, notification_id)

    async def find_idempotent(self, publisher: str, key: str) -> tuple[str, int] | None:
        return await self._run(self._reader, self._find_idempotent_sync, publisher, key)

    async def recent(self, limit: int) -> list[LogEntry]:
        return await self._run(self._reader, self._select_sync, _RECENT, (max(0, limit),))

    async def entries_for(self, notification_id: str) -> list[LogEntry]:
        # No index on notification_id (it would slow every write): a scan, for occasional look-ups only.
        return await self._run(self._reader, self._select_sync, _ENTRIES_FOR, (notification_id,))

    async def close(self) -> None:
        await self._run(self._writer, self._checkpoint_sync)
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # -- executor side -------------------------------------------------------------------------------

    async def _run(self, executor: ThreadPoolExecutor, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=5.0)
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _open_sync(self) -> int:
        """Check the file without writing to it, then (and only then) set it up: a foreign, newer or
        damaged file is refused exactly as it was found."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the folder for {self._path}: {exc.strerror}") from exc
        try:
            conn = self._conn()
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables and app_id != APPLICATION_ID:
                raise StoreCorrupt(
                    f"{self._path} is an SQLite database of another program (application_id {app_id:#x}); "
                    "Toasty will not modify it. Point TOASTY_DB_PATH at another file."
                )
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreCorrupt(
                    f"{self._path} was written by a newer Toasty (schema {version} > {SCHEMA_VERSION}); upgrade."
                )
            check = conn.execute("PRAGMA quick_check").fetchone()[0] if tables else "ok"
            if check != "ok":
                raise StoreCorrupt(f"{self._path} is damaged ({check}); move it away to start afresh.")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            for table, column, definition in _ADDED_COLUMNS:
                if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            # this file's log id, made once: a new (or another) file is another log, whatever its sequences
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('log_id', ?)", (uuid.uuid4().hex,))
            self.log_id = str(conn.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()[0])
            self.payload_bytes = int(conn.execute("SELECT COALESCE(SUM(length(payload)), 0) FROM log").fetchone()[0])
            return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM log").fetchone()[0])
        except sqlite3.OperationalError as exc:  # cannot open or write (read-only, missing rights, locked)
            self._close_thread_connection()
            raise StoreUnavailable(f"cannot open {self._path}: {exc}{_read_only_hint(self._path)}") from exc
        except sqlite3.DatabaseError as exc:
            self._close_thread_connection()
            raise StoreCorrupt(f"{self._path} is not a usable Toasty database ({exc}); it was left as is.") from exc
        except StoreCorrupt:
            self._close_thread_connection()  # closed, SQLite removes the -wal and -shm files it created
            raise

    def _close_thread_connection(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            self._connections.remove(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def _append_sync(self, entries: Sequence[LogEntry]) -> None:
        conn = self._conn()
        try:
            with _transaction(conn):
                conn.executemany(
                    "INSERT INTO log (seq, target, published_at, notification_id, payload, publisher, idempotency_key)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            e.sequence,
                            e.target,
                            e.published_at,
                            e.notification_id,
                            e.payload,
                            e.publisher,
                            e.idempotency_key,
                        )
                        for e in entries
                    ],
                )
                asks = [(e.ask, e.published_at) for e in entries if e.ask is not None]
                if asks:
                    conn.executemany(
                        "INSERT OR REPLACE INTO asks (notification_id, publisher, published_at, deadline, button_ids,"
                        " input_ids, owner_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [
                            (
                                a.notification_id,
                                a.publisher,
                                at,
                                a.deadline,
                                json.dumps(a.button_ids),
                                json.dumps(a.input_ids),
                                a.owner_key,
                            )
                            for a, at in asks
                        ],
                    )
                outcomes = [(e.outcome, e.notification_id) for e in entries if e.outcome is not None]
                if outcomes:
                    conn.executemany(
                        "UPDATE asks SET outcome = ? WHERE notification_id = ? AND outcome IS NULL", outcomes
                    )
            self.payload_bytes += sum(len(e.payload) for e in entries)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"could not write to {self._path}: {exc}") from exc

    def _read_after_sync(self, client_id: str, after: int, limit: int) -> list[LogEntry]:
        rows = self._conn().execute(_READ_AFTER, {"after": after, "limit": limit, "client": client_id})
        return [LogEntry(*row) for row in rows]

    def _select_sync(self, sql: str, parameters: tuple[object, ...]) -> list[LogEntry]:
        return [LogEntry(*row) for row in self._conn().execute(sql, parameters)]

    def _scalar_sync(self, sql: str) -> int:
        return int(self._conn().execute(sql).fetchone()[0])

    def _prune_sync(self, max_entries: int, older_than: float, max_bytes: int | None) -> int:
        conn = self._conn()
        with _transaction(conn):
            by_count = conn.execute(
                "DELETE FROM log WHERE seq <= (SELECT seq FROM log ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (max_entries,),
            ).rowcount
            by_age = conn.execute("DELETE FROM log WHERE published_at < ?", (older_than,)).rowcount
            conn.execute("DELETE FROM asks WHERE published_at < ?", (older_than,))
            bound = _NO_BYTE_BOUND if max_bytes is None else max_bytes
            cut, kept = conn.execute(_BYTE_CUT, {"max_bytes": bound}).fetchone()
            by_bytes = 0 if cut is None else conn.execute("DELETE FROM log WHERE seq <= ?", (cut,)).rowcount
        self.payload_bytes = int(kept)
        if by_bytes:
            log.debug("%d entries removed to bring the log's payloads under %d bytes", by_bytes, bound)
        return int(by_count + by_age + by_bytes)

    def _pending_asks_sync(self) -> list[Ask]:
        rows = self._conn().execute(
            "SELECT notification_id, publisher, deadline, button_ids, input_ids, owner_key FROM asks"
            " WHERE outcome IS NULL"
        )
        return [_ask(*row) for row in rows]

    def _ask_outcome_sync(self, notification_id: str) -> tuple[Ask, bytes | None] | None:
        row = (
            self._conn()
            .execute(
                "SELECT notification_id, publisher, deadline, button_ids, input_ids, owner_key, outcome FROM asks"
                " WHERE notification_id = ?",
                (notification_id,),
            )
            .fetchone()
        )
        return None if row is None else (_ask(*row[:6]), row[6])

    def _find_idempotent_sync(self, publisher: str, key: str) -> tuple[str, int] | None:
        row = (
            self._conn()
            .execute(
                "SELECT notification_id, seq FROM log WHERE publisher = ? AND idempotency_key = ? ORDER BY seq LIMIT 1",
                (publisher, key),
            )
            .fetchone()
        )
        return None if row is None else (str(row[0]), int(row[1]))

    def _checkpoint_sync(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _read_only_hint(path: Path) -> str:
    """Say so when the file or its folder cannot be written (SQLite only says "unable to open")."""
    for target in (path, path.parent):
        if target.exists() and not os.access(target, os.W_OK):
            return f" ({target} is read-only: make it writable or point TOASTY_DB_PATH elsewhere)"
    return ""


def _ask(notification_id: str, publisher: str, deadline: float, buttons: str, inputs: str, owner_key: str) -> Ask:
    return Ask(notification_id, publisher, deadline, tuple(json.loads(buttons)), tuple(json.loads(inputs)), owner_key)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
