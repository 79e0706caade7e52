"""The broker: assigns sequences, batches writes to the store, fans committed entries out.

Order of events for a publish: a sequence is assigned on the event loop; the entry joins the next
batch; one store write commits the batch; only then is each entry handed to the live mailboxes and
its publisher answered. So a subscriber never sees an entry that a crash could take back, and a
publish acknowledged to its caller is in the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from toasty_server.broker.asks import AskRegistry
from toasty_server.broker.mailbox import Mailbox
from toasty_server.broker.subscription import Subscription
from toasty_server.store import Ask, LogEntry, Store, StoreUnavailable

log = logging.getLogger(__name__)

Encoder = Callable[[int, float], bytes]
"""Builds the serialized delivery once its (sequence, published_at) are known."""


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    sequence: int
    queued_subscribers: int
    notification_id: str = ""
    duplicate: bool = False  # an earlier publish with the same idempotency key; nothing new was sent


@dataclass(frozen=True, slots=True)
class RetentionGap:
    """Entries in [first, last] expired before this subscriber read them; some may have been its own."""

    first: int
    last: int


@dataclass(frozen=True, slots=True)
class LogReset:
    """The subscriber resumed after `resumed_after`, a sequence of another log than this one (which ended
    at `log_end` when it subscribed): it gets this log from its beginning."""

    resumed_after: int
    log_end: int
    log_id: str


class SubscriptionReplaced(Exception):
    """A newer Subscribe with the same client id took over this stream."""


class BrokerClosed(Exception):
    """The server is shutting down."""


class Broker:
    """Sequenced, durable pub/sub over a Store."""

    def __init__(
        self,
        store: Store,
        *,
        mailbox_depth: int = 100,
        catch_up_page: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._mailbox_depth = mailbox_depth
        self._catch_up_page = catch_up_page
        self._clock = clock
        self._subscriptions: dict[str, Subscription] = {}
        self._pending: list[tuple[LogEntry, asyncio.Future[PublishOutcome]]] = []
        self._inflight_keys: dict[tuple[str, str], asyncio.Future[PublishOutcome]] = {}
        self.asks = AskRegistry(clock)
        self._flusher: asyncio.Task[None] | None = None
        self._last_assigned = 0
        self._last_committed = 0
        self._closed = False
        self._accepting_subscribers = True
        self.overflows = 0

    @property
    def store(self) -> Store:
        return self._store

    @property
    def last_sequence(self) -> int:
        """Highest committed sequence: the live edge a new subscriber starts from."""
        return self._last_committed

    def has_live_subscription(self, client_id: str) -> bool:
        return client_id in self._subscriptions

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subscriptions.values())

    async def start(self) -> None:
        self._last_assigned = self._last_committed = await self._store.open()
        for ask in await self._store.pending_asks():
            self.asks.add(ask)

    def end_streams(self) -> None:
        """End every subscriber stream and refuse new ones; publishing goes on until close()."""
        self._accepting_subscribers = False
        for sub in self._subscriptions.values():
            sub.mailbox.close()
        self._subscriptions.clear()

    async def close(self) -> None:
        """Finish pending writes, end every stream, close the store."""
        self.end_streams()
        self._closed = True
        self.asks.close()
        if self._flusher is not None:
            await self._flusher
        await self._store.close()

    # -- publishing ----------------------------------------------------------------------------------

    async def publish(
        self,
        target: str,
        notification_id: str,
        encode: Encoder,
        *,
        publisher: str = "",
        idempotency_key: str = "",
        ask: Ask | None = None,
    ) -> PublishOutcome:
        """Append one entry and return once it is stored and handed to live subscribers.

        With an idempotency key already used by this publisher (and still retained), nothing is
        appended: the first publish's id and sequence come back with `duplicate=True`.
        """
        if not idempotency_key:
            return await self._append(target, notification_id, encode, publisher=publisher, ask=ask)
        key = (publisher, idempotency_key)
        earlier = self._inflight_keys.get(key)
        if earlier is not None:
            first = await asyncio.shield(earlier)
            return PublishOutcome(first.sequence, 0, first.notification_id, duplicate=True)
        mine: asyncio.Future[PublishOutcome] = asyncio.get_running_loop().create_future()
        mine.add_done_callback(_mark_retrieved)
        self._inflight_keys[key] = mine
        try:
            found = await self._store.find_idempotent(publisher, idempotency_key)
            if found is not None:
                outcome = PublishOutcome(found[1], 0, found[0], duplicate=True)
            else:
                outcome = await self._append(
                    target, notification_id, encode, publisher=publisher, idempotency_key=idempotency_key, ask=ask
                )
            mine.set_result(outcome)
            return outcome
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        finally:
            del self._inflight_keys[key]

    async def resolve(
        self, notification_id: str, outcome: bytes, encode: Encoder, target: str | None = None
    ) -> PublishOutcome | None:
        """Record an ask's one outcome and deliver it to `target` (default: the asking agent's mailbox);
        None if already decided."""
        ask = self.asks.claim(notification_id)
        if ask is None:
            return None
        mailbox = ask.publisher if target is None else target
        try:
            return await self._append(mailbox, notification_id, encode, publisher=ask.publisher, outcome=outcome)
        except BaseException:
            self.asks.release(notification_id)
            raise

    async def _append(
        self,
        target: str,
        notification_id: str,
        encode: Encoder,
        *,
        publisher: str = "",
        idempotency_key: str = "",
        ask: Ask | None = None,
        outcome: bytes | None = None,
    ) -> PublishOutcome:
        if self._closed:
            raise BrokerClosed("the server is shutting down")
        self._last_assigned += 1
        sequence, now = self._last_assigned, self._clock()
        entry = LogEntry(
            sequence,
            target,
            now,
            notification_id,
            encode(sequence, now),
            publisher=publisher,
            idempotency_key=idempotency_key,
            ask=ask,
            outcome=outcome,
        )
        done: asyncio.Future[PublishOutcome] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_mark_retrieved)
        self._pending.append((entry, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="toasty-broker-flush")
        # Not shielded (a shield costs a future and two callbacks per publish): a caller cancelled here
        # cancels only `done`; the flusher still commits and fans out the entry, and skips its answer.
        return await done

    async def _flush(self) -> None:
        """Commit pending entries batch by batch; whatever arrives during a write forms the next batch."""
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._store.append([entry for entry, _ in batch])
                except StoreUnavailable as exc:
                    log.error("store write failed, %d publishes refused: %s", len(batch), exc)
                    for _, done in batch:
                        if not done.done():  # (cancelled: its caller went away)
                            done.set_exception(exc)
                    continue
                for entry, done in batch:
                    self._last_committed = entry.sequence
                    if entry.ask is not None:
                        self.asks.add(entry.ask)
                    if entry.outcome is not None:
                        self.asks.settle(entry.notification_id, entry.outcome)
                    queued = self._fan_out(entry)
                    if not done.done():
                        done.set_result(PublishOutcome(entry.sequence, queued, entry.notification_id))
        finally:
            self._flusher = None

    def _fan_out(self, entry: LogEntry) -> int:
        if entry.target:
            sub = self._subscriptions.get(entry.target)
            if sub is None:
                return 0
            self._offer(sub, entry)
            return 1
        for sub in self._subscriptions.values():
            self._offer(sub, entry)
        return len(self._subscriptions)

    def _offer(self, sub: Subscription, entry: LogEntry) -> None:
        if sub.mailbox.offer(entry):
            self.overflows += 1
            log.warning(
                "subscriber %s is %d entries behind: switching it to catch-up from the store",
                sub.client_id,
                self._mailbox_depth,
            )

    async def prune(self, max_entries: int, max_age_seconds: float, max_bytes: int | None = None) -> int:
        """Apply retention; a subscriber resuming past what went gets a RetentionGap (see deliveries)."""
        return await self._store.prune(max_entries, self._clock() - max_age_seconds, max_bytes)

    # -- subscribing ---------------------------------------------------------------------------------

    def subscribe(
        self, client_id: str, after: int | None = None, *, from_beginning: bool = False, log_id: str = ""
    ) -> Subscription:
        """Register a live stream for client_id, replacing (and ending) any earlier one.

        It starts after sequence `after`; with None, at the live edge (or at the oldest retained entry
        when `from_beginning`). The position is fixed here, before any await, so nothing published
        from now on can be missed. An `after` of another log (`log_id` is not this store's, or `after`
        is beyond anything this log committed: a new, restored or in-memory log) would silently skip
        this log's entries up to `after`: such a stream starts with a LogReset and reads from the start.
        """
        if not self._accepting_subscribers:
            raise BrokerClosed("the server is shutting down")
        old = self._subscriptions.get(client_id)
        if old is not None:
            old.replaced = True
            old.mailbox.close()
            log.info("subscriber %s reconnected: replacing its previous stream", client_id)
        sub = Subscription(client_id, Mailbox(self._mailbox_depth))
        sub.cursor = self._last_committed if after is None and not from_beginning else (after or 0)
        if after is not None and (after > self._last_committed or (log_id and log_id != self._store.log_id)):
            log.warning(
                "subscriber %s resumed after sequence %d of another log (this log %s ends at %d): "
                "replaying this log from its beginning",
                client_id,
                after,
                self._store.log_id,
                self._last_committed,
            )
            sub.reset_from, sub.cursor = after, 0
        self._subscriptions[client_id] = sub
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if self._subscriptions.get(sub.client_id) is sub:
            del self._subscriptions[sub.client_id]
        sub.mailbox.close()

    async def deliveries(self, sub: Subscription) -> AsyncIterator[LogEntry | RetentionGap | LogReset]:
        """Everything for sub after its starting position, then live entries, in order.

        The mailbox is registered before the store is read, so an entry committed meanwhile is found in
        one or the other; sequences at or below the cursor are skipped, which removes the overlap.
        """
        if sub.reset_from is not None:
            yield LogReset(sub.reset_from, self._last_committed, self._store.log_id)
        catching_up = sub.cursor < self._last_committed
        if catching_up:
            oldest = await self._store.oldest_sequence()
            if sub.cursor and oldest > sub.cursor + 1:
                yield RetentionGap(sub.cursor + 1, oldest - 1)
                sub.cursor = oldest - 1
        while True:
            if sub.replaced:
                raise SubscriptionReplaced(sub.client_id)
            if sub.mailbox.closed:
                raise BrokerClosed("the server is shutting down")
            if sub.mailbox.take_overflow():
                catching_up = True
            if catching_up:
                sub.mailbox.clear()
                page = await self._store.read_after(sub.client_id, sub.cursor, self._catch_up_page)
                for entry in page:
                    sub.cursor = entry.sequence
                    yield entry
                catching_up = len(page) == self._catch_up_page
                continue
            live = sub.mailbox.pop()
            if live is None:
                await sub.mailbox.wait()
            elif live.sequence > sub.cursor:
                sub.cursor = live.sequence
                yield live


def _mark_retrieved(future: asyncio.Future[PublishOutcome]) -> None:
    """A caller that went away (cancelled RPC) must not leave 'exception never retrieved' noise."""
    if not future.cancelled():
        future.exception()
