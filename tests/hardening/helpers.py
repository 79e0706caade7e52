"""Raw gRPC calls (no client retries) and small readers for the hardening tests."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.core.process import ServerProcess
from toasty_proto import v1
from toasty_proto.method import RpcMethod

Metadata = Sequence[tuple[str, str]]


def text_publish(title: str = "hello") -> v1.PublishRequest:
    return v1.PublishRequest(notification=v1.Notification(text_message=v1.TextMessage(header=v1.Header(title=title))))


async def unary(
    channel: grpc.aio.Channel, method: RpcMethod[Any, Any], request: Any, metadata: Metadata = (), timeout: float = 5
) -> Any:
    rpc = channel.unary_unary(
        method.path, request_serializer=method.serialize, response_deserializer=method.deserialize_response
    )
    return await rpc(request, metadata=tuple(metadata), timeout=timeout)


def as_person() -> Metadata:
    """The suite's person credential (tests/conftest.py): reads any client's deliveries."""
    return (("authorization", f"Bearer {os.environ['TOASTY_TOKEN']}"),)


def stream(channel: grpc.aio.Channel, request: v1.SubscriptionRequest, metadata: Metadata | None = None) -> Any:
    """A raw Subscribe; without `metadata` it reads as the person."""
    method = v1.NOTIFICATION_SERVICE_SUBSCRIBE
    metadata = as_person() if metadata is None else metadata
    rpc = channel.unary_stream(
        method.path, request_serializer=method.serialize, response_deserializer=method.deserialize_response
    )
    return rpc(request, metadata=tuple(metadata))


def trailing(error: grpc.aio.AioRpcError, key: str) -> str:
    for k, value in error.trailing_metadata() or ():
        if k == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


def scrape(port: int) -> dict[str, float]:
    """GET /metrics and flatten it: `name{label="v",...}` → value (labels sorted)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


async def ascrape(port: int) -> dict[str, float]:
    return await asyncio.to_thread(scrape, port)


class ToastyProcess(ServerProcess):
    """`toasty-server` (or a script wrapping it) as a child process, metrics on a free port."""

    def __init__(self, tmp: Path, *args: str, script: Path | None = None, env: dict[str, str] | None = None) -> None:
        super().__init__(tmp / "toasty.db", None, *args, env={"TOASTY_METRICS_PORT": "0", **(env or {})})
        self.log_path = tmp / "server.log"
        self.script = script

    def command(self) -> list[str]:
        command = super().command()
        return command if self.script is None else [command[0], str(self.script), *command[3:]]

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]
