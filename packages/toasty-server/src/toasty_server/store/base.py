"""The store interface: an append-only log of serialized deliveries, read back per client.

Shaped so a networked engine (Redis Streams, Postgres) can implement it later for several server
processes: every call is async, entries are opaque bytes plus the few columns needed to route them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Ask:
    """An Interactive notification waiting for its one outcome (button, dismissal, timeout...)."""

    notification_id: str
    publisher: str  # the agent the outcome goes back to
    deadline: float = 0.0  # unix seconds after which it times out; 0 = never
    button_ids: tuple[str, ...] = ()
    input_ids: tuple[str, ...] = ()
    owner_key: str = ""  # SHA-256 hex of the answer_key returned to the publisher (access.policy)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One published event, as stored and as streamed (payload is the serialized `Delivery`).

    An entry may also register an Ask (an Interactive notification) or record an ask's outcome; both
    are written in the same transaction as the entry, so a crash never separates them.
    """

    sequence: int
    target: str  # client id it is addressed to; "" for a broadcast
    published_at: float  # unix seconds
    notification_id: str
    payload: bytes
    publisher: str = ""
    idempotency_key: str = ""
    ask: Ask | None = None
    outcome: bytes | None = None  # serialized InteractionEvent resolving notification_id's ask


Encoder = Callable[[int, float], bytes]
"""Builds the serialized delivery once its (sequence, published_at) are known."""


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry before a shared log numbered it: its payload is encoded once its sequence is known."""

    target: str
    published_at: float
    notification_id: str
    encode: Encoder
    publisher: str = ""
    idempotency_key: str = ""
    ask: Ask | None = None
    outcome: bytes | None = None


class StoreError(Exception):
    """Base of store failures."""


class StoreUnavailable(StoreError):
    """The log cannot be written right now (disk full, read-only, locked). Nothing was acknowledged."""


class StoreCorrupt(StoreError):
    """The database file is damaged or belongs to another program; it was not modified."""


class Store(Protocol):
    """Durable (or not) home of the delivery log. `append` returns only once the entries are stored."""

    @property
    def name(self) -> str: ...

    @property
    def log_id(self) -> str:
        """Identifies this log (set by `open`): sequences are only comparable within one log id."""
        ...

    @property
    def payload_bytes(self) -> int:
        """Payload bytes the log holds as of the last open, append or prune (a metric, read from any thread)."""
        ...

    async def open(self) -> int:
        """Prepare the store and return the highest sequence it holds (0 when empty)."""
        ...

    async def append(self, entries: Sequence[LogEntry]) -> None:
        """Store a batch atomically, in order; raise StoreUnavailable if it could not be stored."""
        ...

    async def read_after(self, client_id: str, after: int, limit: int) -> list[LogEntry]:
        """Entries addressed to client_id or broadcast, with sequence > after, oldest first."""
        ...

    async def oldest_sequence(self) -> int:
        """Lowest sequence still retained (0 when empty)."""
        ...

    async def prune(self, max_entries: int, older_than: float, max_bytes: int | None = None) -> int:
        """Drop entries beyond the newest max_entries or published before older_than, then the oldest
        until the payloads left fit in max_bytes (None: no byte bound); return how many in all.

        The byte rule always keeps the newest entry: an empty log would restart its sequences after a
        restart and leave a resuming subscriber no oldest entry to report a gap against.
        Asks published before older_than go too, answered or not; the byte rule never drops asks.
        """
        ...

    async def pending_asks(self) -> list[Ask]:
        """Asks without an outcome yet (to re-arm them after a restart)."""
        ...

    async def ask_outcome(self, notification_id: str) -> tuple[Ask, bytes | None] | None:
        """The ask and its outcome (None while pending); None if no such ask is retained."""
        ...

    async def find_idempotent(self, publisher: str, key: str) -> tuple[str, int] | None:
        """(notification_id, sequence) of the retained entry this publisher published with this key."""
        ...

    async def recent(self, limit: int) -> list[LogEntry]:
        """The newest `limit` retained entries, whatever their target, newest first (for the web page)."""
        ...

    async def entries_for(self, notification_id: str) -> list[LogEntry]:
        """Every retained entry about `notification_id` (its publish, receipts, outcome), oldest first."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class SharedStore(Store, Protocol):
    """A log several hubs append to at once (PostgreSQL): the store numbers entries in commit order, and
    tells every hub when any of them appended, so each follows the log in order."""

    async def append_assigning(self, pending: Sequence[PendingEntry]) -> list[LogEntry | None]:
        """Number, encode and store a batch atomically, in order. An outcome for an ask already decided
        (through another hub) is not stored: None in its place."""
        ...

    async def read_log_after(self, after: int, limit: int) -> list[LogEntry]:
        """Every entry after `after`, whatever its target, oldest first."""
        ...

    def on_change(self, callback: Callable[[int], None]) -> None:
        """Call `callback(last sequence)` on the event loop whenever any hub appended (0: unknown)."""
        ...

    async def lead(self, job: str) -> bool:
        """True while this hub is the one that runs `job` for the deployment."""
        ...

    async def spend(self, bucket: str, capacity: float, per_second: float) -> float | None:
        """One unit of a leaky bucket every hub shares (None), else the seconds until it has room."""
        ...
