"""The raw baseline: a minimal grpc.aio pub/sub server from the same .proto, with protobuf's C codec (upb).

No validation, persistence, metrics, logging or rendering: a sequence counter, one unbounded queue per
subscriber, the Delivery serialized once per publish and the same bytes handed to every stream (the
design Toasty's broker uses). Publish, PublishStream, Subscribe and GetStatus answer on Toasty's paths,
so the bench clients are the same for both servers.

    python -m bench.raw_server --port P --pb-dir DIR [--loop asyncio|uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from bench import upb
from bench.common import AGENT_ID_KEY, install_loop


class RawPubSub:
    def __init__(self, pb: Any) -> None:
        self.pb = pb
        self.sequence = 0
        self.queues: dict[str, asyncio.Queue[bytes]] = {}

    def _agent(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        for key, value in context.invocation_metadata() or ():
            if key == AGENT_ID_KEY:
                return str(value)
        return "anonymous"

    def _publish_one(self, request: Any, agent: str) -> Any:
        pb = self.pb
        self.sequence += 1
        delivery = pb.Delivery(
            sequence=self.sequence,
            published_at_unix_ms=int(time.time() * 1000),
            publisher_agent_id=agent,
            target_client_id=request.target_client_id,
        )
        delivery.notification.CopyFrom(request.notification)
        payload = delivery.SerializeToString()
        target = request.target_client_id
        if target:
            queue = self.queues.get(target)
            queued = 0
            if queue is not None:
                queue.put_nowait(payload)
                queued = 1
        else:
            for queue in self.queues.values():
                queue.put_nowait(payload)
            queued = len(self.queues)
        return pb.PublishResponse(
            notification_id=request.notification.id, success=True, sequence=self.sequence, queued_subscribers=queued
        )

    async def publish(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        return self._publish_one(request, self._agent(context))

    async def publish_stream(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        agent = self._agent(context)
        async for request in requests:
            published = self._publish_one(request.publish, agent)
            yield self.pb.PublishStreamResponse(request_id=request.request_id, published=published)

    async def subscribe(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
        client_id = request.client_id or self._agent(context)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.queues[client_id] = queue
        try:
            while True:
                yield await queue.get()
        finally:
            if self.queues.get(client_id) is queue:
                del self.queues[client_id]

    async def get_status(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        pb = self.pb
        return pb.StatusResponse(
            version="raw",
            store="none",
            last_sequence=self.sequence,
            subscribers=[pb.SubscriberStatus(client_id=c) for c in self.queues],
        )


def _identity(data: bytes) -> bytes:
    return data


async def serve(port: int, pb_dir: str) -> None:
    pb = upb.load(pb_dir)
    impl = RawPubSub(pb)
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Publish": grpc.unary_unary_rpc_method_handler(
            impl.publish,
            request_deserializer=pb.PublishRequest.FromString,
            response_serializer=pb.PublishResponse.SerializeToString,
        ),
        "PublishStream": grpc.stream_stream_rpc_method_handler(
            impl.publish_stream,
            request_deserializer=pb.PublishStreamRequest.FromString,
            response_serializer=pb.PublishStreamResponse.SerializeToString,
        ),
        "Subscribe": grpc.unary_stream_rpc_method_handler(
            impl.subscribe, request_deserializer=pb.SubscriptionRequest.FromString, response_serializer=_identity
        ),
        "GetStatus": grpc.unary_unary_rpc_method_handler(
            impl.get_status,
            request_deserializer=pb.StatusRequest.FromString,
            response_serializer=pb.StatusResponse.SerializeToString,
        ),
    }
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(upb.SERVICE, handlers),))
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise OSError(f"cannot listen on 127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.raw_server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pb-dir", required=True)
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    args = parser.parse_args()
    install_loop(args.loop)
    asyncio.run(serve(args.port, args.pb_dir))


if __name__ == "__main__":
    main()
