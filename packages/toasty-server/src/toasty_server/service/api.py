"""What Toasty offers, independent of the transport: the gRPC servicer and the HTTP endpoint both
call these methods with the caller's agent id, so validation, limits and semantics are the same.

Methods raise domain errors (`toasty_server.errors`) and core failures (store, broker); each adapter
turns them into its own status with the one error table, `interceptors.errors.map_exception`.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator

from google.protobuf.message import Message

from toasty_proto import v1
from toasty_server import __version__
from toasty_server.access.principal import Principal, current_principal
from toasty_server.attention.budget import AttentionBudget
from toasty_server.attention.gate import MUTE_SECONDS, SNOOZE_SECONDS, AttentionGate
from toasty_server.broker import Broker, LogReset, RetentionGap, Subscription
from toasty_server.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unavailable
from toasty_server.interceptors.errors import RateLimited
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.mapping import toast_from_notification
from toasty_server.render.spec import ToastSpec
from toasty_server.service.deliveries import delivery_encoder
from toasty_server.service.ids import global_id, is_global, local_id, resolve
from toasty_server.service.interactions import InteractionCoordinator
from toasty_server.service.validation import Validator
from toasty_server.store import Ask, LogEntry

log = logging.getLogger(__name__)


class ToastyApi:
    """Publish, subscribe, ask and answer: the operations every transport exposes."""

    def __init__(
        self, broker: Broker, renderer: Renderer, validator: Validator, interactions: InteractionCoordinator
    ) -> None:
        self.broker = broker
        self.renderer = renderer
        self.validator = validator
        self.interactions = interactions
        self._waiters: dict[str, int] = {}  # agent id -> AwaitInteraction calls waiting now
        self.attention: AttentionBudget | None = None  # new toasts per agent (None: no attention budget)
        self.gate: AttentionGate | None = None  # do-not-disturb and quiet hours (None: every toast is shown)

    # -- publishing --------------------------------------------------------------------------------------

    async def publish(
        self, caller: str, request: v1.PublishRequest, notification_wire: Message | None = None
    ) -> v1.PublishResponse:
        """`notification_wire`: the request's notification as parsed by upb (`service.decoding.WithWire`);
        with it, deliveries reuse its bytes instead of serializing the notification again."""
        notification = self.validator.publish(request)
        return await self._publish(
            caller,
            notification,
            request.target_client_id,
            not request.skip_toast,
            request.want_receipt,
            notification_wire,
        )

    async def send_notification(self, caller: str, request: v1.SendNotificationRequest) -> v1.SendNotificationResponse:
        """The 1.0 API: a broadcast Text toast with a title, one line and a level."""
        self.validator.send_notification(request)
        notification = v1.Notification(
            urgency=request.level,
            text_message=v1.TextMessage(header=v1.Header(title=request.title), body_text_line1=request.message),
        )
        response = await self._publish(caller, notification, "", show_toast=True)
        return v1.SendNotificationResponse(
            success=True,
            notification_id=response.notification_id,
            message=f"queued for {response.queued_subscribers} subscriber(s)",
        )

    async def _publish(
        self,
        publisher: str,
        notification: v1.Notification,
        target: str,
        show_toast: bool,
        want_receipt: bool = False,
        notification_wire: Message | None = None,
    ) -> v1.PublishResponse:
        if not notification.id:
            notification.id = uuid.uuid4().hex
            if notification_wire is not None:
                notification_wire.id = notification.id  # type: ignore[attr-defined]  # (a generated upb field)
        # Deliveries carry the id as the publisher gave it (with publisher_agent_id); the server keys the
        # log, the question and the toast by the global id, so two agents may use one id (service.ids).
        key = global_id(publisher, notification.id)
        # A caller without a credential proves a question is its own with this key; its id is only a claim.
        asking = notification.interactive is not None
        answer_key = secrets.token_urlsafe(24) if asking and not current_principal().proved else ""
        ask = self.interactions.ask_for(notification, publisher, answer_key, key)
        if ask is not None and self.broker.asks.get(key) is not None:
            raise FailedPrecondition(
                f"notification.id {notification.id!r} is already waiting for an answer; use a new id"
            )
        if ask is not None:
            self._check_open_questions(publisher)
        if show_toast and self.attention is not None:
            try:
                await self.attention.admit(publisher, notification)
            except RateLimited:
                if self.gate is not None:
                    self.gate.refused(publisher)
                raise
        if show_toast and self.gate is not None:
            self.gate.check_room(notification.deliver_at_unix_ms, notification.expires_at_unix_ms)

        # Serialized once per publish; every subscriber stream gets these same bytes.
        payload = notification if notification_wire is None else notification_wire.SerializeToString()
        encode = delivery_encoder(target=target, publisher=publisher, skip_toast=not show_toast, notification=payload)
        outcome = await self.broker.publish(
            target, key, encode, publisher=publisher, idempotency_key=notification.idempotency_key, ask=ask
        )
        if outcome.duplicate:
            return v1.PublishResponse(
                notification_id=local_id(outcome.notification_id),
                success=True,
                sequence=outcome.sequence,
                duplicate=True,
            )
        toast = toast_from_notification(notification, publisher, toast_id=key)
        if show_toast and self.attention is not None:  # admitted: its progress key now shows (or will)
            self.attention.shown(publisher, notification)
        desk = self.gate if self.gate is not None else self.renderer
        toast_requested = show_toast and desk.submit(toast)
        if want_receipt and toast_requested:  # no toast, no receipt: remembering the id would leak it
            self.interactions.want_receipt(key)
        log.debug("published %s seq=%d to %s", notification.id, outcome.sequence, target or "*")
        return v1.PublishResponse(
            notification_id=notification.id,
            success=True,
            sequence=outcome.sequence,
            queued_subscribers=outcome.queued_subscribers,
            toast_requested=toast_requested,
            answer_key=answer_key if ask is not None else "",
        )

    async def _named(self, caller: Principal, given: str) -> str:
        """The global id a caller means. An agent's local id is in its own namespace; the person, who
        names other agents' questions, may also use a local id that only one open question has."""
        own = resolve(caller.agent_id, given)
        if not caller.is_person or is_global(given) or self.broker.asks.get(own) is not None:
            return own
        matches = sorted(a.notification_id for a in self.broker.asks.pending() if local_id(a.notification_id) == given)
        if len(matches) > 1:
            raise FailedPrecondition(
                f"several agents have an open question {given!r} ({', '.join(matches[:5])}): name one by its "
                "global id, <agent>~<id>"
            )
        if matches:
            return matches[0]
        if await self.broker.store.ask_outcome(own) is None and not await self.broker.store.entries_for(own):
            raise NotFound(
                f"no open question has the id {given!r}: name a decided one, or another agent's, by its global id "
                f"(<agent>~{given}, as `toasty asks`, the toast and the page show it)"
            )
        return own

    def _check_open_questions(self, publisher: str) -> None:
        limit = self.validator.limits.open_questions
        if sum(1 for a in self.broker.asks.pending() if a.publisher == publisher) >= limit:
            raise FailedPrecondition(
                f"agent {publisher!r} already has {limit} questions waiting for an answer "
                "(TOASTY_MAX_OPEN_QUESTIONS_PER_AGENT); wait for an answer or withdraw one"
            )

    # -- subscribing -------------------------------------------------------------------------------------

    def open_subscription(self, caller: str, request: v1.SubscriptionRequest) -> Subscription:
        """Validate and register a stream (replacing an earlier one with the same client id)."""
        client_id = request.client_id or caller
        self.validator.client_id("client_id", client_id)
        subscription = self.broker.subscribe(
            client_id, request.after_sequence or None, from_beginning=request.from_beginning, log_id=request.log_id
        )
        log.info("subscriber %s connected after sequence %d", client_id, request.after_sequence)
        return subscription

    async def deliveries(self, subscription: Subscription) -> AsyncIterator[bytes]:
        """Serialized Delivery messages: catch-up from the log, then live; ends with the subscription."""
        async for item in self.broker.deliveries(subscription):
            if isinstance(item, RetentionGap):
                yield bytes(_gap_delivery(item))
            elif isinstance(item, LogReset):
                yield bytes(_reset_delivery(item))
            else:
                yield item.payload

    @property
    def log_id(self) -> str:
        """The log sequences belong to; subscribers send it back when they resume (`log_id`)."""
        return self.broker.store.log_id

    def close_subscription(self, subscription: Subscription) -> None:
        self.broker.unsubscribe(subscription)
        log.info("subscriber %s disconnected at sequence %d", subscription.client_id, subscription.cursor)

    # -- interactions ------------------------------------------------------------------------------------

    async def await_interaction(
        self, caller: Principal, request: v1.AwaitInteractionRequest, default_wait: float | None = None
    ) -> v1.InteractionEvent:
        """The outcome of one of the caller's Interactive notifications (any, for the person)."""
        self.validator.notification_ref("notification_id", request.notification_id)
        notification_id = await self._named(caller, request.notification_id)
        wait = self.validator.wait_seconds("timeout_seconds", request.timeout_seconds, default_wait)
        waiting = self._waiters.get(caller.agent_id, 0)
        if waiting >= self.validator.limits.open_questions:
            raise FailedPrecondition(
                f"{waiting} AwaitInteraction calls of agent {caller.agent_id!r} are already waiting "
                "(TOASTY_MAX_OPEN_QUESTIONS_PER_AGENT); let one finish first"
            )
        self._waiters[caller.agent_id] = waiting + 1
        try:
            return await self.interactions.await_outcome(notification_id, caller, wait, request.answer_key)
        finally:
            left = self._waiters.pop(caller.agent_id) - 1
            if left:
                self._waiters[caller.agent_id] = left

    async def withdraw(self, caller: Principal, request: v1.WithdrawRequest) -> v1.WithdrawResponse:
        self.validator.notification_ref("notification_id", request.notification_id)
        notification_id = await self._named(caller, request.notification_id)
        withdrawn = await self.interactions.withdraw(notification_id, caller, request.answer_key)
        return v1.WithdrawResponse(withdrawn=withdrawn)

    async def answer(self, caller: Principal, request: v1.AnswerRequest) -> v1.AnswerResponse:
        self.validator.notification_ref("notification_id", request.notification_id)
        request.notification_id = await self._named(caller, request.notification_id)
        for key, value in request.inputs.items():
            self.validator.text(f"inputs[{key!r}]", value)
        log.info(
            "answer to %s from %s (%s) via %s", request.notification_id, caller.agent_id, caller.role, caller.channel
        )
        return v1.AnswerResponse(accepted=await self.interactions.answer(request, caller))

    async def open_questions(self, caller: Principal) -> v1.ListQuestionsResponse:
        """The questions waiting for an answer, oldest first: every one for the person (what `toasty asks`
        shows), the caller's own for an agent."""
        mine = [a for a in self.broker.asks.pending() if caller.is_person or a.publisher == caller.agent_id]
        return v1.ListQuestionsResponse(questions=[await self._open_question(ask) for ask in mine])

    async def _open_question(self, ask: Ask) -> v1.OpenQuestion:
        question = v1.OpenQuestion(
            notification_id=ask.notification_id,
            publisher_agent_id=ask.publisher,
            button_ids=list(ask.button_ids),
            deadline_unix_ms=int(ask.deadline * 1000),
        )
        found = await self.question_delivery(ask)
        if found is not None:
            entry, delivery = found
            asked = delivery.notification.interactive if delivery.notification is not None else None
            if asked is not None and asked.header is not None:
                question.title = asked.header.title
            question.asked_at_unix_ms = int(entry.published_at * 1000)
        return question

    async def question_delivery(self, ask: Ask) -> tuple[LogEntry, v1.Delivery] | None:
        """The retained Delivery that published this question (the newest one with its id), or None when
        the log no longer holds it. A damaged entry is skipped and logged, never raised to the caller."""
        found = await self._published(ask.notification_id, interactive=True)
        if found is None:
            log.debug("the content of open question %s is no longer retained", ask.notification_id)
        return found

    async def toast_for(self, notification_id: str) -> ToastSpec | None:
        """The toast of a notification still in the log (a scheduled one, after a restart), or None."""
        found = await self._published(notification_id)
        if found is None:
            return None
        _, delivery = found
        assert delivery.notification is not None
        return toast_from_notification(delivery.notification, delivery.publisher_agent_id, toast_id=notification_id)

    async def _published(
        self, notification_id: str, *, interactive: bool = False
    ) -> tuple[LogEntry, v1.Delivery] | None:
        """The newest retained Delivery publishing `notification_id` (an Interactive one when asked);
        damaged entries are skipped with a log line."""
        for entry in reversed(await self.broker.store.entries_for(notification_id)):
            try:
                delivery = v1.Delivery.FromString(entry.payload)
            except Exception:
                log.warning("log entry %d cannot be decoded; %s read without it", entry.sequence, notification_id)
                continue
            notification = delivery.notification
            if notification is not None and (not interactive or notification.interactive is not None):
                return entry, delivery
        return None

    # -- attention (do-not-disturb) ----------------------------------------------------------------------

    def set_do_not_disturb(self, caller: Principal, request: v1.DoNotDisturbRequest) -> v1.AttentionState:
        """The person turns do-not-disturb on (for a while, or until a time) or off."""
        gate = self._attention_gate(caller, "turn do-not-disturb on or off")
        until = 0.0
        if request.on and request.for_seconds:
            until = time.time() + request.for_seconds
        elif request.on and request.until_unix_ms:
            until = request.until_unix_ms / 1000
            if until <= time.time():
                raise InvalidArgument("until_unix_ms", "is in the past: give a time still to come, or for_seconds")
        gate.set_do_not_disturb(request.on, until)
        return gate.state()

    def mute(self, caller: Principal, request: v1.MuteRequest) -> v1.AttentionState:
        """The person mutes an agent for a while (its questions still show), or unmutes it."""
        gate = self._attention_gate(caller, "mute an agent")
        self.validator.identifier("agent", request.agent, required=True)
        gate.mute(request.agent, 0 if request.unmute else (request.for_seconds or MUTE_SECONDS))
        return gate.state()

    def snooze(self, caller: Principal, request: v1.SnoozeRequest) -> v1.SnoozeResponse:
        """The person puts an open question off for a while; it comes back (before its deadline)."""
        gate = self._attention_gate(caller, "snooze a question")
        back = gate.snooze(request.notification_id, request.seconds or SNOOZE_SECONDS)
        return v1.SnoozeResponse(back_at_unix_ms=int(back * 1000))

    def attention_state(self, caller: Principal) -> v1.AttentionState:
        return self._attention_gate(caller, "see do-not-disturb and the held toasts").state()

    def _attention_gate(self, caller: Principal, what: str) -> AttentionGate:
        if not caller.is_person:
            raise PermissionDenied(f"only the person may {what}: present the person secret (the `toasty` command does)")
        if self.gate is None:
            raise Unavailable("this hub has no attention gate")
        return self.gate

    # -- status ------------------------------------------------------------------------------------------

    def status(self) -> v1.StatusResponse:
        return v1.StatusResponse(
            version=__version__,
            store=self.broker.store.name,
            backends=self.renderer.backend_names,
            desktops=[
                v1.DesktopStatus(
                    backend=d.backend,
                    available=d.available,
                    detail=d.detail,
                    server_name=d.server_name,
                    server_vendor=d.server_vendor,
                    server_version=d.server_version,
                    spec_version=d.spec_version,
                    capabilities=list(d.capabilities),
                )
                for d in self.renderer.status()
            ],
            last_sequence=self.broker.last_sequence,
            pending_interactions=len(self.broker.asks),
            subscribers=[
                v1.SubscriberStatus(client_id=s.client_id, queued=len(s.mailbox), last_sequence=s.cursor)
                for s in self.broker.subscriptions
            ],
        )


def _gap_delivery(gap: RetentionGap) -> v1.Delivery:
    return v1.Delivery(
        sequence=gap.last,
        gap=v1.Gap(
            from_sequence=gap.first,
            to_sequence=gap.last,
            reason="retention removed these entries before this subscriber read them",
        ),
    )


def _reset_delivery(reset: LogReset) -> v1.Delivery:
    return v1.Delivery(
        sequence=0,
        reset=v1.LogReset(
            resumed_after=reset.resumed_after,
            log_end=reset.log_end,
            log_id=reset.log_id,
            reason="the subscriber resumed after a sequence of another log (a new or restored database, or an "
            "in-memory server restarted): what this log retains follows from its beginning",
        ),
    )
