"""Bookkeeping of what publishers were told and what subscribers received, and the verdict on it.

A publish is *acknowledged* when the server answered OK (with a sequence); it *failed* when the client
raised (after its retries): a failed publish may or may not have been stored (the response can be lost
in a crash), so it is allowed to show up, but never required to. A subscriber must receive every
acknowledged publish addressed to it, each once after the client's dedupe by id, in increasing
sequence order; and nothing nobody published.
"""

from __future__ import annotations

import collections
import itertools
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from toasty_proto import v1
from toasty_server.service.ids import local_id


@dataclass
class Ledger:
    acked: dict[str, tuple[str, int]] = field(default_factory=dict)  # id → (target, sequence)
    failed: dict[str, str] = field(default_factory=dict)  # id → target (outcome unknown)
    refused: dict[str, str] = field(default_factory=dict)  # id → error (definitely not stored)
    received: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: collections.defaultdict(list))

    def ack(self, notification_id: str, target: str, sequence: int) -> None:
        assert sequence > 0, f"{notification_id} acknowledged without a sequence"
        self.acked[notification_id] = (target, sequence)
        self.failed.pop(notification_id, None)

    def fail(self, notification_id: str, target: str) -> None:
        self.failed[notification_id] = target

    def refuse(self, notification_id: str, error: str) -> None:
        self.refused[notification_id] = error

    def receive(self, subscriber: str, delivery: v1.Delivery) -> None:
        if delivery.notification is not None:
            self.received[subscriber].append((delivery.sequence, delivery.notification.id))

    def expected_for(self, subscriber: str) -> set[str]:
        return {nid for nid, (target, _) in self.acked.items() if target in ("", subscriber)}

    def missing(self, subscriber: str) -> set[str]:
        return self.expected_for(subscriber) - {nid for _, nid in self.received[subscriber]}

    def complete(self, subscribers: list[str]) -> bool:
        return all(not self.missing(s) for s in subscribers)

    def verdict(self, subscribers: list[str]) -> Verdict:
        v = Verdict(acknowledged=len(self.acked), failed=len(self.failed), refused=len(self.refused))
        attempted = set(self.acked) | set(self.failed)
        for sub in subscribers:
            got = self.received[sub]
            ids = [nid for _, nid in got]
            counts = collections.Counter(ids)
            v.expected += len(self.expected_for(sub))
            v.delivered += len(set(ids) & self.expected_for(sub))
            v.lost += len(self.missing(sub))
            v.duplicates += sum(n - 1 for n in counts.values())
            v.ambiguous_delivered += len(set(ids) & set(self.failed))
            v.phantoms += len(set(ids) - attempted)
            v.refused_delivered += len(set(ids) & set(self.refused))
            sequences = [seq for seq, _ in got]
            v.out_of_order += sum(1 for a, b in itertools.pairwise(sequences) if b <= a)
            if self.missing(sub) and not v.example_lost:
                v.example_lost = f"{sub} misses {sorted(self.missing(sub))[:5]}"
        return v


@dataclass
class Verdict:
    acknowledged: int = 0
    failed: int = 0  # raised to the publisher: outcome unknown (may have been stored before a crash)
    refused: int = 0  # refused with a status that says nothing was stored
    expected: int = 0  # (subscriber, acknowledged publish addressed to it) pairs
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0  # the same id yielded twice to one subscriber (after the client's dedupe)
    out_of_order: int = 0
    phantoms: int = 0  # delivered but never published
    refused_delivered: int = 0  # refused as not stored, yet delivered
    ambiguous_delivered: int = 0  # failed for the publisher, stored anyway (allowed: at-least-once)
    example_lost: str = ""

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.out_of_order or self.phantoms or self.refused_delivered)

    def problems(self) -> str:
        return (
            f"lost={self.lost} ({self.example_lost}) duplicates={self.duplicates} out_of_order={self.out_of_order} "
            f"phantoms={self.phantoms} refused_delivered={self.refused_delivered}"
        )


def stored_ids(db_path: Path) -> dict[str, int]:
    """notification id (as its publisher gave it) → how many log rows carry it, read from the SQLite file
    (server stopped). The log keys rows by the global id `<agent>~<id>` (toasty_server.service.ids)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT notification_id, count(*) FROM log GROUP BY notification_id").fetchall()
    counts: dict[str, int] = {}
    for nid, n in rows:
        local = local_id(str(nid))
        counts[local] = counts.get(local, 0) + int(n)
    return counts
