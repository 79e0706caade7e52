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
import dataclasses
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime

from toasty_proto import v1
from toasty_server.attention.collapse import Collapser
from toasty_server.attention.quiet import DND, MUTED, QUIET_HOURS, AttentionFile, Held, QuietHours, Timed
from toasty_server.attention.rates import Rates
from toasty_server.errors import FailedPrecondition, NotFound
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.spec import ButtonSpec, Kind, ToastSpec, Urgency

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0  # how often the end of do-not-disturb or of quiet hours is looked for
DIGEST_TITLES = 3  # titles named in the digest's body
MUTE_ACTION = ButtonSpec("#mute", "Mute this agent for 1 hour")  # ids start with '#': never a publisher's
SNOOZE_ACTION = ButtonSpec("#snooze", "Remind me in 10 minutes")
MUTE_SECONDS = 3600
SNOOZE_SECONDS = 600
MAX_REMEMBERED = 10_000  # toasts whose publisher is remembered for the hub's own actions


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
        collapse_window: float = 600.0,
        deadline_of: Callable[[str], float | None] = lambda notification_id: None,
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
        self._collapser = Collapser(collapse_window)
        self.rates = Rates()
        self._deadline_of = deadline_of  # an open question's deadline (None: not an open question)
        self._shown: OrderedDict[str, ToastSpec] = OrderedDict()  # recently shown: for mute and snooze
        self._tasks: set[asyncio.Future[None]] = set()
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
            self._decide(toast.publisher, "scheduled")
            return False
        if toast.expires_at:
            self._dirty = True
        return self._show_or_hold(toast)

    def _show_or_hold(self, toast: ToastSpec) -> bool:
        reason = self.holding_reason()
        if reason is None and not toast.buttons and self._muted(toast.publisher):
            reason = MUTED  # a muted agent's questions still show
        if reason is not None and not (self._breaks_through and toast.urgency is Urgency.CRITICAL):
            self._hold(toast, reason)
            return False
        toast, folded = self._collapser.collapse(toast, self._clock())
        if toast.publisher != "toasty":  # the hub's own actions: mute a chatty agent, snooze a question
            toast = dataclasses.replace(toast, actions=(SNOOZE_ACTION,) if toast.buttons else (MUTE_ACTION,))
        shown = self._renderer.submit(toast)
        if shown:
            self._remember(toast)
            self._decide(toast.publisher, "collapsed" if folded else "shown")
        return shown

    def _decide(self, agent: str, decision: str) -> None:
        self.rates.count(agent, decision, self._clock())
        self._on_decision(agent, decision)

    def refused(self, agent: str) -> None:
        """The attention budget refused one of this agent's toasts (for the page's rates)."""
        self.rates.count(agent, "refused", self._clock())

    def _remember(self, toast: ToastSpec) -> None:
        self._shown[toast.notification_id] = toast
        self._shown.move_to_end(toast.notification_id)
        if len(self._shown) > MAX_REMEMBERED:
            self._shown.popitem(last=False)

    # -- mute and snooze -----------------------------------------------------------------------------------

    def mute(self, agent: str, seconds: float) -> None:
        """Hold this agent's toasts (not its questions) for a while; 0 seconds: unmute now."""
        if seconds <= 0:
            self._state.muted.pop(agent, None)
            self._release_muted(agent)
        else:
            self._state.muted[agent] = self._clock() + seconds
            log.info("agent %s muted for %.0f s", agent, seconds)
        self._dirty = False
        self._file.save(self._state)

    def _muted(self, agent: str) -> bool:
        until = self._state.muted.get(agent)
        return until is not None and until > self._clock()

    def snooze(self, notification_id: str, seconds: float) -> float:
        """Take an open question's toast down and show it again later, never after its deadline; the
        time it comes back. NotFound when it is not an open question shown here."""
        toast = self._shown.get(notification_id)
        deadline = self._deadline_of(notification_id)
        if toast is None or not toast.buttons or deadline is None:
            raise NotFound(f"{notification_id!r} is not an open question shown on this hub")
        back = min(self._clock() + seconds, deadline - 1.0) if deadline else self._clock() + seconds
        self._state.scheduled.append(Timed(notification_id, back, toast.publisher))
        self._waiting[notification_id] = dataclasses.replace(toast, deliver_at=back, actions=())
        self._dirty = True
        self._spawn(self._renderer.withdraw(notification_id))
        log.info("question %s snoozed until %.0f", notification_id, back)
        return back

    def hub_action(self, notification_id: str, action: str) -> bool:
        """A click on one of the hub's own actions (not an answer). False when it is not one."""
        toast = self._shown.get(notification_id)
        if action == MUTE_ACTION.id and toast is not None:
            self.mute(toast.publisher, MUTE_SECONDS)
            return True
        if action == SNOOZE_ACTION.id:
            try:
                self.snooze(notification_id, SNOOZE_SECONDS)
            except NotFound:
                log.info("snooze of %s ignored: no longer an open question", notification_id)
            return True
        return False

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def withdraw(self, notification_id: str) -> None:
        """Taken down (withdrawn, answered, timed out): not shown later either."""
        self._held_toasts.pop(notification_id, None)
        self._shown.pop(notification_id, None)
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

    def mirror(self, state: v1.AttentionState) -> None:
        """Follow another hub's do-not-disturb, quiet hours and mutes (a desktop companion follows its hub's,
        which the person sets there); what to hold, the digest and the schedule stay this desk's own."""
        self._state.dnd, self._state.dnd_until = state.do_not_disturb, state.until_unix_ms / 1000
        self._quiet_hours = QuietHours.parse(state.quiet_hours_spec)
        self._breaks_through = state.critical_breaks_through
        muted = {m.agent: m.until_unix_ms / 1000 for m in state.muted}
        for agent in set(self._state.muted) - set(muted):
            self._state.muted[agent] = 0.0  # unmuted there: check() sums up what was held here
        self._state.muted.update(muted)
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
            muted=[
                v1.MutedAgent(agent=agent, until_unix_ms=int(until * 1000))
                for agent, until in sorted(self._state.muted.items())
                if until > self._clock()
            ],
            scheduled=[
                v1.ScheduledToast(notification_id=t.notification_id, agent=t.agent, deliver_at_unix_ms=int(t.at * 1000))
                for t in sorted(self._state.scheduled, key=lambda t: t.at)
            ],
            rates=self.rates.report(self._clock()),
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
            self._decide(timed.agent, "expired")
            await self._renderer.withdraw(timed.notification_id)
            if self._on_expired is not None:
                await self._on_expired(timed.notification_id)

    def check(self) -> None:
        """When the quiet has ended: one digest toast, then the held questions still open. When an agent's
        mute has ended: one digest of what it was muted for."""
        now = self._clock()
        for agent in [a for a, until in self._state.muted.items() if until <= now]:
            del self._state.muted[agent]
            self._release_muted(agent)
            self._dirty = True
        holding = self.holding_reason() is not None
        if self._was_holding and not holding:
            self._release()
        self._was_holding = holding

    def _release_muted(self, agent: str) -> None:
        if self.holding_reason() is not None:
            return  # still quiet: the held toasts wait for the end of the quiet's digest
        mine = [h for h in self._state.held if h.reason == MUTED and h.agent == agent]
        if not mine:
            return
        self._state.held = [h for h in self._state.held if not (h.reason == MUTED and h.agent == agent)]
        self._renderer.submit(self._digest(mine, f"while {agent} was muted"))
        log.info("mute of %s over: %d held toast(s) summed up", agent, len(mine))

    def _release(self) -> None:
        held, self._state.held = self._state.held, []
        self._dirty = False
        self._file.save(self._state)
        questions, self._held_toasts = self._held_toasts, {}
        if held:
            self._renderer.submit(self._digest(held, "while you were away"))
            for toast in questions.values():
                self._renderer.submit(toast)
            log.info("quiet over: %d held toast(s) summed up, %d open question(s) shown", len(held), len(questions))

    def _digest(self, held: list[Held], when: str) -> ToastSpec:
        agents = sorted({h.agent for h in held})
        count = len(held)
        title = (
            f"{count} notification{'s' if count != 1 else ''} from {len(agents)} "
            f"agent{'s' if len(agents) != 1 else ''} {when}"
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
        self._was_holding = reason != MUTED or self._was_holding
        self._decide(toast.publisher, "held")
        log.info("toast %s held (%s)", toast.notification_id, reason)


def _progress_id(key: tuple[str, str]) -> str:
    return f"{key[0]}/progress/{key[1]}"
