"""Questions shown here that were decided elsewhere come down within a second.

The person's subscription does not carry outcomes (they go to the asking agent's mailbox), so the
companion asks the hub: `ListQuestions` (all open questions, for the person) every `interval` seconds,
and only while this device shows at least one question. A shown question the hub no longer lists was
answered on another device, the page or a terminal, withdrawn, or timed out: its toast is withdrawn.

Why polling rather than an `AwaitInteraction` call per question, which would learn outcomes at once: one
cheap call covers every question on screen, needs no bookkeeping per call (slices, limits on waiters,
re-arming after a reconnect), and heals by itself: after the hub was unreachable, the first poll that
gets through takes down whatever was decided meanwhile. 0.4 s between polls keeps "within a second"
with room for the call and the desktop.

The same listing decides whether a question found in the stream is still worth showing (one caught up
after a restart may have been answered long ago). A listing only speaks for questions that reached the
hub before it was asked for, so each shown question remembers when it was added, and a listing that
started earlier never takes it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from toasty_client import ToastyError
from toasty_proto import v1
from toasty_server.render.dispatcher import RenderReceipt
from toasty_server.render.spec import ToastSpec

log = logging.getLogger(__name__)

DECIDED_KEPT = 1024  # ids of questions decided while shown here, for a toast drawn after its withdrawal

ListOpen = Callable[[], Awaitable[list[v1.OpenQuestion]]]
Withdraw = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Listing:
    """The hub's open questions, as of a call that started at `started` (monotonic clock)."""

    started: float
    open_ids: frozenset[str]


class QuestionWatch:
    """The questions on this device's screen, and the poll that takes down those decided elsewhere."""

    def __init__(self, list_open: ListOpen, withdraw: Withdraw, *, interval: float) -> None:
        self._list_open = list_open
        self._withdraw = withdraw
        self.interval = interval
        self.shown: dict[str, float] = {}  # global id → when it was added (monotonic)
        self._decided: OrderedDict[str, None] = OrderedDict()
        self._any_shown = asyncio.Event()
        self._listing: asyncio.Task[Listing] | None = None
        self._listing_started = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what is on screen ---------------------------------------------------------------------------------

    async def still_open(self, notification_id: str) -> bool:
        """Whether the hub lists the question as open now; True when it cannot tell (unreachable): better
        shown and taken down by a later poll than lost."""
        try:
            listing = await self.fresh_listing()
        except ToastyError as exc:
            log.debug("cannot ask the hub whether %s is open (%s): showing it", notification_id, exc)
            return True
        return notification_id in listing.open_ids

    def showing(self, notification_id: str) -> None:
        self.shown[notification_id] = time.monotonic()
        self._decided.pop(notification_id, None)
        self._any_shown.set()

    def answered_here(self, notification_id: str) -> None:
        """The person answered on this device: the backend has taken the toast down itself."""
        self._forget(notification_id)

    def on_receipt(self, toast: ToastSpec, receipt: RenderReceipt) -> None:
        """A toast drawn after its question was decided (it was queued when the withdrawal ran): take it down
        again. A question no backend could show is logged: it stays answerable elsewhere."""
        if toast.notification_id in self._decided and receipt.shown:
            self._spawn(self._withdraw(toast.notification_id))
        elif toast.buttons and not receipt.shown and receipt.error:
            log.warning("question %s could not be shown here: %s", toast.notification_id, receipt.error)

    # -- the poll --------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll while questions are shown; never raises (the hub may be away: the next poll retries)."""
        while True:
            await self._any_shown.wait()
            await asyncio.sleep(self.interval)
            try:
                listing = await self.fresh_listing()
            except ToastyError as exc:
                log.debug("open questions not listed (%s); retrying", exc)
                continue
            except Exception:  # a bug must not end the poll: toasts decided elsewhere would stay up
                log.exception("listing the open questions failed; retrying")
                continue
            for notification_id, added in list(self.shown.items()):
                if added < listing.started and notification_id not in listing.open_ids:
                    await self._take_down(notification_id)

    async def fresh_listing(self) -> Listing:
        """A listing whose call started now or later; concurrent callers share one call."""
        asked = time.monotonic()
        while True:
            task = self._listing
            if task is not None and self._listing_started >= asked:
                return await asyncio.shield(task)
            if task is None or task.done():
                self._listing_started = time.monotonic()
                self._listing = asyncio.ensure_future(self._list(self._listing_started))
                self._listing.add_done_callback(self._listed)
                continue
            with contextlib.suppress(Exception):  # an older call: wait for it, then start a fresh one
                await asyncio.shield(task)

    async def _list(self, started: float) -> Listing:
        questions = await self._list_open()
        return Listing(started, frozenset(q.notification_id for q in questions))

    def _listed(self, task: asyncio.Task[Listing]) -> None:
        if self._listing is task:
            self._listing = None
        if not task.cancelled():
            task.exception()  # retrieved: a failure is the waiters' to handle

    async def _take_down(self, notification_id: str) -> None:
        if notification_id not in self.shown:
            return
        self._forget(notification_id)
        self._decided[notification_id] = None
        while len(self._decided) > DECIDED_KEPT:
            self._decided.popitem(last=False)
        log.info(
            "question %s is no longer open (answered elsewhere, withdrawn or timed out): its toast is withdrawn",
            notification_id,
        )
        await self._withdraw(notification_id)

    def _forget(self, notification_id: str) -> None:
        self.shown.pop(notification_id, None)
        if not self.shown:
            self._any_shown.clear()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
