"""The attention budget: an agent may put so many *new* toasts in front of the person per window.

A person's attention is what the limit protects, not the server's CPU: the 11th update of a progress bar
is not an 11th interruption. So only a publish that opens a new toast spends the budget (default 10 a
minute per agent, TOASTY_RATE_LIMIT); updates of a progress key the agent already shows, skip_toast
deliveries, withdrawals and reads do not. They are bounded by the far larger call budget
(TOASTY_CALL_RATE_LIMIT), which only stops a runaway loop. A refusal says when the budget has room again;
the client waits that long by itself.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from toasty_proto import v1
from toasty_server.interceptors.errors import RateLimited
from toasty_server.interceptors.ratelimit import RatePolicy

MAX_SHOWN_PROGRESS = 10_000  # progress keys remembered as shown (the least recently updated forgotten)
_FINISHED = frozenset({v1.ProgressState.SUCCEEDED, v1.ProgressState.FAILED})


class Limiters(Protocol):
    """Per-agent buckets: this hub's (AgentLimiters) or the deployment's (attention.shared)."""

    @property
    def policy(self) -> RatePolicy: ...

    async def try_acquire(self, agent: str) -> float | None: ...


class AttentionBudget:
    """Admits new toasts per agent; remembers which progress keys each agent already shows (on this hub:
    an update of a bar shown through another hub of a deployment counts once more, here)."""

    def __init__(self, limiters: Limiters, on_refusal: Callable[[], None] = lambda: None) -> None:
        self._limiters = limiters
        self._on_refusal = on_refusal
        self._shown_progress: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def admit(self, publisher: str, notification: v1.Notification) -> None:
        """Spend one unit of `publisher`'s budget if `notification` opens a new toast; RateLimited when
        the budget is spent (nothing else happens: the publish is refused before it is stored)."""
        if self._updates_a_shown_progress(publisher, notification):
            return
        retry_after = await self._limiters.try_acquire(publisher)
        if retry_after is None:
            return
        self._on_refusal()
        limit, window = self._limiters.policy.limit_for(publisher), self._limiters.policy.window
        raise RateLimited(
            f"agent {publisher!r} has shown its {limit:g} new toasts per {window:g}s (the attention budget, "
            f"TOASTY_RATE_LIMIT): retry in {retry_after:.1f}s. Progress updates of a shown bar and skip_toast "
            "deliveries do not count; raise one agent's budget with TOASTY_RATE_OVERRIDES",
            retry_after,
        )

    def shown(self, publisher: str, notification: v1.Notification) -> None:
        """Record a toast handed to the desktop: its progress key is shown until it finishes."""
        progress = notification.progress
        if progress is None or not progress.progress_key:
            return
        key = (publisher, progress.progress_key)
        if progress.state in _FINISHED:
            self._shown_progress.pop(key, None)
            return
        self._shown_progress[key] = None
        self._shown_progress.move_to_end(key)
        if len(self._shown_progress) > MAX_SHOWN_PROGRESS:
            self._shown_progress.popitem(last=False)

    def _updates_a_shown_progress(self, publisher: str, notification: v1.Notification) -> bool:
        progress = notification.progress
        return progress is not None and (publisher, progress.progress_key) in self._shown_progress
