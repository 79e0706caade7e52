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
from toasty_server.errors import Replaced, ToastyError, Unavailable
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.mapping import toast_from_notification
from toasty_server.service.context import abort, agent_id
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

    def __init__(self, broker: Broker, renderer: Renderer, validator: Validator) -> None:
        self._broker = broker
        self._renderer = renderer
        self._validator = validator

    def _agent(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        return agent_id(context, self._validator.limits.id_chars)

    @_maps_errors
    async def publish(
        self, request: v1.PublishRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> v1.PublishResponse:
        publisher = self._agent(context)
        notification = self._validator.publish(request)
        return await self._publish(publisher, notification, request.target_client_id, not request.skip_toast)

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
        self, publisher: str, notification: v1.Notification, target: str, show_toast: bool
    ) -> v1.PublishResponse:
        if not notification.id:
            notification.id = uuid.uuid4().hex

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

        outcome = await self._broker.publish(target, notification.id, encode)
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

    async def get_status(
        self, request: v1.StatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> v1.StatusResponse:
        return v1.StatusResponse(
            version=__version__,
            store=self._broker.store.name,
            backends=self._renderer.backend_names,
            last_sequence=self._broker.last_sequence,
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
