"""Carries the user's answers back: backend events and remote answers become one recorded outcome.

Every Interactive notification registers an ask. Whatever decides it first (a button on the desktop,
`toasty answer` in a terminal, dismissal, the server-side deadline, a withdrawal) is written to the log
as an InteractionEvent addressed to the publishing agent, and wakes whoever awaits it. Later events
for the same notification are ignored: exactly one outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from toasty_proto import v1
from toasty_server.access.policy import answer_mailbox, check_owner_or_person, key_digest
from toasty_server.access.principal import Principal
from toasty_server.broker import Broker
from toasty_server.errors import DeadlineExceeded, InvalidArgument, NotFound, PermissionDenied
from toasty_server.render.backend import Interaction, InteractionKind
from toasty_server.render.dispatcher import Renderer, RenderReceipt
from toasty_server.render.spec import ToastSpec
from toasty_server.service.deliveries import delivery_encoder
from toasty_server.service.ids import local_id
from toasty_server.store import Ask

log = logging.getLogger(__name__)

DEADLINE_RECHECK_SECONDS = 2.0  # a hub that does not run deadlines checks whether it has to take them over

_KIND = {
    InteractionKind.BUTTON: v1.InteractionKind.BUTTON,
    InteractionKind.ACTIVATED: v1.InteractionKind.ACTIVATED,
    InteractionKind.DISMISSED: v1.InteractionKind.DISMISSED,
    InteractionKind.TIMED_OUT: v1.InteractionKind.TIMED_OUT,
    InteractionKind.FAILED: v1.InteractionKind.FAILED,
    InteractionKind.UNSUPPORTED: v1.InteractionKind.UNSUPPORTED,
}


class InteractionCoordinator:
    """Owns the path from 'something happened to a toast' to 'the asking agent knows'."""

    def __init__(self, broker: Broker, renderer: Renderer, *, longest_wait: float = 7 * 24 * 3600) -> None:
        # A question without answer_timeout_seconds waits this long (the log's retention age): no ask
        # outlives the log it is recorded in, nor stays in memory for ever.
        self.longest_wait = longest_wait
        self._broker = broker
        self._renderer = renderer
        self._receipt_wanted: set[str] = set()
        self._tasks: set[asyncio.Task[object]] = set()
        self.on_outcome: Callable[[str], None] = lambda kind: None  # metrics hook: one call per outcome
        # takes a toast down wherever it shows or waits to be shown (the attention gate, in the server)
        self.take_down: Callable[[str], Awaitable[None]] = renderer.withdraw
        # a click on one of the hub's own actions (mute, snooze): True when it was one, never an answer
        self.hub_action: Callable[[str, str], bool] = lambda notification_id, action: False
        renderer.on_interaction(self._on_backend_interaction)
        renderer.on_receipt(self._on_receipt)
        broker.asks.on_deadline = self._on_deadline

    # -- publishing side -------------------------------------------------------------------------------

    def ask_for(self, notification: v1.Notification, publisher: str, answer_key: str, key: str) -> Ask | None:
        """The ask an Interactive notification registers (None for other payloads); `answer_key` is the
        secret returned to the publisher that proves the question is its own (access.policy)."""
        payload = notification.interactive
        if payload is None:
            return None
        timeout = notification.answer_timeout_seconds
        return Ask(
            notification_id=key,
            publisher=publisher,
            deadline=time.time() + (min(timeout, self.longest_wait) if timeout else self.longest_wait),
            button_ids=tuple(b.id for b in payload.buttons),
            input_ids=tuple(i.id for i in payload.text_inputs) + tuple(s.id for s in payload.selection_inputs),
            owner_key=key_digest(answer_key) if answer_key else "",
        )

    def want_receipt(self, notification_id: str) -> None:
        self._receipt_wanted.add(notification_id)

    # -- outcomes ----------------------------------------------------------------------------------------

    async def record(
        self,
        notification_id: str,
        kind: v1.InteractionKind,
        *,
        backend: str,
        button_id: str = "",
        inputs: dict[str, str] | None = None,
        detail: str = "",
    ) -> bool:
        """Record the outcome if the ask is still open; True if this call decided it."""
        event = v1.InteractionEvent(
            notification_id=local_id(notification_id),  # the asker's own id for it
            kind=kind,
            button_id=button_id,
            inputs=dict(inputs or {}),
            backend=backend,
            detail=detail,
            occurred_at_unix_ms=int(time.time() * 1000),
        )
        ask = self._broker.asks.get(notification_id)
        if ask is None:
            return False

        mailbox = answer_mailbox(ask)
        encode = delivery_encoder(target=mailbox, interaction=event)
        decided = await self._broker.resolve(notification_id, bytes(event), encode, target=mailbox)
        if decided is None:
            return False
        log.info("notification %s answered: %s %s via %s", notification_id, kind.name, button_id, backend)
        self.on_outcome(kind.name)
        # Decided: take the toast down wherever it still shows (a no-op where the desktop already closed it).
        await self.take_down(notification_id)
        return True

    async def answer(self, request: v1.AnswerRequest, caller: Principal) -> bool:
        """A person's answer given outside the desktop (terminal, web page), or the asking agent resolving
        its own question. The source is the channel it came through, never what the caller says."""
        ask, still_open = await self._known_ask(request.notification_id)
        check_owner_or_person(caller, ask, request.answer_key, "answer")
        source = caller.channel.value if caller.is_person else "agent"
        if not still_open:
            return False  # already decided
        if request.dismiss:
            return await self.record(request.notification_id, v1.InteractionKind.DISMISSED, backend=source)
        if request.button_id not in ask.button_ids:
            choices = ", ".join(ask.button_ids)
            raise InvalidArgument(
                "button_id", f"{request.button_id!r} is not a button of this notification ({choices})"
            )
        unknown = sorted(set(request.inputs) - set(ask.input_ids))
        if unknown:
            raise InvalidArgument(
                "inputs", f"{', '.join(unknown)} not inputs of this notification ({', '.join(ask.input_ids)})"
            )
        return await self.record(
            request.notification_id,
            v1.InteractionKind.BUTTON,
            backend=source,
            button_id=request.button_id,
            inputs=dict(request.inputs),
        )

    async def withdraw(self, notification_id: str, caller: Principal, answer_key: str = "") -> bool:
        """Take the toast down; an open ask ends as WITHDRAWN. False if it was already decided."""
        ask = self._broker.asks.get(notification_id)
        if ask is None:
            found = await self._broker.store.ask_outcome(notification_id)
            if found is not None:  # a question already decided: still only its asker (or the person) may
                check_owner_or_person(caller, found[0], answer_key, "withdraw")
                return False
            await self._check_publisher(notification_id, caller)
            await self.take_down(notification_id)
            return True  # a plain toast: taken down if it was still shown
        check_owner_or_person(caller, ask, answer_key, "withdraw")
        await self.take_down(notification_id)
        return await self.record(notification_id, v1.InteractionKind.WITHDRAWN, backend="publisher")

    async def _check_publisher(self, notification_id: str, caller: Principal) -> None:
        """A plain toast: NOT_FOUND when the log has no such notification; only its publisher (by the
        id it called with) or the person may take it down."""
        entries = await self._broker.store.entries_for(notification_id)
        publishers = {e.publisher for e in entries if e.publisher}
        if not publishers:
            raise NotFound(f"no notification with id {notification_id!r} is retained; nothing to withdraw")
        if not caller.is_person and caller.agent_id not in publishers:
            raise PermissionDenied(
                f"{caller.agent_id!r} may not withdraw notification {notification_id!r}: another agent published it"
            )

    async def await_outcome(
        self, notification_id: str, caller: Principal, max_wait: float | None, answer_key: str = ""
    ) -> v1.InteractionEvent:
        """The outcome of an ask, waiting for it if needed (resumable after reconnects and restarts)."""
        outcome = self._broker.asks.recent_outcome(notification_id)
        ask = self._broker.asks.get(notification_id)
        if ask is None:
            found = await self._broker.store.ask_outcome(notification_id)
            if found is None:
                raise NotFound(f"no Interactive notification with id {notification_id!r} is retained")
            ask, outcome = found[0], outcome if outcome is not None else found[1]
        check_owner_or_person(caller, ask, answer_key, "read the answer to")
        if outcome is None:
            try:
                outcome = await asyncio.wait_for(self._broker.asks.wait(notification_id), max_wait)
            except TimeoutError:
                raise DeadlineExceeded(f"no answer to {notification_id} yet; await it again") from None
        return v1.InteractionEvent.FromString(outcome)

    async def _known_ask(self, notification_id: str) -> tuple[Ask, bool]:
        """The ask (open or decided) and whether it is still open; NOT_FOUND when none is retained."""
        ask = self._broker.asks.get(notification_id)
        if ask is not None:
            return ask, True
        found = await self._broker.store.ask_outcome(notification_id)
        if found is None:
            raise NotFound(f"no Interactive notification with id {notification_id!r} is retained")
        return found[0], found[1] is None

    # -- callbacks from the renderer and the deadline timers ----------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording an interaction failed", exc_info=task.exception())

    def _on_backend_interaction(self, interaction: Interaction) -> None:
        if interaction.kind is InteractionKind.BUTTON and self.hub_action(
            interaction.notification_id, interaction.button_id
        ):
            return  # mute or snooze: the hub's business, not an answer
        if interaction.kind is InteractionKind.UNSUPPORTED:
            # Not an answer: the desktop cannot collect part of what was asked. Tell the agent, keep waiting.
            ask = self._broker.asks.get(interaction.notification_id)
            if ask is not None:
                self._spawn(
                    self._send_receipt(
                        ask.publisher,
                        interaction.notification_id,
                        True,
                        interaction.backend,
                        f"unsupported: {interaction.detail}",
                    )
                )
            return
        self._spawn(
            self.record(
                interaction.notification_id,
                _KIND[interaction.kind],
                backend=interaction.backend,
                button_id=interaction.button_id,
                inputs=interaction.inputs,
                detail=interaction.detail,
            )
        )

    async def expire(self, notification_id: str) -> None:
        """Its expires_at came: a question still open ends EXPIRED (the toast is already down)."""
        if self._broker.asks.get(notification_id) is not None:
            await self.record(notification_id, v1.InteractionKind.EXPIRED, backend="server", detail="expired")

    def _on_deadline(self, ask: Ask) -> None:
        self._spawn(self._time_out(ask))

    async def _time_out(self, ask: Ask) -> None:
        """TIMED_OUT at the deadline, recorded by the hub that runs deadlines (on a shared log, one hub;
        the others check back, and one takes the job over if that hub dies)."""
        while self._broker.asks.get(ask.notification_id) is not None:
            if await self._broker.runs("deadlines"):
                await self.record(
                    ask.notification_id, v1.InteractionKind.TIMED_OUT, backend="server", detail="answer timeout"
                )
                return
            await asyncio.sleep(DEADLINE_RECHECK_SECONDS)

    def _on_receipt(self, toast: ToastSpec, receipt: RenderReceipt) -> None:
        wanted = toast.notification_id in self._receipt_wanted
        self._receipt_wanted.discard(toast.notification_id)
        is_ask = self._broker.asks.get(toast.notification_id) is not None
        if wanted or is_ask:
            self._spawn(
                self._send_receipt(
                    toast.publisher, toast.notification_id, receipt.shown, receipt.backend, receipt.error
                )
            )
        if is_ask and not receipt.shown:
            self._spawn(
                self.record(toast.notification_id, v1.InteractionKind.FAILED, backend="server", detail=receipt.error)
            )

    async def _send_receipt(self, publisher: str, notification_id: str, shown: bool, backend: str, error: str) -> None:
        receipt = v1.ToastReceipt(notification_id=local_id(notification_id), shown=shown, backend=backend, error=error)

        encode = delivery_encoder(target=publisher, receipt=receipt)
        await self._broker.publish(publisher, notification_id, encode, publisher=publisher)
