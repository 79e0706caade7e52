"""PostgreSQL store: one log shared by several hubs (`TOASTY_STORE=postgres`, extra `toasty-server[postgres]`).

What makes several hubs one:
- **Sequences are commit order.** A hub does not choose sequences: `append_assigning` takes the counter
  row `FOR UPDATE` inside the appending transaction and numbers its entries from it. The row lock is
  held until commit, so whoever numbers next commits after this transaction: a reader that sees
  sequence N has every sequence below N too, and a subscriber resuming after N can never miss an entry
  that got a lower sequence but committed later.
- **The log is the source of truth; NOTIFY only wakes.** Each append NOTIFYs `toasty_log` with its last
  sequence (delivered on commit); every hub LISTENs and reads the log after what it has seen
  (`read_log_after`), in order. A lost NOTIFY costs latency, never an entry.
- **An ask is decided once.** An outcome entry is written only if it sets the ask's outcome where none
  was set (`UPDATE ... WHERE outcome IS NULL`), in the same transaction: the first answer through any hub
  wins, the others get None.
- **Jobs that must run once** (retention, question deadlines) take a session advisory lock on a connection
  of their own (`lead`); it is released when the hub dies, so another hub takes the job over.
- **Schema** created and migrated by the hub on start, versioned (`toasty_meta.schema_version`), under an
  advisory lock so two hubs starting together do not race.

psycopg 3 in async mode, with a connection pool for appends and reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from toasty_server.store.base import Ask, LogEntry, PendingEntry, StoreCorrupt, StoreUnavailable

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CHANNEL = "toasty_log"
_MIGRATION_LOCK = 0x54737479  # "Tsty": serialises schema set-up between hubs starting together
_LISTEN_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)

# version → statements that bring the schema from version-1 to it
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE toasty_counter (id INTEGER PRIMARY KEY CHECK (id = 1), last_seq BIGINT NOT NULL)",
        "INSERT INTO toasty_counter (id, last_seq) VALUES (1, 0)",
        """CREATE TABLE toasty_log (
            seq BIGINT PRIMARY KEY,
            target TEXT NOT NULL,
            published_at DOUBLE PRECISION NOT NULL,
            notification_id TEXT NOT NULL,
            payload BYTEA NOT NULL,
            publisher TEXT NOT NULL DEFAULT '',
            idempotency_key TEXT NOT NULL DEFAULT '',
            role SMALLINT NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX toasty_log_by_target ON toasty_log (target, seq)",
        # the attention budget of each agent, for the whole deployment: a leaky bucket per agent
        """CREATE TABLE toasty_budget (
            bucket TEXT PRIMARY KEY,
            level DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX toasty_log_by_time ON toasty_log (published_at)",
        "CREATE INDEX toasty_log_by_notification ON toasty_log (notification_id)",
        "CREATE INDEX toasty_log_by_idempotency ON toasty_log (publisher, idempotency_key) WHERE idempotency_key <> ''",
        """CREATE TABLE toasty_asks (
            notification_id TEXT PRIMARY KEY,
            publisher TEXT NOT NULL,
            published_at DOUBLE PRECISION NOT NULL,
            deadline DOUBLE PRECISION NOT NULL,
            button_ids TEXT NOT NULL,
            input_ids TEXT NOT NULL,
            outcome BYTEA,
            owner_key TEXT NOT NULL DEFAULT ''
        )""",
    ),
}

_COLUMNS = "seq, target, published_at, notification_id, payload, publisher, idempotency_key"
_READ_AFTER = f"""
SELECT {_COLUMNS} FROM (
    (SELECT * FROM toasty_log WHERE target = '' AND seq > %(after)s ORDER BY seq LIMIT %(limit)s)
    UNION ALL
    (SELECT * FROM toasty_log WHERE target = %(client)s AND seq > %(after)s ORDER BY seq LIMIT %(limit)s)
) AS both_ ORDER BY seq LIMIT %(limit)s
"""
_BYTE_CUT = """
SELECT MAX(CASE WHEN kept > %(max_bytes)s AND n > 1 THEN seq END),
       COALESCE(MAX(CASE WHEN kept <= %(max_bytes)s OR n = 1 THEN kept END), 0)
FROM (
    SELECT seq, SUM(octet_length(payload)) OVER newest_first AS kept, ROW_NUMBER() OVER newest_first AS n
    FROM toasty_log WINDOW newest_first AS (ORDER BY seq DESC ROWS UNBOUNDED PRECEDING)
) AS sizes
"""
_NO_BYTE_BOUND = 2**63 - 1
_NOW = "extract(epoch from clock_timestamp())"
_BUDGET_ROW = (
    f"INSERT INTO toasty_budget (bucket, level, updated_at) VALUES (%(bucket)s, 0, {_NOW}) ON CONFLICT DO NOTHING"
)
# one statement: drain by the time passed, then take one unit if it fits; returns (taken, level drained)
_BUDGET_SPEND = f"""
WITH drained AS (
    SELECT GREATEST(0, level - ({_NOW} - updated_at) * %(rate)s) AS level FROM toasty_budget
    WHERE bucket = %(bucket)s FOR UPDATE
), taken AS (
    UPDATE toasty_budget SET level = (SELECT level FROM drained) + 1, updated_at = {_NOW}
    WHERE bucket = %(bucket)s AND (SELECT level FROM drained) + 1 <= %(cap)s
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM taken), (SELECT level FROM drained)
"""
_INSERT_LOG = (
    "INSERT INTO toasty_log (seq, target, published_at, notification_id, payload, publisher, idempotency_key, role)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
# role of a log row: what else it did, so a hub following the log learns of asks and outcomes with it
PLAIN, REGISTERS_ASK, DECIDES_ASK = 0, 1, 2
_FOLLOW = f"""
SELECT l.seq, l.target, l.published_at, l.notification_id, l.payload, l.publisher, l.idempotency_key, l.role,
       a.publisher, a.deadline, a.button_ids, a.input_ids, a.owner_key, a.outcome
FROM toasty_log l LEFT JOIN toasty_asks a ON l.role <> {PLAIN} AND a.notification_id = l.notification_id
WHERE l.seq > %s ORDER BY l.seq LIMIT %s
"""
_INSERT_ASK = (
    "INSERT INTO toasty_asks (notification_id, publisher, published_at, deadline, button_ids, input_ids, owner_key)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (notification_id) DO NOTHING"
)
_SET_OUTCOME = "UPDATE toasty_asks SET outcome = %s WHERE notification_id = %s AND outcome IS NULL"


class PostgresStore:
    """The delivery log in one PostgreSQL database, shared by every hub pointed at it."""

    name = "postgres"
    shared = True  # several hubs: the broker lets this store number entries and follows its changes

    def __init__(self, url: str, *, pool_size: int = 8, connect_timeout: float = 10.0) -> None:
        self._url = url
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._leaders: dict[str, psycopg.AsyncConnection[TupleRow]] = {}
        self._on_change: Callable[[int], None] = lambda sequence: None
        self.log_id = ""
        self.payload_bytes = 0

    def on_change(self, callback: Callable[[int], None]) -> None:
        """`callback(last sequence)` when any hub appended (0: read anyway, after a lost LISTEN connection)."""
        self._on_change = callback

    # -- lifecycle ------------------------------------------------------------------------------------

    async def open(self) -> int:
        self._pool = AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=self._pool_size,
            open=False,
            timeout=self._connect_timeout,
            kwargs={"autocommit": True},
            name="toasty",
        )
        try:
            await self._pool.open(wait=True, timeout=self._connect_timeout)
        except Exception as exc:
            await self._pool.close()
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {_safe_url(self._url)}: {exc}") from exc
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                await self._migrate(conn)
                await conn.execute(
                    "INSERT INTO toasty_meta (key, value) VALUES ('log_id', %s) ON CONFLICT (key) DO NOTHING",
                    (uuid.uuid4().hex,),
                )
                self.log_id = str(await _scalar(conn, "SELECT value FROM toasty_meta WHERE key = 'log_id'"))
                self.payload_bytes = int(
                    await _scalar(conn, "SELECT COALESCE(SUM(octet_length(payload)), 0) FROM toasty_log")
                )
                last = int(await _scalar(conn, "SELECT last_seq FROM toasty_counter WHERE id = 1"))
        except psycopg.Error as exc:
            await self._pool.close()
            raise StoreUnavailable(f"cannot set up the Toasty schema in PostgreSQL: {exc}") from exc
        self._listener = asyncio.create_task(self._listen(), name="toasty-postgres-listen")
        return last

    async def _migrate(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        await conn.execute("CREATE TABLE IF NOT EXISTS toasty_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        found = await _scalar(conn, "SELECT value FROM toasty_meta WHERE key = 'schema_version'")
        version = int(found) if found is not None else 0
        if version > SCHEMA_VERSION:
            raise StoreCorrupt(
                f"the database was set up by a newer Toasty (schema {version} > {SCHEMA_VERSION}); upgrade this hub"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[target]:
                await conn.execute(statement)
            log.info("PostgreSQL schema migrated to version %d", target)
        await conn.execute(
            "INSERT INTO toasty_meta (key, value) VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (str(SCHEMA_VERSION),),
        )

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for conn in self._leaders.values():
            with contextlib.suppress(Exception):
                await conn.close()
        self._leaders.clear()
        if self._pool is not None:
            await self._pool.close()

    # -- writing --------------------------------------------------------------------------------------

    async def append_assigning(self, pending: Sequence[PendingEntry]) -> list[LogEntry | None]:
        """Number, encode and store a batch in one transaction, in order. An outcome for an ask that is
        already decided is not stored (None in its place) and takes no sequence."""
        try:
            async with self._connection() as conn, conn.transaction():
                cursor = await conn.execute("SELECT last_seq FROM toasty_counter WHERE id = 1 FOR UPDATE")
                row = await cursor.fetchone()
                sequence = int(row[0]) if row is not None else 0
                stored: list[LogEntry | None] = []
                for p in pending:
                    if p.outcome is not None:
                        decided = await conn.execute(_SET_OUTCOME, (p.outcome, p.notification_id))
                        if decided.rowcount != 1:
                            stored.append(None)  # decided through another hub first (or no longer retained)
                            continue
                    sequence += 1
                    entry = LogEntry(
                        sequence,
                        p.target,
                        p.published_at,
                        p.notification_id,
                        p.encode(sequence, p.published_at),
                        publisher=p.publisher,
                        idempotency_key=p.idempotency_key,
                        ask=p.ask,
                        outcome=p.outcome,
                    )
                    await self._insert(conn, entry)
                    stored.append(entry)
                await conn.execute("UPDATE toasty_counter SET last_seq = %s WHERE id = 1", (sequence,))
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(sequence)))
        except psycopg.Error as exc:
            raise StoreUnavailable(f"could not write to PostgreSQL: {exc}") from exc
        self.payload_bytes += sum(len(e.payload) for e in stored if e is not None)
        return stored

    async def append(self, entries: Sequence[LogEntry]) -> None:
        """Store entries numbered by the caller (the Store contract; hubs use `append_assigning`)."""
        if not entries:
            return
        try:
            async with self._connection() as conn, conn.transaction():
                await conn.execute("SELECT last_seq FROM toasty_counter WHERE id = 1 FOR UPDATE")
                for entry in entries:
                    await self._insert(conn, entry)
                    if entry.outcome is not None:
                        await conn.execute(_SET_OUTCOME, (entry.outcome, entry.notification_id))
                last = max(e.sequence for e in entries)
                await conn.execute("UPDATE toasty_counter SET last_seq = GREATEST(last_seq, %s) WHERE id = 1", (last,))
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(last)))
        except psycopg.Error as exc:
            raise StoreUnavailable(f"could not write to PostgreSQL: {exc}") from exc
        self.payload_bytes += sum(len(e.payload) for e in entries)

    async def _insert(self, conn: psycopg.AsyncConnection[TupleRow], e: LogEntry) -> None:
        role = REGISTERS_ASK if e.ask is not None else DECIDES_ASK if e.outcome is not None else PLAIN
        await conn.execute(
            _INSERT_LOG,
            (e.sequence, e.target, e.published_at, e.notification_id, e.payload, e.publisher, e.idempotency_key, role),
        )
        if e.ask is not None:
            a = e.ask
            await conn.execute(
                _INSERT_ASK,
                (
                    a.notification_id,
                    a.publisher,
                    e.published_at,
                    a.deadline,
                    json.dumps(a.button_ids),
                    json.dumps(a.input_ids),
                    a.owner_key,
                ),
            )

    async def prune(self, max_entries: int, older_than: float, max_bytes: int | None = None) -> int:
        bound = _NO_BYTE_BOUND if max_bytes is None else max_bytes
        try:
            async with self._connection() as conn, conn.transaction():
                by_count = await conn.execute(
                    "DELETE FROM toasty_log WHERE seq <= "
                    "(SELECT seq FROM toasty_log ORDER BY seq DESC LIMIT 1 OFFSET %s)",
                    (max_entries,),
                )
                by_age = await conn.execute("DELETE FROM toasty_log WHERE published_at < %s", (older_than,))
                await conn.execute("DELETE FROM toasty_asks WHERE published_at < %s", (older_than,))
                cursor = await conn.execute(_BYTE_CUT, {"max_bytes": bound})
                cut, kept = await cursor.fetchone() or (None, 0)
                removed = by_count.rowcount + by_age.rowcount
                if cut is not None:
                    removed += (await conn.execute("DELETE FROM toasty_log WHERE seq <= %s", (cut,))).rowcount
        except psycopg.Error as exc:
            raise StoreUnavailable(f"could not prune the PostgreSQL log: {exc}") from exc
        self.payload_bytes = int(kept)
        return int(removed)

    # -- reading --------------------------------------------------------------------------------------

    async def read_after(self, client_id: str, after: int, limit: int) -> list[LogEntry]:
        return await self._entries(_READ_AFTER, {"after": after, "limit": limit, "client": client_id})

    async def read_log_after(self, after: int, limit: int) -> list[LogEntry]:
        """Every entry after `after`, whatever its target, oldest first, with the ask it registers or the
        outcome it records: how a hub follows the others."""
        try:
            async with self._connection() as conn:
                cursor = await conn.execute(_FOLLOW, (after, limit))
                rows = await cursor.fetchall()
        except psycopg.Error as exc:
            raise StoreUnavailable(f"could not read the PostgreSQL log: {exc}") from exc
        return [_followed(row) for row in rows]

    async def last_sequence(self) -> int:
        async with self._connection() as conn:
            return int(await _scalar(conn, "SELECT last_seq FROM toasty_counter WHERE id = 1"))

    async def oldest_sequence(self) -> int:
        async with self._connection() as conn:
            return int(await _scalar(conn, "SELECT COALESCE(MIN(seq), 0) FROM toasty_log"))

    async def pending_asks(self) -> list[Ask]:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT notification_id, publisher, deadline, button_ids, input_ids, owner_key FROM toasty_asks"
                " WHERE outcome IS NULL ORDER BY published_at"
            )
            return [_ask(*row) for row in await cursor.fetchall()]

    async def ask_outcome(self, notification_id: str) -> tuple[Ask, bytes | None] | None:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT notification_id, publisher, deadline, button_ids, input_ids, owner_key, outcome"
                " FROM toasty_asks WHERE notification_id = %s",
                (notification_id,),
            )
            row = await cursor.fetchone()
        return None if row is None else (_ask(*row[:6]), None if row[6] is None else bytes(row[6]))

    async def find_idempotent(self, publisher: str, key: str) -> tuple[str, int] | None:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT notification_id, seq FROM toasty_log WHERE publisher = %s AND idempotency_key = %s"
                " ORDER BY seq LIMIT 1",
                (publisher, key),
            )
            row = await cursor.fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    async def recent(self, limit: int) -> list[LogEntry]:
        return await self._entries(f"SELECT {_COLUMNS} FROM toasty_log ORDER BY seq DESC LIMIT %s", (max(0, limit),))

    async def entries_for(self, notification_id: str) -> list[LogEntry]:
        return await self._entries(
            f"SELECT {_COLUMNS} FROM toasty_log WHERE notification_id = %s ORDER BY seq", (notification_id,)
        )

    # -- several hubs ---------------------------------------------------------------------------------

    async def spend(self, bucket: str, capacity: float, per_second: float) -> float | None:
        """Spend one unit of a leaky bucket shared by every hub (None), or say in how many seconds it has
        room. The database's clock drains it, so hubs whose clocks differ still agree."""
        try:
            async with self._connection() as conn, conn.transaction():
                await conn.execute(_BUDGET_ROW, {"bucket": bucket})
                cursor = await conn.execute(_BUDGET_SPEND, {"bucket": bucket, "cap": capacity, "rate": per_second})
                row = await cursor.fetchone()
        except psycopg.Error as exc:
            raise StoreUnavailable(f"could not read the attention budget in PostgreSQL: {exc}") from exc
        assert row is not None
        spent, level = bool(row[0]), float(row[1])
        return None if spent else max(level + 1 - capacity, 0.001) / per_second

    async def lead(self, job: str) -> bool:
        """True while this hub holds `job` (a session advisory lock on a connection of its own, released
        when this hub dies or its connection drops); False while another hub holds it."""
        conn = self._leaders.get(job)
        if conn is not None and not conn.closed:
            try:
                await conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._leaders.pop(job, None)
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=int(self._connect_timeout)
            )
            held = await _scalar(conn, "SELECT pg_try_advisory_lock(%s)", (_job_key(job),))
        except psycopg.Error as exc:
            log.warning("cannot ask PostgreSQL who runs %s: %s", job, exc)
            return False
        if held:
            self._leaders[job] = conn
            log.info("this hub now runs %s for the deployment", job)
            return True
        await conn.close()
        return False

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; reconnect with a growing delay, and read after each reconnect
        (a NOTIFY sent while the connection was down is lost; the log is not)."""
        attempt = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    attempt = 0
                    self._on_change(0)
                    async for note in conn.notifies():
                        self._on_change(int(note.payload) if note.payload.isdigit() else 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = _LISTEN_RETRY_SECONDS[min(attempt, len(_LISTEN_RETRY_SECONDS) - 1)]
                attempt += 1
                log.warning("PostgreSQL LISTEN connection lost (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)

    # -- helpers --------------------------------------------------------------------------------------

    def _connection(self) -> contextlib.AbstractAsyncContextManager[psycopg.AsyncConnection[TupleRow]]:
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        return self._pool.connection()

    async def _entries(self, sql: str, params: Any) -> list[LogEntry]:
        try:
            async with self._connection() as conn:
                cursor = await conn.execute(sql, params)
                rows = await cursor.fetchall()
        except psycopg.Error as exc:
            raise StoreUnavailable(f"could not read the PostgreSQL log: {exc}") from exc
        return [LogEntry(int(r[0]), r[1], float(r[2]), r[3], bytes(r[4]), r[5], r[6]) for r in rows]


async def _scalar(conn: psycopg.AsyncConnection[TupleRow], sql: str, params: Any = None) -> Any:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    return None if row is None else row[0]


def _ask(notification_id: str, publisher: str, deadline: float, buttons: str, inputs: str, owner_key: str) -> Ask:
    return Ask(notification_id, publisher, deadline, tuple(json.loads(buttons)), tuple(json.loads(inputs)), owner_key)


def _followed(row: tuple[Any, ...]) -> LogEntry:
    seq, target, at, nid, payload, publisher, key, role = row[:8]
    ask_publisher, deadline, buttons, inputs, owner_key, outcome = row[8:]
    ask = outcome_bytes = None
    if role == REGISTERS_ASK and ask_publisher is not None:
        ask = _ask(nid, ask_publisher, deadline, buttons, inputs, owner_key)
    elif role == DECIDES_ASK and outcome is not None:
        outcome_bytes = bytes(outcome)  # only the deciding outcome is ever written
    return LogEntry(int(seq), target, float(at), nid, bytes(payload), publisher, key, ask=ask, outcome=outcome_bytes)


def _job_key(job: str) -> int:
    """A stable advisory-lock key per job name (two int4 halves would do too; one int8 is simpler)."""
    return (_MIGRATION_LOCK << 32) | zlib.crc32(job.encode())


def _safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an unparsable database URL)"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())
