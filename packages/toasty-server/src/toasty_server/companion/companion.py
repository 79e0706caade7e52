"""The companion: the person's subscription in, this device's toasts out, the person's answers back.

One task follows the hub: it checks the hub answers (`GetStatus`), subscribes as the person under this
device's client id after its resume point, and hands each notification to the local renderer. The
client reconnects by itself; when it gives up (the hub is down for more than a moment) this loop logs
one line, keeps probing with a growing delay, logs one line when the hub is back, and resubscribes from
the resume point: nothing is lost, nothing shown twice, and the companion never exits for an outage.
It exits only for what retrying cannot fix: a credential the hub refuses, or another companion that took
this client id over.

The person's attention rules (do-not-disturb, quiet hours, mutes) are set on the hub: the companion
follows them (`GetAttention` every second) through the hub's own attention gate in front of its
renderer, so held toasts, the digest, schedules, expiry, grouping and snoozing work on every device as
on the hub's desktop. "Mute this agent" clicked here mutes it on the hub, for every device.

The hub's sequences belong to its log; the client cannot be handed the log id across restarts, so a hub
whose last sequence is below the saved resume point is taken for a new log (a new or restored database,
an in-memory hub restarted) and read from its beginning, within --max-age.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from toasty_client import (
    InvalidNotification,
    PermissionDenied,
    ResilientNotificationClient,
    RetryPolicy,
    SubscriptionReplaced,
    ToastyError,
    Unauthenticated,
)
from toasty_proto import v1
from toasty_server.attention.gate import MUTE_ACTION, MUTE_SECONDS, AttentionGate
from toasty_server.attention.quiet import AttentionFile, QuietHours
from toasty_server.companion.answers import AnswerSender
from toasty_server.companion.cursor import CursorFile, ResumePoint
from toasty_server.companion.desktop import build_renderer
from toasty_server.companion.options import CompanionOptions, default_cache_dir, default_state_dir
from toasty_server.companion.questions import QuestionWatch
from toasty_server.companion.toasts import Skipped, toast_for
from toasty_server.render.backend import Interaction, InteractionKind
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.spec import Kind, ToastSpec

log = logging.getLogger(__name__)

# Calls give up quickly (the loop below owns the long wait); a subscription after 3 failed reconnects.
RETRY = RetryPolicy(initial_backoff=0.2, max_backoff=2.0, publish_attempts=3, subscribe_max_attempts=3)
PROBE_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)  # between probes of an unreachable hub; the last one repeats
SAVE_SECONDS = 0.5  # how often a changed resume point is written
SEEN_KEPT = 4096  # notifications remembered to drop a duplicate delivered again after a resubscription
ATTENTION_SECONDS = 1.0  # how often the hub's do-not-disturb, quiet hours and mutes are read


class CompanionError(Exception):
    """What retrying cannot fix; the message says what to change."""


class DesktopCompanion:
    """Shows the person's toasts on this device until `run`'s stop event is set."""

    def __init__(
        self,
        options: CompanionOptions,
        *,
        client: ResilientNotificationClient | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self.options = options
        self.client = client or ResilientNotificationClient(
            options.hub, agent_id=options.client_id, token=options.token, retry=RETRY, ca_file=options.ca_file
        )
        self.renderer = renderer or build_renderer(options.renderer, options.cache_dir or default_cache_dir())
        state_dir = options.state_dir or default_state_dir()
        self.cursor = CursorFile(state_dir, options.hub, options.client_id)
        self.point = ResumePoint(0)
        self.gate = AttentionGate(
            self.renderer,
            quiet_hours=QuietHours(),
            state_file=AttentionFile(self.cursor.path.with_name(f"{self.cursor.path.stem}.attention.json")),
            deadline_of=lambda notification_id: 0.0 if notification_id in self.questions.shown else None,
        )
        self.questions = QuestionWatch(self.client.open_questions, self.gate.withdraw, interval=options.poll_seconds)
        self.answers = AnswerSender(self.client.answer, self.questions.shown.__contains__, self.questions.answered_here)
        self.renderer.on_interaction(self._on_interaction)
        self.renderer.on_receipt(self.questions.on_receipt)
        self._seen: OrderedDict[str, None] = OrderedDict()  # global ids of the notifications handled
        self._tasks: set[asyncio.Future[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; raises CompanionError for what retrying cannot fix. Always closes the
        renderer and the client, and saves the resume point."""
        saved = self.cursor.load()
        if saved is None:
            log.info("no resume point for %s yet: showing what the hub publishes from now on", self.options.client_id)
        else:
            self.point = saved
        self.client.connect()
        tasks: list[asyncio.Future[Any]] = []
        try:
            await self.renderer.start()
            follow = asyncio.ensure_future(self._follow(first_run=saved is None))
            stopping = asyncio.ensure_future(stop.wait())
            tasks = [follow, stopping, asyncio.ensure_future(self.questions.run())]
            tasks.append(asyncio.ensure_future(self._save_periodically()))
            tasks.append(asyncio.ensure_future(self._follow_attention()))
            self.gate.start()
            await asyncio.wait([follow, stopping], return_when=asyncio.FIRST_COMPLETED)
            if follow.done():
                follow.result()  # raises what ended it
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.cursor.save(self.point)
            await self.answers.close()
            await self.gate.close()
            await self.renderer.close()
            await self.client.close()
            log.info("stopped; resume point: sequence %d", self.point.sequence)

    # -- following the hub -------------------------------------------------------------------------------

    async def _follow(self, *, first_run: bool) -> None:
        hub, client_id = self.options.hub, self.options.client_id
        unreachable_since_logged = False
        attempt = 0
        while True:
            try:
                status = await self.client.status()
            except (Unauthenticated, PermissionDenied) as exc:
                raise CompanionError(f"hub {hub} refuses this companion's credential: {exc}") from exc
            except ToastyError as exc:
                if not unreachable_since_logged:
                    log.warning(
                        "hub %s is unreachable (%s): toasts and answers wait until it is back; retrying", hub, exc
                    )
                    unreachable_since_logged = True
                await asyncio.sleep(PROBE_DELAYS[min(attempt, len(PROBE_DELAYS) - 1)])
                attempt += 1
                continue
            if unreachable_since_logged:
                log.info("hub %s is back", hub)
                unreachable_since_logged = False
            attempt = 0
            if first_run:  # the live edge as a sequence: an early reconnect then loses nothing
                self.point, first_run = ResumePoint(status.last_sequence), False
            elif status.last_sequence < self.point.sequence:
                log.warning(
                    "hub %s's log ends at sequence %d, before this device's resume point %d: it is another log "
                    "(a new database?); showing what it retains, within --max-age",
                    hub,
                    status.last_sequence,
                    self.point.sequence,
                )
                self.point = ResumePoint(0, replay=True)
            log.info("following hub %s as %s after sequence %d", hub, client_id, self.point.sequence)
            try:
                await self._read()
            except SubscriptionReplaced as exc:
                raise CompanionError(
                    f"another companion subscribed to {hub} as {client_id!r} and took its stream over: give each "
                    "device its own --client-id"
                ) from exc
            except (Unauthenticated, PermissionDenied) as exc:
                raise CompanionError(f"hub {hub} refuses this companion's credential: {exc}") from exc
            except InvalidNotification as exc:  # the hub refuses the client id
                raise CompanionError(f"hub {hub} refuses the subscription: {exc}") from exc
            except ToastyError as exc:
                log.debug("subscription ended (%s): checking the hub", exc)

    async def _read(self) -> None:
        point = self.point
        async for delivery in self.client.subscribe(
            self.options.client_id, after_sequence=point.sequence, from_beginning=point.replay
        ):
            await self._handle(delivery)

    async def _handle(self, delivery: v1.Delivery) -> None:
        if delivery.reset is not None:  # the client reads the hub's new log from its beginning
            self.point = ResumePoint(0, replay=True)
            return
        if delivery.gap is not None:
            log.info(
                "the hub's retention removed sequences %d..%d before this device read them",
                delivery.gap.from_sequence,
                delivery.gap.to_sequence,
            )
        toast = toast_for(delivery, max_age_seconds=self.options.max_age_seconds)
        if isinstance(toast, Skipped):
            log.debug("notification %s not shown: %s", toast.notification_id, toast.reason)
        elif toast is not None and self._first_time(toast.notification_id):
            await self._show(toast)
        self.point = ResumePoint(delivery.sequence)

    async def _show(self, toast: ToastSpec) -> None:
        if toast.kind is Kind.INTERACTIVE:
            if not await self.questions.still_open(toast.notification_id):
                log.debug("question %s was decided before it reached this device: not shown", toast.notification_id)
                return
            self.questions.showing(toast.notification_id)
        self.gate.submit(toast)  # shown, kept for its time, or held (the hub's do-not-disturb, mutes)

    def _first_time(self, notification_id: str) -> bool:
        """False for a notification already handled (a publish retried by its agent, delivered again after
        a resubscription): the client drops those only within one subscription."""
        if notification_id in self._seen:
            return False
        self._seen[notification_id] = None
        while len(self._seen) > SEEN_KEPT:
            self._seen.popitem(last=False)
        return True

    def _on_interaction(self, interaction: Interaction) -> None:
        """The hub's own actions first: a mute goes to the hub (for every device), a snooze stays here."""
        if interaction.kind is InteractionKind.BUTTON and interaction.button_id == MUTE_ACTION.id:
            agent = interaction.notification_id.partition("~")[0]
            task = asyncio.ensure_future(self._mute_on_hub(agent))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        if interaction.kind is InteractionKind.BUTTON and self.gate.hub_action(
            interaction.notification_id, interaction.button_id
        ):
            return
        self.answers(interaction)

    async def _mute_on_hub(self, agent: str) -> None:
        try:
            self.gate.mirror(await self.client.mute(agent, for_seconds=MUTE_SECONDS))
        except ToastyError as exc:
            log.warning("mute of %s not sent to the hub: %s", agent, exc)

    async def _follow_attention(self) -> None:
        """Do-not-disturb, quiet hours and mutes as the person set them on the hub."""
        while True:
            try:
                self.gate.mirror(await self.client.attention())
            except ToastyError as exc:
                log.debug("attention state not read (%s): keeping the last one", exc)
            await asyncio.sleep(ATTENTION_SECONDS)

    async def _save_periodically(self) -> None:
        while True:
            await asyncio.sleep(SAVE_SECONDS)
            self.cursor.save(self.point)  # (a failure is logged, and retried at the next change)
