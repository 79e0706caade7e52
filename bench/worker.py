"""A bench client process: publishers or subscribers, for the gRPC servers (raw and Toasty) or Redis.

    python -m bench.worker SPEC.json

The spec (written by the harness) says the role, transport (grpc | redis), codec (upb: protobuf C
classes on a raw grpc.aio channel; rnc: Toasty's ResilientNotificationClient with betterproto2), the
address and the workload. The worker prints `READY` once connected, waits for `go` on stdin
(publishers), runs, and writes its result JSON. Every loop is bounded by a count and by `deadline_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import upb
from bench.common import (
    AGENT_ID_KEY,
    CHANNEL_OPTIONS,
    TITLE,
    Control,
    body_lines,
    install_loop,
    message_id,
    now_ns,
    publishing_agents,
    ready,
    sent_ns_of,
    write_json,
)

RETRYABLE = {"UNAVAILABLE", "CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "UNKNOWN", "INTERNAL"}
REDIS_BROADCAST = "bcast"


def redis_channel(target: str) -> str:
    return f"c:{target}" if target else REDIS_BROADCAST


class Recorder:
    """What one subscriber process saw: unique deliveries, duplicates, latencies, per-stream progress."""

    def __init__(self, expected: int, per_stream: bool) -> None:
        self.expected = expected
        self.per_stream = per_stream
        self.seen: set[tuple[str, str]] = set()
        self.duplicates = 0
        self.gaps = 0
        self.latencies_us: list[int] = []
        self.first_ns = 0
        self.last_ns = 0
        self.streams: dict[str, list[int]] = {}  # client id -> [unique, last_ns]
        self.errors: dict[str, int] = {}
        self.reconnects = 0
        self.done = asyncio.Event()

    def add(self, client_id: str, notification_id: str) -> None:
        now = now_ns()
        key = (client_id, notification_id)
        if key in self.seen:
            self.duplicates += 1
            return
        self.seen.add(key)
        self.latencies_us.append((now - sent_ns_of(notification_id)) // 1000)
        self.first_ns = self.first_ns or now
        self.last_ns = now
        if self.per_stream:
            stream = self.streams.setdefault(client_id, [0, 0])
            stream[0] += 1
            stream[1] = now
        if self.expected and len(self.seen) >= self.expected:
            self.done.set()

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def result(self) -> dict[str, Any]:
        return {
            "unique": len(self.seen),
            "duplicates": self.duplicates,
            "gaps": self.gaps,
            "latencies_us": self.latencies_us,
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
            "streams": self.streams,
            "errors": self.errors,
            "reconnects": self.reconnects,
        }


# -- subscribers -------------------------------------------------------------------------------------


async def grpc_subscribers(spec: dict[str, Any], rec: Recorder, control: Control) -> list[asyncio.Task[None]]:
    import grpc

    pb = upb.load(spec["pb_dir"])
    ids: list[str] = spec["client_ids"]
    per_channel = max(1, int(spec.get("streams_per_channel", 1)))
    batch = int(spec.get("connect_batch", 0)) or len(ids)
    slow = bool(spec.get("slow"))
    tasks: list[asyncio.Task[None]] = []

    async def stream(client_id: str, channel: grpc.aio.Channel) -> None:
        rpc = channel.unary_stream(
            upb.SUBSCRIBE,
            request_serializer=pb.SubscriptionRequest.SerializeToString,
            response_deserializer=pb.Delivery.FromString,
        )
        last = 0
        backoff = 0.05
        while True:
            call = rpc(
                pb.SubscriptionRequest(client_id=client_id, after_sequence=last), metadata=((AGENT_ID_KEY, client_id),)
            )
            try:
                if slow:
                    await control.drain.wait()
                async for delivery in call:
                    if delivery.HasField("notification"):
                        rec.add(client_id, delivery.notification.id)
                    elif delivery.HasField("gap"):
                        rec.gaps += 1
                    last = delivery.sequence
                    backoff = 0.05
                rec.error("ENDED")
            except grpc.aio.AioRpcError as exc:
                rec.error(exc.code().name)
                if exc.code().name not in RETRYABLE:
                    return
            finally:
                call.cancel()
            rec.reconnects += 1
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 2.0)

    for start in range(0, len(ids), batch):
        group = ids[start : start + batch]
        channels = [
            grpc.aio.insecure_channel(spec["address"], options=CHANNEL_OPTIONS)
            for _ in range(0, len(group), per_channel)
        ]
        for i, client_id in enumerate(group):
            tasks.append(asyncio.create_task(stream(client_id, channels[i // per_channel])))
        if batch < len(ids):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(ch.channel_ready() for ch in channels)), 30)
    return tasks


async def redis_subscribers(spec: dict[str, Any], rec: Recorder, control: Control) -> list[asyncio.Task[None]]:
    import redis.asyncio as aioredis

    pb = upb.load(spec["pb_dir"])
    host, port = spec["address"].rsplit(":", 1)
    client = aioredis.Redis(host=host, port=int(port), max_connections=1_000_000)
    slow = bool(spec.get("slow"))
    batch = int(spec.get("connect_batch", 0)) or len(spec["client_ids"])

    async def stream(client_id: str, subscribed: asyncio.Event) -> None:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(redis_channel(client_id), REDIS_BROADCAST)
            subscribed.set()
            if slow:
                await control.drain.wait()
            async for message in pubsub.listen():
                if message["type"] == "message":
                    rec.add(client_id, pb.Delivery.FromString(message["data"]).notification.id)
        except Exception as exc:  # a connection closed by the server (slow-consumer limit) ends this stream
            rec.error(type(exc).__name__)
            subscribed.set()

    tasks: list[asyncio.Task[None]] = []
    ids: list[str] = spec["client_ids"]
    for start in range(0, len(ids), batch):
        flags = []
        for client_id in ids[start : start + batch]:
            flag = asyncio.Event()
            flags.append(flag)
            tasks.append(asyncio.create_task(stream(client_id, flag)))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(f.wait() for f in flags)), 30)
    return tasks


async def rnc_subscribers(spec: dict[str, Any], rec: Recorder, control: Control) -> list[asyncio.Task[None]]:
    from toasty_client import ResilientNotificationClient, ToastyError

    async def stream(client_id: str) -> None:
        client = ResilientNotificationClient(
            spec["address"], agent_id=client_id, channel_options=[("grpc.use_local_subchannel_pool", 1)]
        )
        client.connect()
        try:
            async for delivery in client.subscribe(client_id):
                if delivery.notification is not None:
                    rec.add(client_id, delivery.notification.id)
                else:
                    rec.gaps += 1
        except ToastyError as exc:
            rec.error(type(exc).__name__)

    return [asyncio.create_task(stream(client_id)) for client_id in spec["client_ids"]]


async def subscriber_main(spec: dict[str, Any]) -> dict[str, Any]:
    rec = Recorder(int(spec.get("expected", 0)), bool(spec.get("per_stream")))
    control = Control(asyncio.get_running_loop())
    start: Callable[[dict[str, Any], Recorder, Control], Awaitable[list[asyncio.Task[None]]]]
    if spec["transport"] == "redis":
        start = redis_subscribers
    elif spec.get("codec") == "rnc":
        start = rnc_subscribers
    else:
        start = grpc_subscribers
    tasks = await start(spec, rec, control)
    ready(str(len(spec["client_ids"])))
    waits: list[asyncio.Task[Any]] = [asyncio.create_task(e.wait()) for e in (rec.done, control.stop)]
    waits.append(asyncio.create_task(asyncio.wait(tasks)))  # every stream ended for good
    if spec.get("idle_stop_s"):
        waits.append(asyncio.create_task(_idle_after_drain(rec, control, float(spec["idle_stop_s"]))))
    await asyncio.wait(waits, timeout=float(spec["deadline_s"]), return_when=asyncio.FIRST_COMPLETED)
    return rec.result()


async def _idle_after_drain(rec: Recorder, control: Control, idle_s: float) -> None:
    """Return once the subscriber was told to drain and then received nothing for idle_s (e.g. Redis
    dropped the connection of a slow subscriber and redis-py quietly resubscribed: nothing more comes)."""
    await control.drain.wait()
    drained_at = now_ns()
    while True:
        await asyncio.sleep(idle_s / 4)
        if now_ns() - max(rec.last_ns, drained_at) > idle_s * 1e9:
            return


# -- publishers --------------------------------------------------------------------------------------

Sender = Callable[[int, int, str], Awaitable[int]]
"""send(agent index, message number, target) -> the publish time stamped into the message (ns)."""


async def grpc_sender(spec: dict[str, Any]) -> tuple[Sender, Callable[[], Awaitable[None]], Any]:

    pb = upb.load(spec["pb_dir"])
    agents = int(spec["agents"])
    tag = spec["tag"]
    line1, line2 = body_lines(int(spec.get("payload_bytes", 0)))
    skip_toast = bool(spec.get("skip_toast"))
    channels, calls, metadata = await publishing_agents(spec["address"], pb, agents, tag, 30)

    def request(n: int, target: str, sent: int) -> Any:
        return pb.PublishRequest(
            notification=pb.Notification(
                id=message_id(tag, n, sent),
                urgency=pb.URGENCY_LEVEL_INFO,
                text_message=pb.TextMessage(
                    header=pb.Header(title=TITLE), body_text_line1=line1, body_text_line2=line2
                ),
            ),
            target_client_id=target,
            skip_toast=skip_toast,
        )

    async def send(agent: int, n: int, target: str) -> int:
        sent = now_ns()
        await calls[agent](request(n, target, sent), metadata=metadata[agent], timeout=30)
        return sent

    async def close() -> None:
        await asyncio.gather(*(ch.close() for ch in channels))

    if spec.get("rpc") == "stream":
        streams = [PublishStream(ch, pb, md) for ch, md in zip(channels, metadata, strict=True)]

        async def send_on_stream(agent: int, n: int, target: str) -> int:
            sent = now_ns()
            await streams[agent].publish(n, request(n, target, sent))
            return sent

        async def close_streams() -> None:
            await asyncio.gather(*(s.close() for s in streams))
            await close()

        return send_on_stream, close_streams, (channels, pb, request, metadata)
    return send, close, (channels, pb, request, metadata)


class PublishStream:
    """One PublishStream call of one agent, shared by all its concurrent publishes: each write carries a
    request id, and the reader resolves that id's future with its answer (answers may come in any order)."""

    def __init__(self, channel: Any, pb: Any, metadata: Any) -> None:
        self.pb = pb
        self.call = channel.stream_stream(
            upb.PUBLISH_STREAM,
            request_serializer=pb.PublishStreamRequest.SerializeToString,
            response_deserializer=pb.PublishStreamResponse.FromString,
        )(metadata=metadata)
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.write_lock = asyncio.Lock()  # grpc.aio allows one write at a time per call
        self.reader = asyncio.create_task(self._read())

    async def publish(self, request_id: int, request: Any) -> Any:
        answer = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = answer
        async with self.write_lock:
            await self.call.write(self.pb.PublishStreamRequest(request_id=request_id, publish=request))
        result = await asyncio.wait_for(answer, 30)
        if result.WhichOneof("result") != "published":
            raise RuntimeError(f"refused: {result.error.reason} {result.error.message}")
        return result.published

    async def _read(self) -> None:
        try:
            async for answer in self.call:
                waiter = self.waiting.pop(answer.request_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(answer)
        except Exception as exc:
            for waiter in self.waiting.values():
                if not waiter.done():
                    waiter.set_exception(exc)

    async def close(self) -> None:
        async with self.write_lock:
            await self.call.done_writing()
        await self.reader


async def redis_sender(spec: dict[str, Any]) -> tuple[Sender, Callable[[], Awaitable[None]], Any]:
    import redis.asyncio as aioredis

    pb = upb.load(spec["pb_dir"])
    host, port = spec["address"].rsplit(":", 1)
    tag = spec["tag"]
    line1, line2 = body_lines(int(spec.get("payload_bytes", 0)))
    clients = [aioredis.Redis(host=host, port=int(port)) for _ in range(int(spec["agents"]))]
    await asyncio.gather(*(c.ping() for c in clients))

    async def send(agent: int, n: int, target: str) -> int:
        sent = now_ns()
        delivery = pb.Delivery(
            sequence=n,
            publisher_agent_id=f"{tag}-a{agent}",
            target_client_id=target,
            notification=pb.Notification(
                id=message_id(tag, n, sent),
                urgency=pb.URGENCY_LEVEL_INFO,
                text_message=pb.TextMessage(
                    header=pb.Header(title=TITLE), body_text_line1=line1, body_text_line2=line2
                ),
            ),
        )
        await clients[agent].publish(redis_channel(target), delivery.SerializeToString())
        return sent

    async def close() -> None:
        await asyncio.gather(*(c.aclose() for c in clients))

    return send, close, None


async def rnc_sender(spec: dict[str, Any]) -> tuple[Sender, Callable[[], Awaitable[None]], Any]:
    from toasty_client import ResilientNotificationClient
    from toasty_proto import v1

    tag = spec["tag"]
    line1, line2 = body_lines(int(spec.get("payload_bytes", 0)))
    clients = [
        ResilientNotificationClient(
            spec["address"], agent_id=f"{tag}-a{i}", channel_options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for i in range(int(spec["agents"]))
    ]
    for client in clients:
        client.connect()
    await asyncio.gather(*(c.status() for c in clients))  # connected

    async def send(agent: int, n: int, target: str) -> int:
        sent = now_ns()
        notification = v1.Notification(
            id=message_id(tag, n, sent),
            urgency=v1.UrgencyLevel.INFO,
            text_message=v1.TextMessage(header=v1.Header(title=TITLE), body_text_line1=line1, body_text_line2=line2),
        )
        await clients[agent].publish(notification, target=target, skip_toast=bool(spec.get("skip_toast")))
        return sent

    async def close() -> None:
        await asyncio.gather(*(c.close() for c in clients))

    return send, close, None


class PubStats:
    def __init__(self) -> None:
        self.ok = 0
        self.errors: dict[str, int] = {}
        self.ack_us: list[int] = []
        self.first_ns = 0
        self.last_ns = 0

    def done(self, sent: int) -> None:
        now = now_ns()
        self.ok += 1
        self.ack_us.append((now - sent) // 1000)
        self.first_ns = min(self.first_ns, sent) if self.first_ns else sent
        self.last_ns = max(self.last_ns, now)

    def error(self, exc: BaseException) -> None:
        code_fn = getattr(exc, "code", None)
        code = code_fn().name if callable(code_fn) else type(exc).__name__
        self.errors[code] = self.errors.get(code, 0) + 1

    def result(self, sent: int) -> dict[str, Any]:
        return {
            "sent": sent,
            "ok": self.ok,
            "errors": self.errors,
            "ack_us": self.ack_us,
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
        }


async def publisher_main(spec: dict[str, Any]) -> dict[str, Any]:
    control = Control(asyncio.get_running_loop())
    if spec["transport"] == "redis":
        send, close, _ = await redis_sender(spec)
    elif spec.get("codec") == "rnc":
        send, close, _ = await rnc_sender(spec)
    else:
        send, close, _ = await grpc_sender(spec)
    ready()
    await control.go.wait()
    mode = spec["mode"]
    count = int(spec["count"])
    agents = int(spec["agents"])
    targets: list[str] = spec["targets"]
    deadline = now_ns() + int(float(spec["deadline_s"]) * 1e9)
    stats = PubStats()
    issued = 0

    async def one(agent: int, n: int) -> None:
        try:
            stats.done(await send(agent, n, targets[n % len(targets)]))
        except Exception as exc:
            stats.error(exc)

    if mode == "serial":
        gap = float(spec.get("gap_s", 0.002))
        for n in range(count):
            if now_ns() > deadline:
                break
            await one(0, n)
            issued += 1
            await asyncio.sleep(gap)
    elif mode == "paced":
        interval_ns = int(1e9 / float(spec["rate"]))
        inflight = asyncio.Semaphore(int(spec.get("max_inflight", 2000)))
        pending: set[asyncio.Task[None]] = set()

        async def paced_one(agent: int, n: int) -> None:
            try:
                await one(agent, n)
            finally:
                inflight.release()

        t0 = now_ns() + 1_000_000
        for n in range(count):
            due = t0 + n * interval_ns
            now = now_ns()
            if now > deadline:
                break
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
            await inflight.acquire()
            task = asyncio.create_task(paced_one(n % agents, n))
            pending.add(task)
            task.add_done_callback(pending.discard)
            issued += 1
        if pending:
            await asyncio.wait(pending, timeout=max(1.0, (deadline - now_ns()) / 1e9))
    elif mode == "saturated":
        counter = iter(range(count))

        async def loop(worker: int) -> int:
            done = 0
            for n in counter:
                if now_ns() > deadline:
                    break
                await one(worker % agents, n)
                done += 1
            return done

        issued = sum(await asyncio.gather(*(loop(w) for w in range(int(spec["concurrency"])))))
    else:
        raise ValueError(f"unknown mode {mode}")
    await close()
    return stats.result(issued)


def main() -> None:
    spec = __import__("json").loads(Path(sys.argv[1]).read_text())
    spec["loop_used"] = install_loop(spec.get("loop", "asyncio"))
    if spec["transport"] == "grpc" and spec.get("codec") == "rnc":
        sys.path.insert(0, str(upb.REPO))
    runner = subscriber_main if spec["role"] == "sub" else publisher_main
    result = asyncio.run(runner(spec))
    result["loop"] = spec["loop_used"]
    write_json(spec["result"], result)
    sys.stdout.flush()
    os._exit(0)  # skip closing thousands of channels one by one


if __name__ == "__main__":
    main()
