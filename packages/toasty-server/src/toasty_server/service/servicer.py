"""The NotificationService RPCs: validate, hand to the broker and the renderer, answer."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from toasty_proto import v1
from toasty_server import __version__
from toasty_server.broker import Broker, BrokerClosed, RetentionGap, SubscriptionReplaced
from toasty_server.errors import FailedPrecondition, Replaced, ToastyError, Unavailable
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.mapping import toast_from_notification
from toasty_server.service.context import abort, agent_id
from toasty_server.service.interactions import InteractionCoordinator
from toasty_server.service.validation import Validator
from toasty_server.store import StoreUnavailable

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Unary = Callable[["NotificationServicer", Req, grpc.aio.ServicerContext[Any, Any]], Awaitable[Resp]]


def _maps_errors(method: Unary[Req, Resp]) -> Unary[Req, Resp]:
    """Turn domain errors raised by a unary handler into their gRPC status."""

    @functools.wraps(method)
    async def wrapper(self: NotificationServicer, request: Req, context: grpc.aio.ServicerContext[Any, Any]) -> Resp:
        try:
            return await method(self, request, context)
        except ToastyError as exc:
            await abort(context, exc)
        except StoreUnavailable as exc:
            await abort(context, Unavailable(f"the delivery log cannot be written, nothing was sent: {exc}"))
        except BrokerClosed:
            await abort(context, Unavailable("the server is shutting down; retry shortly"))

    return wrapper


class NotificationServicer:
    """Implements toasty.v1.NotificationService on grpc.aio."""

    def __init__(
        self, broker: Broker, renderer: Renderer, validator: Validator, interactions: InteractionCoordinator
    ) -> None:
        self._broker = broker
        self._renderer = renderer
        self._validator = validator
        self._interactions = interactions

    def _agent(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        return agent_id(context, self._validator.limits.id_chars)

    @_maps_errors
    async def publish(
        self, request: v1.PublishRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> v1.PublishResponse:
        publisher = self._agent(context)
        notification = self._validator.publish(request)
        return await self._publish(
            publisher, notification, request.target_client_id, not request.skip_toast, request.want_receipt
        )

    @_maps_errors
    async def send_notification(
        self, request: v1.SendNotificationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> v1.SendNotificationResponse:
        """The 1.0 API: a broadcast Text toast with a title, one line and a level."""
        publisher = self._agent(context)
        self._validator.send_notification(request)
        notification = v1.Notification(
            urgency=request.level,
            text_message=v1.TextMessage(header=v1.Header(title=request.title), body_text_line1=request.message),
        )
        response = await self._publish(publisher, notification, "", show_toast=True)
        return v1.SendNotificationResponse(
            success=True,
            notification_id=response.notification_id,
            message=f"queued for {response.queued_subscribers} subscriber(s)",
        )

    async def _publish(
        self, publisher: str, notification: v1.Notification, target: str, show_toast: bool, want_receipt: bool = False
    ) -> v1.PublishResponse:
        if not notification.id:
            notification.id = uuid.uuid4().hex
        ask = self._interactions.ask_for(notification, publisher)
        if ask is not None and self._broker.asks.get(notification.id) is not None:
            raise FailedPrecondition(
                f"notification.id {notification.id!r} is already waiting for an answer; use a new id"
            )

        def encode(sequence: int, published_at: float) -> bytes:
            # Serialized once per publish; every subscriber stream gets these same bytes.
            return bytes(
                v1.Delivery(
                    sequence=sequence,
                    published_at_unix_ms=int(published_at * 1000),
                    publisher_agent_id=publisher,
                    target_client_id=target,
                    notification=notification,
                )
            )

        outcome = await self._broker.publish(
            target, notification.id, encode, publisher=publisher, idempotency_key=notification.idempotency_key, ask=ask
        )
        if outcome.duplicate:
            return v1.PublishResponse(
                notification_id=outcome.notification_id, success=True, sequence=outcome.sequence, duplicate=True
            )
        if want_receipt:
            self._interactions.want_receipt(notification.id)
        toast_requested = show_toast and self._renderer.submit(toast_from_notification(notification, publisher))
        log.debug("published %s seq=%d to %s", notification.id, outcome.sequence, target or "*")
        return v1.PublishResponse(
            notification_id=notification.id,
            success=True,
            sequence=outcome.sequence,
            queued_subscribers=outcome.queued_subscribers,
            toast_requested=toast_requested,
        )

    async def subscribe(
        self, request: v1.SubscriptionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        """Stream serialized Delivery messages: catch-up from the log, then live."""
        try:
            client_id = request.client_id or self._agent(context)
            self._validator.client_id("client_id", client_id)
            subscription = self._broker.subscribe(
                client_id, request.after_sequence or None, from_beginning=request.from_beginning
            )
        except ToastyError as exc:
            await abort(context, exc)
        except BrokerClosed:
            await abort(context, Unavailable("the server is shutting down; reconnect and resume"))
        log.info("subscriber %s connected after sequence %d", client_id, request.after_sequence)
        try:
            async for item in self._broker.deliveries(subscription):
                if isinstance(item, RetentionGap):
                    yield bytes(_gap_delivery(item))
                else:
                    yield item.payload
        except SubscriptionReplaced:
            await abort(context, Replaced(f"a newer Subscribe with client_id {client_id!r} replaced this stream"))
        except BrokerClosed:
            await abort(context, Unavailable("the server is shutting down; reconnect and resume"))
        finally:
            self._broker.unsubscribe(subscription)
            log.info("subscriber %s disconnected at sequence %d", client_id, subscription.cursor)

    @_maps_errors
    async def await_interaction(
        self, request: v1.AwaitInteractionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> v1.InteractionEvent:
        """The outcome of one of the caller's Interactive notifications, waiting for it if needed."""
        self._validator.identifier("notification_id", request.notification_id, required=True)
        timeout = request.timeout_seconds if request.timeout_seconds > 0 else context.time_remaining()
        return await self._interactions.await_outcome(request.notification_id, self._agent(context), timeout)

    @_maps_errors
    async def withdraw(
        self, request: v1.WithdrawRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> v1.WithdrawResponse:
        self._validator.identifier("notification_id", request.notification_id, required=True)
        withdrawn = await self._interactions.withdraw(request.notification_id, self._agent(context))
        return v1.WithdrawResponse(withdrawn=withdrawn)

    @_maps_errors
    async def answer(self, request: v1.AnswerRequest, context: grpc.aio.ServicerContext[Any, Any]) -> v1.AnswerResponse:
        self._validator.identifier("notification_id", request.notification_id, required=True)
        self._validator.identifier("source", request.source)
        for key, value in request.inputs.items():
            self._validator.text(f"inputs[{key!r}]", value)
        return v1.AnswerResponse(accepted=await self._interactions.answer(request))

    async def get_status(
        self, request: v1.StatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> v1.StatusResponse:
        return v1.StatusResponse(
            version=__version__,
            store=self._broker.store.name,
            backends=self._renderer.backend_names,
            last_sequence=self._broker.last_sequence,
            pending_interactions=len(self._broker.asks),
            subscribers=[
                v1.SubscriberStatus(client_id=s.client_id, queued=len(s.mailbox), last_sequence=s.cursor)
                for s in self._broker.subscriptions
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
