"""Where the delivery log lives: `Store` is the interface, memory and SQLite implement it."""

from toasty_server.store.base import Ask, LogEntry, Store, StoreCorrupt, StoreError, StoreUnavailable
from toasty_server.store.memory import MemoryStore
from toasty_server.store.sqlite import SQLiteStore

__all__ = ["Ask", "LogEntry", "MemoryStore", "SQLiteStore", "Store", "StoreCorrupt", "StoreError", "StoreUnavailable"]
