"""The broker: assigns sequences, batches writes to the store, fans committed entries out.

Order of events for a publish: a sequence is assigned on the event loop; the entry joins the next
batch; one store write commits the batch; only then is each entry handed to the live mailboxes and
its publisher answered. So a subscriber never sees an entry that a crash could take back, and a
publish acknowledged to its caller is in the store.

On a log several hubs share (`SharedStore`, PostgreSQL), the store numbers the batch in commit order
instead, and nothing is fanned out from the batch itself: the broker follows the log in sequence
order (after its own commits, and whenever the store says another hub appended) and fans out what it
reads. So every hub hands its subscribers every entry of the deployment, in order, with no gap, and
an answer recorded through any hub reaches the asker's waiters on every hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from toasty_server.broker.asks import AskRegistry
from toasty_server.broker.mailbox import Mailbox
from toasty_server.broker.subscription import Subscription
from toasty_server.store import Ask, LogEntry, PendingEntry, SharedStore, Store, StoreUnavailable
from toasty_server.store.base import Encoder

log = logging.getLogger(__name__)


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
        self._pending: list[tuple[LogEntry | PendingEntry, asyncio.Future[PublishOutcome | None]]] = []
        self._shared: SharedStore | None = store if isinstance(store, SharedStore) else None
        self._following = asyncio.Lock()  # one reader of the shared log at a time, so fan-out stays in order
        self._log_changed = asyncio.Event()
        self._follower: asyncio.Task[None] | None = None
        self._queued: dict[int, int] = {}  # shared log: sequence → subscribers it was handed to (for its publisher)
        self._inflight_keys: dict[tuple[str, str], asyncio.Future[PublishOutcome | None]] = {}
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
        if self._shared is not None:
            self._shared.on_change(self._on_log_changed)
            self._follower = asyncio.create_task(self._follow_others(), name="toasty-broker-follow")

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
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
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
            return _stored(await self._append(target, notification_id, encode, publisher=publisher, ask=ask))
        key = (publisher, idempotency_key)
        earlier = self._inflight_keys.get(key)
        if earlier is not None:
            first = _stored(await asyncio.shield(earlier))
            return PublishOutcome(first.sequence, 0, first.notification_id, duplicate=True)
        mine: asyncio.Future[PublishOutcome | None] = asyncio.get_running_loop().create_future()
        mine.add_done_callback(_mark_retrieved)
        self._inflight_keys[key] = mine
        try:
            found = await self._store.find_idempotent(publisher, idempotency_key)
            if found is not None:
                outcome = PublishOutcome(found[1], 0, found[0], duplicate=True)
            else:
                outcome = _stored(
                    await self._append(
                        target, notification_id, encode, publisher=publisher, idempotency_key=idempotency_key, ask=ask
                    )
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
        None if already decided (here, or first through another hub of a shared log)."""
        ask = self.asks.claim(notification_id)
        if ask is None:
            return None
        mailbox = ask.publisher if target is None else target
        try:
            decided = await self._append(mailbox, notification_id, encode, publisher=ask.publisher, outcome=outcome)
        except BaseException:
            self.asks.release(notification_id)
            raise
        if decided is None:
            # another hub recorded its outcome first: following the log settles the ask with that one
            await self._follow()
        return decided

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
    ) -> PublishOutcome | None:
        """None only for an outcome another hub of a shared log recorded first."""
        if self._closed:
            raise BrokerClosed("the server is shutting down")
        now = self._clock()
        entry: LogEntry | PendingEntry
        if self._shared is not None:  # the shared log numbers it, in commit order
            entry = PendingEntry(target, now, notification_id, encode, publisher, idempotency_key, ask, outcome)
        else:
            self._last_assigned += 1
            sequence = self._last_assigned
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
        done: asyncio.Future[PublishOutcome | None] = asyncio.get_running_loop().create_future()
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
                if self._shared is not None:
                    await self._flush_shared(self._shared, batch)
                    continue
                try:
                    await self._store.append([entry for entry, _ in batch if isinstance(entry, LogEntry)])
                except StoreUnavailable as exc:
                    log.error("store write failed, %d publishes refused: %s", len(batch), exc)
                    for _, done in batch:
                        if not done.done():  # (cancelled: its caller went away)
                            done.set_exception(exc)
                    continue
                for entry, done in batch:
                    assert isinstance(entry, LogEntry)
                    queued = self._apply(entry)
                    if not done.done():
                        done.set_result(PublishOutcome(entry.sequence, queued, entry.notification_id))
        finally:
            self._flusher = None

    def _apply(self, entry: LogEntry) -> int:
        """A committed entry, in sequence order: the live edge moves, asks learn of it, subscribers get it."""
        self._last_committed = entry.sequence
        if entry.ask is not None:
            self.asks.add(entry.ask)
        if entry.outcome is not None:
            self.asks.settle(entry.notification_id, entry.outcome)
        return self._fan_out(entry)

    # -- a log shared by several hubs ----------------------------------------------------------------

    async def _flush_shared(
        self, shared: SharedStore, batch: list[tuple[LogEntry | PendingEntry, asyncio.Future[PublishOutcome | None]]]
    ) -> None:
        """The store numbers and commits the batch; following the log up to it fans it out, in order."""
        try:
            stored = await shared.append_assigning([entry for entry, _ in batch if isinstance(entry, PendingEntry)])
        except StoreUnavailable as exc:
            log.error("store write failed, %d publishes refused: %s", len(batch), exc)
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        last = max((e.sequence for e in stored if e is not None), default=0)
        if last:
            await self._follow(until=last)
        for found, (_, done) in zip(stored, batch, strict=True):
            queued = self._queued.pop(found.sequence, 0) if found is not None else 0
            if not done.done():
                done.set_result(
                    None if found is None else PublishOutcome(found.sequence, queued, found.notification_id)
                )

    def _on_log_changed(self, sequence: int) -> None:
        if sequence == 0 or sequence > self._last_committed:
            self._log_changed.set()

    async def _follow_others(self) -> None:
        """Read what other hubs appended whenever the store says something was (see on_change)."""
        while True:
            await self._log_changed.wait()
            self._log_changed.clear()
            try:
                await self._follow()
            except StoreUnavailable as exc:
                log.warning("cannot read the shared log (%s); retrying at the next change", exc)
                await asyncio.sleep(0.5)
                self._log_changed.set()

    async def _follow(self, until: int | None = None) -> None:
        """Apply every committed entry after the live edge, in order (up to `until`, or to the end)."""
        assert self._shared is not None
        async with self._following:
            while until is None or self._last_committed < until:
                page = await self._shared.read_log_after(self._last_committed, self._catch_up_page)
                for entry in page:
                    queued = self._apply(entry)
                    if until is not None and entry.sequence <= until:
                        self._queued[entry.sequence] = queued
                if len(page) < self._catch_up_page:
                    break

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

    async def runs(self, job: str) -> bool:
        """Whether this hub runs `job` (retention, deadlines): always alone on its log; on a shared log,
        the one hub holding the job's lock, which another hub takes over when this one dies."""
        return self._shared is None or await self._shared.lead(job)

    async def prune(self, max_entries: int, max_age_seconds: float, max_bytes: int | None = None) -> int:
        """Apply retention; a subscriber resuming past what went gets a RetentionGap (see deliveries).
        On a shared log only the hub that runs retention prunes (0 elsewhere)."""
        if not await self.runs("retention"):
            return 0
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
        other_log = bool(log_id) and log_id != self._store.log_id
        beyond = after is not None and after > self._last_committed
        if beyond and self._shared is not None and log_id and not other_log:
            beyond = False  # the same shared log, read further on another hub: this one catches up
            self._log_changed.set()
        if after is not None and (beyond or other_log):
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


def _stored(outcome: PublishOutcome | None) -> PublishOutcome:
    if outcome is None:  # only an outcome entry can be refused by a shared log
        raise AssertionError("a publish was refused as an already decided outcome")
    return outcome


def _mark_retrieved(future: asyncio.Future[PublishOutcome | None]) -> None:
    """A caller that went away (cancelled RPC) must not leave 'exception never retrieved' noise."""
    if not future.cancelled():
        future.exception()
