"""`ResilientNotificationClient`: publish, subscribe and query a Toasty server from asyncio.

    async with ResilientNotificationClient(agent_id="deployer") as toasty:
        await toasty.publish(TextNotification(title="Deployed", line1="v1.2 is live"))
        async for delivery in toasty.subscribe():
            ...

Retries use tenacity (exponential backoff with jitter) and only for failures worth retrying. Publishes
share one PublishStream call (see publisher.py), with a unary Publish as the fallback for older servers.
A subscription reconnects on its own and resumes after the last sequence it yielded, so the caller sees
each notification once and in order, across reconnects and server restarts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any, TypeVar

import grpc
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_never
from tenacity.wait import wait_exponential_jitter

from toasty_client.answers import Answer, Outcome
from toasty_client.builders import (
    InteractiveNotification,
    NotificationBuilder,
    ProgressNotification,
    ProgressState,
    Urgency,
)
from toasty_client.errors import (
    ServerUnavailable,
    ToastyError,
    from_publish_error,
    from_rpc_error,
    metadata_value,
    retry_after_seconds,
)
from toasty_client.publisher import PublishRefused, StreamCall, StreamPublisher, StreamUnsupported
from toasty_proto import v1
from toasty_proto.method import RpcMethod

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_ADDRESS = "localhost:50053"
ANSWER_GRACE_SECONDS = 30.0  # beyond the server-side timeout, how long ask() waits for an unreachable server
MAX_REMEMBERED_QUESTIONS = 10_000  # answer keys kept per client (the oldest are forgotten first)
AWAIT_SLICE_SECONDS = 30.0  # one AwaitInteraction call waits at most this long, then asks again
AGENT_ID_KEY = "x-agent-id"
AUTHORIZATION_KEY = "authorization"
LOG_ID_KEY = "toasty-log-id"
_TRUE = frozenset({"1", "true", "yes", "on"})

# From the original design notes: ping every 5 minutes, give up on a ping after 20 seconds.
KEEPALIVE_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.keepalive_time_ms", 5 * 60 * 1000),
    ("grpc.keepalive_timeout_ms", 20 * 1000),
    ("grpc.keepalive_permit_without_calls", 1),
)

RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,  # grpc core cancels some stream starts under a reconnect storm
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the client tries. Subscriptions retry forever unless `subscribe_max_attempts` is set."""

    initial_backoff: float = 0.1
    max_backoff: float = 10.0
    jitter: float = 0.5
    publish_attempts: int = 5
    subscribe_max_attempts: int | None = None
    retryable: frozenset[grpc.StatusCode] = field(default=RETRYABLE)

    def should_retry(self, exc: BaseException) -> bool:
        """A failed call, or one refused request of a PublishStream call, whose status is retryable."""
        if isinstance(exc, grpc.aio.AioRpcError):
            return exc.code() in self.retryable
        return isinstance(exc, PublishRefused) and exc.code in self.retryable


class _Backoff:
    """Exponential backoff with jitter (tenacity's), reset after a stream made progress."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._wait = wait_exponential_jitter(
            multiplier=policy.initial_backoff, max=policy.max_backoff, jitter=policy.jitter
        )
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def __call__(self, retry_state: RetryCallState) -> float:
        self.failures += 1
        delay = float(self._wait(SimpleNamespace(attempt_number=self.failures)))  # type: ignore[arg-type]
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, grpc.aio.AioRpcError):
            hint = retry_after_seconds(exc)
        else:
            hint = exc.retry_after if isinstance(exc, PublishRefused) else None
        return max(delay, hint or 0.0)


class _StreamEnded(Exception):
    """The server closed a subscription without an error: reconnect and resume."""


class ResilientNotificationClient:
    """Async client for one Toasty server, identified to it as `agent_id`."""

    def __init__(
        self,
        address: str | None = None,
        *,
        agent_id: str | None = None,
        token: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        channel_options: Sequence[tuple[str, Any]] = (),
        publish_stream: bool = True,
        tls: bool | None = None,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        # `address` is host:port or unix:/path/to/socket (grpc dials both).
        self.address = address or os.environ.get("TOASTY_ADDRESS", DEFAULT_ADDRESS)
        # TLS, for a server with TOASTY_TLS_CERT (required beyond loopback): `ca_file` (TOASTY_CA_FILE) is the
        # PEM the server's certificate is checked against (its own cert when self-signed); without it, the
        # system's roots. `tls` (TOASTY_TLS=1) turns it on without a ca_file; a ca_file implies it.
        ca = ca_file if ca_file is not None else os.environ.get("TOASTY_CA_FILE") or None
        self.ca_file = Path(ca) if ca is not None else None
        self.tls = (tls if tls is not None else os.environ.get("TOASTY_TLS", "") in _TRUE) or self.ca_file is not None
        self.agent_id = agent_id or os.environ.get("TOASTY_AGENT_ID", "")
        # the agent's token (or the person secret); None reads TOASTY_TOKEN, "" sends none
        self.token = os.environ.get("TOASTY_TOKEN", "") if token is None else token
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._answer_keys: dict[str, str] = {}  # notification id -> answer_key of this client's questions
        # grpc core redials a lost connection on its own backoff (by default 1 s growing to 120 s, so a
        # server back after a long outage waited up to 2 minutes for its agents); follow the policy's.
        reconnect = (
            ("grpc.initial_reconnect_backoff_ms", max(1, round(self.retry.initial_backoff * 1000))),
            ("grpc.max_reconnect_backoff_ms", max(1, round(self.retry.max_backoff * 1000))),
        )
        self._options = [*KEEPALIVE_OPTIONS, *reconnect, *channel_options]
        self._channel: grpc.aio.Channel | None = None
        # publish() on one multiplexed PublishStream call (far cheaper for the server than a call per
        # publish); False, or a server without it, means a unary Publish per notification.
        self.publish_stream = publish_stream
        self._publisher: StreamPublisher | None = None
        self._stream_unsupported = False

    async def __aenter__(self) -> ResilientNotificationClient:
        self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def connect(self) -> None:
        """Create the channel (it connects lazily and reconnects by itself)."""
        if self._channel is None:
            if self.tls:
                roots = self.ca_file.read_bytes() if self.ca_file is not None else None
                credentials = grpc.ssl_channel_credentials(root_certificates=roots)
                self._channel = grpc.aio.secure_channel(self.address, credentials, options=self._options)
            else:
                self._channel = grpc.aio.insecure_channel(self.address, options=self._options)
            if self.publish_stream and not self._stream_unsupported:
                self._publisher = StreamPublisher(self._open_publish_stream, timeout=self.timeout)

    async def close(self) -> None:
        """End the PublishStream call cleanly (answers still due are awaited up to `timeout`), then the channel."""
        publisher, self._publisher = self._publisher, None
        try:
            if publisher is not None:
                await publisher.aclose(grace=self.timeout)
        finally:
            if self._channel is not None:
                await self._channel.close()
                self._channel = None

    @property
    def _metadata(self) -> tuple[tuple[str, str], ...]:
        metadata = ((AGENT_ID_KEY, self.agent_id),) if self.agent_id else ()
        return (*metadata, (AUTHORIZATION_KEY, f"Bearer {self.token}")) if self.token else metadata

    def _unary(self, method: RpcMethod[Any, Any]) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        if self._channel is None:
            raise RuntimeError("use `async with ResilientNotificationClient(...)` or call connect() first")
        return self._channel.unary_unary(
            method.path, request_serializer=method.serialize, response_deserializer=method.deserialize_response
        )

    def _open_publish_stream(self) -> StreamCall:
        if self._channel is None:
            raise RuntimeError("the client is closed")
        method = v1.NOTIFICATION_SERVICE_PUBLISH_STREAM
        rpc: grpc.aio.StreamStreamMultiCallable[v1.PublishStreamRequest, v1.PublishStreamResponse]
        rpc = self._channel.stream_stream(
            method.path, request_serializer=method.serialize, response_deserializer=method.deserialize_response
        )
        return rpc(metadata=self._metadata)

    async def _call(self, method: RpcMethod[Any, Any], request: Any, *, attempts: int) -> Any:
        rpc = self._unary(method)
        return await self._retrying(lambda: rpc(request, metadata=self._metadata, timeout=self.timeout), attempts)

    async def _retrying(self, attempt_once: Callable[[], Awaitable[T]], attempts: int) -> T:
        """Run `attempt_once` under the RetryPolicy; a final failure raises the matching ToastyError."""
        backoff = _Backoff(self.retry)
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(self.retry.should_retry),
                wait=backoff,
                stop=stop_after_attempt(attempts),
                reraise=True,
            ):
                with attempt:
                    return await attempt_once()
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc
        except PublishRefused as exc:
            raise from_publish_error(exc.error) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    # -- publishing ----------------------------------------------------------------------------------

    async def publish(
        self,
        notification: NotificationBuilder | v1.Notification,
        *,
        target: str = "",
        skip_toast: bool = False,
        want_receipt: bool = False,
    ) -> v1.PublishResponse:
        """Publish to one subscriber (`target`) or to all; returns once the server stored it.

        `want_receipt` asks for a ToastReceipt (shown, or which backend failed) on this agent's own
        subscription; Interactive notifications always get one.

        The client assigns the notification id before the first attempt, so a retry after a lost
        response carries the same id and subscribers can drop the duplicate. Concurrent publishes share
        one PublishStream call; each is answered, refused and retried on its own.
        """
        proto = notification if isinstance(notification, v1.Notification) else notification.to_proto()
        if not proto.id:
            proto.id = uuid.uuid4().hex
        request = v1.PublishRequest(
            notification=proto, target_client_id=target, skip_toast=skip_toast, want_receipt=want_receipt
        )
        response = await self._publish(request)
        if response.answer_key:  # a question's proof of ownership: kept for await, withdraw and answer
            self._answer_keys[response.notification_id] = response.answer_key
            while len(self._answer_keys) > MAX_REMEMBERED_QUESTIONS:
                self._answer_keys.pop(next(iter(self._answer_keys)))
        return response

    async def _publish(self, request: v1.PublishRequest) -> v1.PublishResponse:
        publisher = self._publisher
        if publisher is not None:
            try:
                return await self._retrying(lambda: publisher.publish(request), self.retry.publish_attempts)
            except StreamUnsupported as exc:
                self._fall_back_to_unary(publisher, exc)
        response: v1.PublishResponse = await self._call(
            v1.NOTIFICATION_SERVICE_PUBLISH, request, attempts=self.retry.publish_attempts
        )
        return response

    def answer_key(self, notification_id: str) -> str:
        """The answer_key the server returned for one of this client's questions ("" if none is known):
        pass it to another process that should await or resolve the question."""
        return self._answer_keys.get(notification_id, "")

    def _fall_back_to_unary(self, publisher: StreamPublisher, exc: StreamUnsupported) -> None:
        """An older server without PublishStream: unary Publish for the rest of this client's life."""
        if self._publisher is publisher:
            self._publisher = None
        if not self._stream_unsupported:
            self._stream_unsupported = True
            log.info("the server has no PublishStream (%s); publishing with unary Publish calls", exc)

    async def send_notification(
        self, title: str, message: str, level: v1.UrgencyLevel = v1.UrgencyLevel.INFO
    ) -> v1.SendNotificationResponse:
        """The 1.0 API (title, message, level), kept for existing agents."""
        request = v1.SendNotificationRequest(title=title, message=message, level=level)
        response: v1.SendNotificationResponse = await self._call(
            v1.NOTIFICATION_SERVICE_SEND_NOTIFICATION, request, attempts=self.retry.publish_attempts
        )
        return response

    # -- asking and answering ------------------------------------------------------------------------

    async def ask(self, notification: InteractiveNotification | v1.Notification, *, timeout: float = 300.0) -> Answer:
        """Publish an Interactive notification and wait for its one outcome.

        The server times the ask out after `timeout` seconds (outcome TIMED_OUT, toast withdrawn), also
        while this agent is disconnected, and keeps the outcome; the wait survives reconnects and server
        restarts. If the server stays unreachable past the timeout, a local TIMED_OUT is returned: never
        a hang.
        """
        proto = notification if isinstance(notification, v1.Notification) else notification.to_proto()
        if proto.interactive is None:
            raise ValueError("ask() needs an Interactive notification (buttons and inputs)")
        if timeout > 0:
            proto.answer_timeout_seconds = max(1, math.ceil(timeout))
        response = await self.publish(proto)
        return await self.wait_for_answer(response.notification_id, timeout=timeout + ANSWER_GRACE_SECONDS)

    async def wait_for_answer(self, notification_id: str, *, timeout: float | None = None) -> Answer:
        """Await the outcome of one of this agent's Interactive notifications (e.g. after a restart)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        backoff = _Backoff(self.retry)
        method = v1.NOTIFICATION_SERVICE_AWAIT_INTERACTION
        rpc = self._unary(method)
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return Answer(notification_id, Outcome.TIMED_OUT, detail="no answer from the server in time")
            wait = AWAIT_SLICE_SECONDS if remaining is None else min(AWAIT_SLICE_SECONDS, remaining)
            request = v1.AwaitInteractionRequest(
                notification_id=notification_id, timeout_seconds=wait, answer_key=self.answer_key(notification_id)
            )
            try:
                event: v1.InteractionEvent = await rpc(request, metadata=self._metadata, timeout=wait + 5)
                return Answer.from_proto(event)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    continue  # still open: ask again
                if not self.retry.should_retry(exc):
                    raise from_rpc_error(exc) from exc
                delay = backoff(_state_for(exc))
                log.info("waiting for %s: %s, retrying in %.2fs", notification_id, exc.code().name, delay)
                await asyncio.sleep(delay if remaining is None else min(delay, max(0.0, remaining)))

    async def withdraw(self, notification_id: str) -> bool:
        """Take a notification down; an open ask ends as WITHDRAWN. False if already decided."""
        response: v1.WithdrawResponse = await self._call(
            v1.NOTIFICATION_SERVICE_WITHDRAW,
            v1.WithdrawRequest(notification_id=notification_id, answer_key=self.answer_key(notification_id)),
            attempts=self.retry.publish_attempts,
        )
        return response.withdrawn

    async def answer(
        self,
        notification_id: str,
        button_id: str = "",
        inputs: dict[str, str] | None = None,
        *,
        dismiss: bool = False,
    ) -> bool:
        """Answer an Interactive notification as the person (this client needs the person secret as its
        token: the `toasty` command reads it), or resolve one of this client's own questions."""
        request = v1.AnswerRequest(
            notification_id=notification_id,
            button_id=button_id,
            inputs=inputs or {},
            dismiss=dismiss,
            answer_key=self.answer_key(notification_id),
        )
        response: v1.AnswerResponse = await self._call(
            v1.NOTIFICATION_SERVICE_ANSWER, request, attempts=self.retry.publish_attempts
        )
        return response.accepted

    def progress(
        self,
        title: str,
        *,
        key: str | None = None,
        target: str = "",
        urgency: Urgency = Urgency.INFO,
        caption: str = "",
    ) -> ProgressBar:
        """`async with toasty.progress("Upload") as bar: await bar.update(0.4, status="4/10")`.

        One toast, updated in place; on exit it is completed (SUCCEEDED at 100 %) or, if the block
        raised, marked FAILED with the error as its status.
        """
        return ProgressBar(
            self, title=title, key=key or uuid.uuid4().hex, target=target, urgency=urgency, caption=caption
        )

    async def status(self) -> v1.StatusResponse:
        response: v1.StatusResponse = await self._call(
            v1.NOTIFICATION_SERVICE_GET_STATUS, v1.StatusRequest(), attempts=self.retry.publish_attempts
        )
        return response

    async def open_questions(self) -> list[v1.OpenQuestion]:
        """The questions waiting for an answer, oldest first: all of them when this client acts as the
        person (its token is the person secret), else this agent's own."""
        response: v1.ListQuestionsResponse = await self._call(
            v1.NOTIFICATION_SERVICE_LIST_QUESTIONS, v1.ListQuestionsRequest(), attempts=self.retry.publish_attempts
        )
        return list(response.questions)

    async def do_not_disturb(self, on: bool, *, for_seconds: float = 0, until_unix: float = 0) -> v1.AttentionState:
        """As the person: hold toasts back (critical ones still show, by default) for `for_seconds`, until
        `until_unix` (seconds), or until turned off; off sums up what was held in one digest toast."""
        request = v1.DoNotDisturbRequest(
            on=on, for_seconds=max(0, math.ceil(for_seconds)), until_unix_ms=int(until_unix * 1000)
        )
        response: v1.AttentionState = await self._call(
            v1.NOTIFICATION_SERVICE_SET_DO_NOT_DISTURB, request, attempts=self.retry.publish_attempts
        )
        return response

    async def mute(self, agent: str, *, for_seconds: float = 3600, unmute: bool = False) -> v1.AttentionState:
        """As the person: hold one agent's toasts (its questions still show) for a while, or unmute it."""
        request = v1.MuteRequest(agent=agent, for_seconds=max(0, math.ceil(for_seconds)), unmute=unmute)
        response: v1.AttentionState = await self._call(
            v1.NOTIFICATION_SERVICE_MUTE, request, attempts=self.retry.publish_attempts
        )
        return response

    async def snooze(self, notification_id: str, seconds: float = 600) -> float:
        """As the person: put an open question off; returns when it is shown again (unix seconds)."""
        request = v1.SnoozeRequest(notification_id=notification_id, seconds=max(1, math.ceil(seconds)))
        response: v1.SnoozeResponse = await self._call(
            v1.NOTIFICATION_SERVICE_SNOOZE, request, attempts=self.retry.publish_attempts
        )
        return response.back_at_unix_ms / 1000

    async def attention(self) -> v1.AttentionState:
        """As the person: do-not-disturb, quiet hours, and the toasts held meanwhile."""
        response: v1.AttentionState = await self._call(
            v1.NOTIFICATION_SERVICE_GET_ATTENTION, v1.AttentionRequest(), attempts=self.retry.publish_attempts
        )
        return response

    # -- subscribing ---------------------------------------------------------------------------------

    async def subscribe(
        self,
        client_id: str | None = None,
        *,
        after_sequence: int = 0,
        from_beginning: bool = False,
        dedupe_window: int = 4096,
    ) -> AsyncIterator[v1.Delivery]:
        """Yield deliveries for `client_id` (default: the agent id) forever, reconnecting as needed.

        `after_sequence` resumes after a sequence you saw before (persist `delivery.sequence` to resume
        across restarts of your agent). Notifications whose id was seen in the last `dedupe_window`
        deliveries are skipped (a publish retried after a lost response).
        """
        state = _SubscriptionState(
            client_id=client_id or self.agent_id,
            last_sequence=after_sequence,
            from_beginning=from_beginning,
            seen=collections.OrderedDict(),
            dedupe_window=dedupe_window,
        )
        queue: asyncio.Queue[v1.Delivery | BaseException] = asyncio.Queue(maxsize=64)
        pump = asyncio.create_task(self._pump(state, queue), name=f"toasty-subscribe-{state.client_id}")
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump(self, state: _SubscriptionState, queue: asyncio.Queue[v1.Delivery | BaseException]) -> None:
        backoff = _Backoff(self.retry)
        attempts = self.retry.subscribe_max_attempts
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(lambda e: isinstance(e, _StreamEnded) or self.retry.should_retry(e)),
                wait=backoff,
                stop=stop_never if attempts is None else stop_after_attempt(attempts),
                reraise=True,
                before_sleep=_log_reconnect,
            ):
                with attempt:
                    await self._read_stream(state, queue, backoff)
        except grpc.aio.AioRpcError as exc:
            await queue.put(from_rpc_error(exc))
        except _StreamEnded:
            await queue.put(ServerUnavailable("the server kept closing the subscription"))
        except ToastyError as exc:
            await queue.put(exc)

    async def _read_stream(
        self, state: _SubscriptionState, queue: asyncio.Queue[v1.Delivery | BaseException], backoff: _Backoff
    ) -> None:
        if self._channel is None:
            raise RuntimeError("the client is closed")
        method = v1.NOTIFICATION_SERVICE_SUBSCRIBE
        rpc = self._channel.unary_stream(
            method.path, request_serializer=method.serialize, response_deserializer=method.deserialize_response
        )
        request = v1.SubscriptionRequest(
            client_id=state.client_id,
            after_sequence=state.last_sequence,
            from_beginning=state.from_beginning and state.last_sequence == 0,
            log_id=state.log_id,
        )
        call = rpc(request, metadata=self._metadata)
        try:
            if not state.log_id:  # else a changed log is announced by a LogReset, adopted below
                state.log_id = metadata_value(await call.initial_metadata(), LOG_ID_KEY)
            async for delivery in call:
                backoff.reset()
                if delivery.reset is not None:
                    # the server's log is not the one our sequence came from: it replays its log from the start
                    log.warning(
                        "subscription %s: the server's log was reset; reading it from its beginning", state.client_id
                    )
                    state.last_sequence, state.from_beginning, state.log_id = 0, True, delivery.reset.log_id
                    await queue.put(delivery)
                    continue
                if delivery.sequence <= state.last_sequence:
                    continue
                state.last_sequence = delivery.sequence
                if state.is_duplicate(delivery):
                    continue
                await queue.put(delivery)
        finally:
            call.cancel()
        raise _StreamEnded()


@dataclass
class _SubscriptionState:
    client_id: str
    last_sequence: int
    from_beginning: bool
    seen: collections.OrderedDict[str, None]
    dedupe_window: int
    log_id: str = ""  # the server's log last_sequence belongs to (`toasty-log-id`)

    def is_duplicate(self, delivery: v1.Delivery) -> bool:
        if delivery.notification is None or not delivery.notification.id:
            return False
        key = f"{delivery.publisher_agent_id}/{delivery.notification.id}"
        if key in self.seen:
            return True
        self.seen[key] = None
        if len(self.seen) > self.dedupe_window:
            self.seen.popitem(last=False)
        return False


class ProgressBar:
    """One Progress toast, updated in place by publishing with the same key."""

    def __init__(
        self,
        client: ResilientNotificationClient,
        *,
        title: str,
        key: str,
        target: str,
        urgency: Urgency,
        caption: str,
    ) -> None:
        self._client = client
        self._template = ProgressNotification(title=title, key=key, urgency=urgency, caption=caption)
        self._target = target
        self.value = 0.0
        self.status = ""
        self.state = ProgressState.RUNNING

    @property
    def key(self) -> str:
        return self._template.key

    async def __aenter__(self) -> ProgressBar:
        await self.update(0.0)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.state is not ProgressState.RUNNING:
            return  # the caller already ended it (succeeded or failed) explicitly
        if exc is None:
            await self.update(1.0, state=ProgressState.SUCCEEDED, status=self.status or "Done")
        elif not isinstance(exc, asyncio.CancelledError):
            await self.update(self.value, state=ProgressState.FAILED, status=str(exc) or type(exc).__name__)

    async def update(
        self,
        value: float | None = None,
        *,
        status: str | None = None,
        indeterminate: bool = False,
        value_override: str = "",
        state: ProgressState = ProgressState.RUNNING,
    ) -> v1.PublishResponse:
        self.value = self.value if value is None else value
        self.status = self.status if status is None else status
        self.state = state
        notification = self._template.model_copy(
            update={
                "value": self.value,
                "status": self.status[:256],
                "indeterminate": indeterminate,
                "value_override": value_override,
                "state": state,
            }
        )
        return await self._client.publish(notification, target=self._target)


def _state_for(exc: BaseException) -> RetryCallState:
    """A minimal retry state so the shared backoff can read the server's retry hint."""
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.set_exception((type(exc), exc, None))
    return state


def _log_reconnect(retry_state: RetryCallState) -> None:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    detail = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else type(exc).__name__
    log.info("subscription interrupted (%s); reconnecting (attempt %d)", detail, retry_state.attempt_number)
