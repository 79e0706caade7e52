"""What the person does with a toast on this device, sent to the hub as the person's answer.

A button (with whatever was typed or chosen) becomes `Answer(id, button, inputs)`, a dismissal
`Answer(id, dismiss=True)`: the same outcomes the hub records for its own desktop. A body click
(ACTIVATED), the desktop's expiry (TIMED_OUT), a failure and UNSUPPORTED (inputs this desktop cannot
collect) are not answers: the question stays open on the other devices, the page and the terminal.

The hub decides: the first answer wins, and a later one is refused (`accepted` false) and logged. An
answer given while the hub is unreachable is retried for `patience` seconds, then logged as lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from toasty_client import ServerUnavailable, ToastyError
from toasty_server.render.backend import Interaction, InteractionKind

log = logging.getLogger(__name__)

ANSWER_PATIENCE_SECONDS = 60.0
RETRY_SECONDS = 1.0


class AnswerCall(Protocol):
    """`client.answer(notification_id, button_id, inputs, dismiss=...)`."""

    def __call__(
        self, notification_id: str, button_id: str = "", inputs: dict[str, str] | None = None, *, dismiss: bool = False
    ) -> Awaitable[bool]: ...


class AnswerSender:
    """The renderer's interaction sink: answers for the questions this device shows."""

    def __init__(
        self,
        answer: AnswerCall,
        is_question: Callable[[str], bool],
        answered: Callable[[str], None],
        *,
        patience: float = ANSWER_PATIENCE_SECONDS,
    ) -> None:
        self._answer = answer
        self._is_question = is_question
        self._answered = answered
        self._patience = patience
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, interaction: Interaction) -> None:
        """Called by the renderer on the event loop; the answer is sent by a task of its own."""
        nid = interaction.notification_id
        if interaction.kind in (InteractionKind.BUTTON, InteractionKind.DISMISSED) and self._is_question(nid):
            self._answered(nid)
            dismiss = interaction.kind is InteractionKind.DISMISSED
            self._spawn(self._send(nid, interaction.button_id, dict(interaction.inputs), dismiss=dismiss))
        elif interaction.kind is InteractionKind.UNSUPPORTED:
            log.info(
                "this desktop cannot collect what question %s asks (%s): answer it on the page or with "
                "`toasty answer %s BUTTON --input ID=VALUE`",
                nid,
                interaction.detail,
                nid,
            )
        elif interaction.kind is InteractionKind.FAILED:
            log.warning("toast %s failed on %s: %s", nid, interaction.backend, interaction.detail)
        else:
            log.debug("toast %s: %s on %s (not an answer)", nid, interaction.kind.value, interaction.backend)

    async def close(self) -> None:
        """Give answers in flight a moment to reach the hub (the person clicked: do not drop it on exit)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=3.0)
        for task in list(self._tasks):
            task.cancel()

    async def _send(self, nid: str, button_id: str, inputs: dict[str, str], *, dismiss: bool) -> None:
        what = "dismissal" if dismiss else f"answer {button_id!r}"
        give_up = time.monotonic() + self._patience
        while True:
            try:
                accepted = await self._answer(nid, button_id, inputs, dismiss=dismiss)
            except ServerUnavailable as exc:
                if time.monotonic() >= give_up:
                    log.error(
                        "the %s to %s could not reach the hub for %.0f s (%s): it is not recorded; answer it "
                        "again on the page or with `toasty answer`",
                        what,
                        nid,
                        self._patience,
                        exc,
                    )
                    return
                log.info("the hub is unreachable; the %s to %s is retried", what, nid)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            except ToastyError as exc:
                log.warning("the hub refused the %s to %s: %s", what, nid, exc)
                return
            if accepted:
                log.info("the hub recorded the %s to %s", what, nid)
            else:
                log.info("the %s to %s came too late: the question was already decided", what, nid)
            return

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
