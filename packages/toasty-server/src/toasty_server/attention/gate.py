"""Between a published notification and the desktop: show it now, at its time, or hold it while the
person is not to be interrupted (do-not-disturb, quiet hours); take it down when it expires.

Holding changes only what the person is shown: the notification is stored and delivered to subscribers
as always, and a held question stays answerable on the web page and with `toasty answer` until its
deadline. A critical toast breaks through (TOASTY_CRITICAL_BREAKS_THROUGH). When the quiet ends, one
digest toast says what was held ("7 notifications from 3 agents while you were away") and opens the
page's list of them, and the held questions still open are shown.

A toast with a delivery time waits for it (kept across restarts: the toast is rebuilt from the log);
withdrawing it first cancels it. A toast with an expiry is taken down at that time, and a question
still open then ends EXPIRED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from toasty_proto import v1
from toasty_server.attention.quiet import DND, QUIET_HOURS, AttentionFile, Held, QuietHours, Timed
from toasty_server.errors import FailedPrecondition
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.spec import Kind, ToastSpec, Urgency

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0  # how often the end of do-not-disturb or of quiet hours is looked for
DIGEST_TITLES = 3  # titles named in the digest's body


class AttentionGate:
    """Shows or holds each toast; owns do-not-disturb and the held list."""

    def __init__(
        self,
        renderer: Renderer,
        *,
        quiet_hours: QuietHours,
        state_file: AttentionFile,
        critical_breaks_through: bool = True,
        max_held: int = 1000,
        clock: Callable[[], float] = time.time,
        local_now: Callable[[], datetime] = datetime.now,
        page_url: Callable[[], str] = lambda: "",
        on_decision: Callable[[str, str], None] = lambda agent, decision: None,
        max_scheduled: int = 10_000,
        load_toast: Callable[[str], Awaitable[ToastSpec | None]] | None = None,
        on_expired: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._renderer = renderer
        self._quiet_hours = quiet_hours
        self._file = state_file
        self._state = state_file.load()
        self._breaks_through = critical_breaks_through
        self._max_held = max_held
        self._clock = clock
        self._local_now = local_now
        self._page_url = page_url
        self._on_decision = on_decision
        self._held_toasts: dict[str, ToastSpec] = {}  # held questions (this run): shown when the quiet ends
        self._waiting: dict[str, ToastSpec] = {}  # scheduled toasts of this run (others: rebuilt from the log)
        self._max_scheduled = max_scheduled
        self._load_toast = load_toast
        self._on_expired = on_expired
        self._dirty = False  # held/scheduled changed since the state file was written
        self._was_holding = bool(self._state.held) or self.holding_reason() is not None
        self._watch: asyncio.Task[None] | None = None

    # -- what the service calls ---------------------------------------------------------------------------

    def check_room(self, deliver_at: float, expires_at: float) -> None:
        """Before a publish with a time: FailedPrecondition when the schedule is full (nothing is stored)."""
        if (deliver_at or expires_at) and len(self._state.scheduled) + len(self._state.expiring) >= self._max_scheduled:
            raise FailedPrecondition(
                f"{self._max_scheduled} toasts already wait for their time (TOASTY_MAX_SCHEDULED_TOASTS): "
                "publish it without deliver_at/expires_at, or later"
            )

    def submit(self, toast: ToastSpec) -> bool:
        """Hand the toast to the desktop, keep it for its time, or hold it (False: not shown now)."""
        now = self._clock()
        if toast.expires_at:
            self._state.expiring.append(Timed(toast.notification_id, toast.expires_at, toast.publisher))
        if toast.deliver_at > now:
            self._state.scheduled.append(Timed(toast.notification_id, toast.deliver_at, toast.publisher))
            self._waiting[toast.notification_id] = toast
            self._dirty = True
            self._on_decision(toast.publisher, "scheduled")
            return False
        if toast.expires_at:
            self._dirty = True
        return self._show_or_hold(toast)

    def _show_or_hold(self, toast: ToastSpec) -> bool:
        reason = self.holding_reason()
        if reason is not None and not (self._breaks_through and toast.urgency is Urgency.CRITICAL):
            self._hold(toast, reason)
            return False
        shown = self._renderer.submit(toast)
        if shown:
            self._on_decision(toast.publisher, "shown")
        return shown

    async def withdraw(self, notification_id: str) -> None:
        """Taken down (withdrawn, answered, timed out): not shown later either."""
        self._held_toasts.pop(notification_id, None)
        self._waiting.pop(notification_id, None)
        if self._drop_timed(notification_id):
            self._dirty = True
        await self._renderer.withdraw(notification_id)

    def _drop_timed(self, notification_id: str) -> bool:
        before = len(self._state.scheduled) + len(self._state.expiring)
        self._state.scheduled = [t for t in self._state.scheduled if t.notification_id != notification_id]
        self._state.expiring = [t for t in self._state.expiring if t.notification_id != notification_id]
        return len(self._state.scheduled) + len(self._state.expiring) != before

    def set_do_not_disturb(self, on: bool, until: float = 0.0) -> None:
        self._state.dnd, self._state.dnd_until = on, (until if on else 0.0)
        self._dirty = False
        self._file.save(self._state)
        log.info("do-not-disturb %s", f"on until {until:.0f}" if on and until else "on" if on else "off")
        self.check()

    def holding_reason(self) -> str | None:
        """Why toasts are held now (None: they are shown)."""
        if self._state.dnd and self._state.dnd_until and self._clock() >= self._state.dnd_until:
            self._state.dnd, self._state.dnd_until = False, 0.0  # ended by itself
            self._file.save(self._state)
        if self._state.dnd:
            return DND
        if self._quiet_hours.contains(self._local_now()):
            return QUIET_HOURS
        return None

    def scheduled(self) -> list[Timed]:
        return list(self._state.scheduled)

    def state(self) -> v1.AttentionState:
        reason = self.holding_reason()
        return v1.AttentionState(
            do_not_disturb=self._state.dnd,
            until_unix_ms=int(self._state.dnd_until * 1000),
            quiet_hours=self._quiet_hours.contains(self._local_now()),
            quiet_hours_spec=self._quiet_hours.spec,
            holding=reason is not None,
            critical_breaks_through=self._breaks_through,
            held=[
                v1.HeldToast(
                    notification_id=h.notification_id,
                    agent=h.agent,
                    title=h.title,
                    held_at_unix_ms=int(h.held_at * 1000),
                    reason=h.reason,
                    question=h.question,
                )
                for h in self._state.held
            ],
        )

    # -- the end of the quiet ------------------------------------------------------------------------------

    def start(self) -> None:
        self._watch = asyncio.create_task(self._watch_quiet(), name="toasty-attention")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        self._save_if_changed()

    def _save_if_changed(self) -> None:
        """Held and scheduled toasts are written at most once per check (a burst under do-not-disturb
        is one write, not one per toast): a crash loses at most the last second of them."""
        if self._dirty:
            self._dirty = False
            self._file.save(self._state)

    async def _watch_quiet(self) -> None:
        while True:
            self.check()
            await self._due()
            self._save_if_changed()
            await asyncio.sleep(CHECK_SECONDS)

    async def _due(self) -> None:
        """Show what reached its delivery time; take down what reached its expiry."""
        now = self._clock()
        due = [t for t in self._state.scheduled if t.at <= now]
        expired = [t for t in self._state.expiring if t.at <= now]
        if not due and not expired:
            return
        self._state.scheduled = [t for t in self._state.scheduled if t.at > now]
        self._state.expiring = [t for t in self._state.expiring if t.at > now]
        self._dirty = True
        for timed in due:
            toast = self._waiting.pop(timed.notification_id, None)
            if toast is None and self._load_toast is not None:  # scheduled before a restart
                toast = await self._load_toast(timed.notification_id)
            if toast is None:
                log.warning("scheduled toast %s is no longer in the log: not shown", timed.notification_id)
                continue
            log.info("toast %s reached its delivery time", timed.notification_id)
            self._show_or_hold(toast)
        for timed in expired:
            log.info("toast %s expired: taken down", timed.notification_id)
            self._waiting.pop(timed.notification_id, None)
            self._held_toasts.pop(timed.notification_id, None)
            self._on_decision(timed.agent, "expired")
            await self._renderer.withdraw(timed.notification_id)
            if self._on_expired is not None:
                await self._on_expired(timed.notification_id)

    def check(self) -> None:
        """When the quiet has ended: one digest toast, then the held questions still open."""
        holding = self.holding_reason() is not None
        if self._was_holding and not holding:
            self._release()
        self._was_holding = holding

    def _release(self) -> None:
        held, self._state.held = self._state.held, []
        self._dirty = False
        self._file.save(self._state)
        questions, self._held_toasts = self._held_toasts, {}
        if held:
            self._renderer.submit(self._digest(held))
            for toast in questions.values():
                self._renderer.submit(toast)
            log.info("quiet over: %d held toast(s) summed up, %d open question(s) shown", len(held), len(questions))

    def _digest(self, held: list[Held]) -> ToastSpec:
        agents = sorted({h.agent for h in held})
        count = len(held)
        title = (
            f"{count} notification{'s' if count != 1 else ''} from {len(agents)} "
            f"agent{'s' if len(agents) != 1 else ''} while you were away"
        )
        named = [h.title for h in held[-DIGEST_TITLES:] if h.title]
        more = count - len(named)
        lines = ("; ".join(named) + (f" and {more} more" if more > 0 else ""),) if named else ()
        page = self._page_url()
        return ToastSpec(
            notification_id=f"toasty-digest-{uuid.uuid4().hex}",
            publisher="toasty",
            kind=Kind.TEXT,
            title=title,
            lines=lines,
            launch_url=f"{page}#held" if page else "",
        )

    def _hold(self, toast: ToastSpec, reason: str) -> None:
        question = bool(toast.buttons)
        key = toast.replace_key
        held = self._state.held
        if key is not None:  # a progress bar held: only its latest state counts, once
            held[:] = [h for h in held if h.notification_id != _progress_id(key)]
        record = Held(
            _progress_id(key) if key is not None else toast.notification_id,
            toast.publisher,
            toast.title,
            self._clock(),
            reason,
            question,
        )
        held.append(record)
        if len(held) > self._max_held:
            del held[: len(held) - self._max_held]
        if question:
            self._held_toasts[toast.notification_id] = toast
        self._dirty = True
        self._was_holding = True
        self._on_decision(toast.publisher, "held")
        log.info("toast %s held (%s)", toast.notification_id, reason)


def _progress_id(key: tuple[str, str]) -> str:
    return f"{key[0]}/progress/{key[1]}"
