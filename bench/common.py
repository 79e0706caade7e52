"""Helpers shared by the harness and its child processes (message shape, clocks, event loop, stdin control)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

AGENT_ID_KEY = "x-agent-id"
TITLE = "bench"
# ~245 bytes on the wire as a PublishRequest, like the message of the reference measurements.
BODY_LINE1 = "Build #4711 of toasty/main passed: 1,024 tests, 0 failures, coverage 93.4 %. " * 2
BODY_LINE2 = "deploy queued on staging-eu-west"

# Channel options of every bench client: its own TCP connection per channel (grpc shares subchannels
# between channels of a process otherwise), large enough messages for the slow-consumer payloads.
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
]


async def publishing_agents(
    address: str, pb: Any, agents: int, tag: str, ready_timeout_s: float
) -> tuple[list[Any], list[Any], list[Any]]:
    """One connected grpc.aio channel per agent, its unary Publish call (upb codecs) and its metadata
    (agent id `<tag>-a<i>`): (channels, calls, metadata), indexed by agent."""
    import grpc

    from bench import upb

    channels = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(agents)]
    await asyncio.wait_for(asyncio.gather(*(ch.channel_ready() for ch in channels)), ready_timeout_s)
    calls = [
        ch.unary_unary(
            upb.PUBLISH,
            request_serializer=pb.PublishRequest.SerializeToString,
            response_deserializer=pb.PublishResponse.FromString,
        )
        for ch in channels
    ]
    metadata = [((AGENT_ID_KEY, f"{tag}-a{i}"),) for i in range(agents)]
    return channels, calls, metadata


def now_ns() -> int:
    """CLOCK_MONOTONIC: one clock for every process of the machine (Linux), so cross-process deltas hold."""
    return time.monotonic_ns()


def message_id(tag: str, n: int, sent_ns: int) -> str:
    """Notification id carrying the publish time; valid for Toasty's id rule ([A-Za-z0-9][A-Za-z0-9._:@/-]*)."""
    return f"{tag}-{n}-{sent_ns}"


def sent_ns_of(notification_id: str) -> int:
    return int(notification_id.rsplit("-", 1)[1])


def body_lines(payload_bytes: int) -> tuple[str, str]:
    """The two body lines; payload_bytes > 0 asks for that many characters split across both lines."""
    if payload_bytes <= 0:
        return BODY_LINE1, BODY_LINE2
    half = min(payload_bytes // 2, 2048)
    return "a" * half, "b" * min(payload_bytes - half, 2048)


def install_loop(kind: str) -> str:
    """Use uvloop when asked for and installed; return the loop actually used."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            return "asyncio"
        uvloop.install()
        return "uvloop"
    return "asyncio"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Control:
    """Commands from the harness, one word a line on stdin: go, drain, stop. Read on a daemon thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.go = asyncio.Event()
        self.drain = asyncio.Event()
        self.stop = asyncio.Event()
        self._loop = loop
        threading.Thread(target=self._read, name="bench-control", daemon=True).start()

    def _read(self) -> None:
        events = {"go": self.go, "drain": self.drain, "stop": self.stop}
        for line in sys.stdin:
            event = events.get(line.strip())
            if event is not None:
                self._loop.call_soon_threadsafe(event.set)
        self._loop.call_soon_threadsafe(self.stop.set)  # harness gone: stop


def ready(detail: str = "") -> None:
    sys.stdout.write(f"READY {detail}\n")
    sys.stdout.flush()


def write_json(path: str | Path, data: Any) -> None:
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)
