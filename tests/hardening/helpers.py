"""Raw gRPC calls (no client retries) and small readers for the hardening tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.core.process import free_port
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


def stream(channel: grpc.aio.Channel, request: v1.SubscriptionRequest, metadata: Metadata = ()) -> Any:
    method = v1.NOTIFICATION_SERVICE_SUBSCRIBE
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


class ToastyProcess:
    """`toasty-server` (or a script wrapping it) as a child process, with its log in a file."""

    def __init__(self, tmp: Path, *args: str, script: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.log_path = tmp / "server.log"
        entry = [str(script)] if script else ["-m", "toasty_server"]
        self.args = [
            sys.executable, *entry,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--store", "sqlite", "--db-path", str(tmp / "toasty.db"),
            "--renderer", "console", *args,
        ]  # fmt: skip
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOASTY_METRICS_PORT": "0", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, env=self.env)
        self.wait_for_log("toasty listening", timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def json_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise TimeoutError(f"{text!r} never logged:\n{self.log()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
