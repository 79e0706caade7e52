"""The gRPC adapter of `ToastyApi`. Errors are mapped to statuses by the error interceptor (one table
for every RPC), so handlers just call the API with the caller's agent id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from toasty_proto import v1
from toasty_server.access.principal import current_principal
from toasty_server.service.api import ToastyApi
from toasty_server.service.context import abort
from toasty_server.service.decoding import Undecodable, WithWire
from toasty_server.service.publish_stream import PublishStreamHandler, StreamItem
from toasty_server.service.wire import submessage

Context = grpc.aio.ServicerContext[Any, Any]
LOG_ID_KEY = "toasty-log-id"  # Subscribe's initial metadata: the log the stream's sequences belong to


class NotificationServicer:
    """Implements toasty.v1.NotificationService on grpc.aio by delegating to ToastyApi."""

    def __init__(self, api: ToastyApi, publish_stream: PublishStreamHandler) -> None:
        self.api = api
        self._publish_stream = publish_stream

    def _agent(self, context: Context) -> str:
        """The caller's agent id as the access check decided it (the token's agent, the claim, or
        `anonymous`), so a publish and a later await name the caller the same way."""
        return current_principal().agent_id

    async def publish(self, request: WithWire[v1.PublishRequest], context: Context) -> v1.PublishResponse:
        notification = submessage(request.wire, "notification")
        return await self.api.publish(self._agent(context), request.message, notification)

    async def publish_stream(self, requests: AsyncIterator[StreamItem], context: Context) -> AsyncIterator[bytes]:
        async for answer in self._publish_stream.run(self._agent(context), requests):
            yield answer

    async def send_notification(
        self, request: v1.SendNotificationRequest, context: Context
    ) -> v1.SendNotificationResponse:
        return await self.api.send_notification(self._agent(context), request)

    async def await_interaction(self, request: v1.AwaitInteractionRequest, context: Context) -> v1.InteractionEvent:
        return await self.api.await_interaction(current_principal(), request, context.time_remaining())

    async def withdraw(self, request: v1.WithdrawRequest, context: Context) -> v1.WithdrawResponse:
        return await self.api.withdraw(current_principal(), request)

    async def answer(self, request: v1.AnswerRequest, context: Context) -> v1.AnswerResponse:
        return await self.api.answer(current_principal(), request)

    async def get_status(self, request: v1.StatusRequest, context: Context) -> v1.StatusResponse:
        return self.api.status()

    async def list_questions(self, request: v1.ListQuestionsRequest, context: Context) -> v1.ListQuestionsResponse:
        return await self.api.open_questions(current_principal())

    async def set_do_not_disturb(self, request: v1.DoNotDisturbRequest, context: Context) -> v1.AttentionState:
        return self.api.set_do_not_disturb(current_principal(), request)

    async def get_attention(self, request: v1.AttentionRequest, context: Context) -> v1.AttentionState:
        return self.api.attention_state(current_principal())

    async def mute(self, request: v1.MuteRequest, context: Context) -> v1.AttentionState:
        return self.api.mute(current_principal(), request)

    async def snooze(self, request: v1.SnoozeRequest, context: Context) -> v1.SnoozeResponse:
        return self.api.snooze(current_principal(), request)

    async def subscribe(self, request: v1.SubscriptionRequest | Undecodable, context: Context) -> AsyncIterator[bytes]:
        """Stream serialized Delivery messages: catch-up from the log, then live."""
        if isinstance(request, Undecodable):
            await abort(context, request.error)
        subscription = self.api.open_subscription(self._agent(context), request)
        try:
            await context.send_initial_metadata(((LOG_ID_KEY, self.api.log_id),))
            async for payload in self.api.deliveries(subscription):
                yield payload
        finally:
            self.api.close_subscription(subscription)
