"""Where the delivery log lives: `Store` is the interface, memory and SQLite implement it; `SharedStore`
(PostgreSQL, in store.postgres, imported only when configured: its driver is an optional extra) is a log
several hubs share."""

from toasty_server.store.base import (
    Ask,
    LogEntry,
    PendingEntry,
    SharedStore,
    Store,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
)
from toasty_server.store.memory import MemoryStore
from toasty_server.store.sqlite import SQLiteStore

__all__ = [
    "Ask",
    "LogEntry",
    "MemoryStore",
    "PendingEntry",
    "SQLiteStore",
    "SharedStore",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
]
