"""What the web page shows: the tail of the log, connected subscribers, the backends, and the open questions
with their content, as JSON snapshots; and a stream that sends a new snapshot when any of it changes.
For the person, the attention state too (do-not-disturb, held, muted, scheduled, per-agent rates): it is
the person's only, so a watcher with the grant `*` is not sent it.

Change is detected by polling the broker's in-memory state a few times a second (cheap: no store read
unless something changed), so the page costs nothing on the publish path and one rate-limit call per
connection, however long it stays open. The attention state costs more to build (the rates of every
agent): it is read at most once a second for all pages, sooner after a publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, NamedTuple

from aiohttp import web

from toasty_proto import v1
from toasty_server.access.principal import current_principal
from toasty_server.http import sse
from toasty_server.http.codec import message_to_json
from toasty_server.service.api import ToastyApi
from toasty_server.store import Ask, LogEntry

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
LOG_SIZE = 50
MAX_LOG_SIZE = 500
ATTENTION_SECONDS = 1.0  # the attention state is read at most this often (a publish: after POLL_SECONDS)

Json = dict[str, Any]


class _AttentionRead(NamedTuple):
    """The attention state as read at one moment, shared by every page."""

    at: float  # time.monotonic()
    at_unix_ms: int  # the same moment, for the page: a state read before its own last change is stale
    sequence: int  # the log's last sequence then
    state: v1.AttentionState
    serialized: bytes  # for the fingerprint


class Dashboard:
    """Snapshots of the server for the page; caches the content of open questions (read once each)."""

    def __init__(self, api: ToastyApi) -> None:
        self._api = api
        self._asked: dict[str, Json | None] = {}  # notification id → its Delivery JSON (None: no longer retained)
        self._attention: _AttentionRead | None = None

    def fingerprint(self, attention: bool = False) -> tuple[object, ...]:
        """Changes whenever something the page shows changes (a sequence, a question, a subscriber; with
        `attention`, the attention state: do-not-disturb, held, muted, scheduled, rates)."""
        broker = self._api.broker
        read = self._attention_state() if attention else None
        return (
            broker.last_sequence,
            tuple(a.notification_id for a in broker.asks.pending()),
            tuple((s.client_id, len(s.mailbox), s.cursor) for s in broker.subscriptions),
            tuple(self._api.renderer.status()),  # a desktop that came or went
            read.serialized if read is not None else b"",
        )

    def _attention_state(self) -> _AttentionRead | None:
        """The gate's state (None: no gate), read again once it is a second old, or a poll old when
        something was published since (what the gate held or showed of it is in the state)."""
        gate = self._api.gate
        if gate is None:
            return None
        now, sequence = time.monotonic(), self._api.broker.last_sequence
        cached = self._attention
        if cached is not None:
            age = now - cached.at
            if age < ATTENTION_SECONDS and (sequence == cached.sequence or age < POLL_SECONDS):
                return cached
        state = gate.state()
        self._attention = _AttentionRead(now, int(time.time() * 1000), sequence, state, bytes(state))
        return self._attention

    async def log(self, limit: int = LOG_SIZE) -> list[Json]:
        """The newest log entries (notifications, answers, receipts) of every client, newest first."""
        return [d for d in (_delivery_json(e) for e in await self._api.broker.store.recent(limit)) if d is not None]

    async def asks(self) -> list[Json]:
        """The open questions, oldest first, each with the notification a person is asked to answer."""
        pending = self._api.broker.asks.pending()
        for stale in set(self._asked) - {a.notification_id for a in pending}:
            del self._asked[stale]
        out = []
        for ask in pending:
            if ask.notification_id in self._asked:
                found = self._asked[ask.notification_id]
            else:
                found = self._asked[ask.notification_id] = await self._find(ask)
            out.append(_ask_json(ask, found))
        return out

    async def snapshot(self, attention: bool = False) -> Json:
        """What the page shows; with `attention` (the person's page), the attention state as `attention`
        and when it was read as `attentionReadUnixMs`."""
        out: Json = {
            "serverTimeUnixMs": int(time.time() * 1000),
            "status": message_to_json(self._api.status()),
            "asks": await self.asks(),
            "log": await self.log(),
        }
        read = self._attention_state() if attention else None
        if read is not None:
            out["attention"] = message_to_json(read.state)
            out["attentionReadUnixMs"] = read.at_unix_ms
        return out

    async def stream(self, response: web.StreamResponse, closing: asyncio.Event) -> None:
        """Write a snapshot now and after every change, keep-alives in between, until `closing` is set."""
        attention = current_principal().is_person  # the attention state is the person's only
        sent: tuple[object, ...] | None = None
        last_write = 0.0
        loop = asyncio.get_running_loop()
        while not closing.is_set():
            now = loop.time()
            current = self.fingerprint(attention)
            if current != sent:
                await response.write(sse.event(json.dumps(await self.snapshot(attention)), name="snapshot"))
                sent, last_write = current, now
            elif now - last_write >= sse.HEARTBEAT_SECONDS:
                await response.write(sse.KEEPALIVE)
                last_write = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), POLL_SECONDS)

    async def _find(self, ask: Ask) -> Json | None:
        """The Delivery that published this question, as JSON (None when no longer retained)."""
        found = await self._api.question_delivery(ask)
        return None if found is None else message_to_json(found[1])


def _delivery_json(entry: LogEntry) -> Json | None:
    try:
        delivery = v1.Delivery.FromString(entry.payload)
    except Exception:  # a damaged payload must not take the page down
        log.warning("log entry %d cannot be decoded; left out of the page", entry.sequence)
        return None
    return message_to_json(delivery)


def _ask_json(ask: Ask, delivery: Json | None) -> Json:
    out: Json = {
        "notificationId": ask.notification_id,
        "publisherAgentId": ask.publisher,
        "deadlineUnixMs": int(ask.deadline * 1000),
        "buttonIds": list(ask.button_ids),
        "inputIds": list(ask.input_ids),
    }
    if delivery is not None:
        out["delivery"] = delivery
    return out
