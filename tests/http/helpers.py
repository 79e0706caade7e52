"""An HTTP client for the tests that checks every request and response against the shipped OpenAPI
description, and a reader of server-sent event streams."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from toasty_server.app import ToastyServer
from toasty_server.http.routes import openapi_document

# A Text notification in the JSON mapping, and one of each other payload type.
TEXT = {"textMessage": {"header": {"title": "Build passed"}, "bodyTextLine1": "main @ 4f2a9c"}}
IMAGE_TEXT = {
    "imageText": {
        "header": {"title": "New photo"},
        "image": {"url": "https://example.invalid/cat.png", "placement": "IMAGE_PLACEMENT_HERO", "altText": "a cat"},
    }
}
INTERACTIVE = {
    "interactive": {
        "header": {"title": "Deploy v1.2?"},
        "bodyTextLine1": "to production",
        "buttons": [{"id": "approve", "label": "Approve"}, {"id": "reject", "label": "Reject"}],
        "textInputs": [{"id": "reason", "title": "Why?", "placeholder": "optional"}],
        "selectionInputs": [
            {
                "id": "env",
                "title": "Where",
                "choices": [{"id": "prod", "label": "Production"}, {"id": "staging", "label": "Staging"}],
                "defaultChoiceId": "staging",
            }
        ],
    }
}
PROGRESS = {"progress": {"header": {"title": "Upload"}, "progressKey": "upload-1", "value": 0.4, "status": "40 %"}}


def spec_for(base_url: str) -> OpenAPI:
    """The shipped description, its server being any loopback port (a test server's)."""
    assert base_url.startswith("http://127.0.0.1:")
    return _loopback_spec()


@functools.cache
def _loopback_spec() -> OpenAPI:
    document = openapi_document()  # building it checks the whole document: about a second, so once
    document["servers"] = [{"url": "http://127.0.0.1:{port}", "variables": {"port": {"default": "8053"}}}]
    return OpenAPI.from_dict(document)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        err: dict[str, Any] = self.json["error"]
        return err


def as_person() -> dict[str, str]:
    """The suite's person credential as an HTTP header (tests/conftest.py)."""
    return {"Authorization": f"Bearer {os.environ['TOASTY_TOKEN']}"}


@dataclass
class Api:
    """Requests to one server's HTTP endpoint; each checked against the OpenAPI description."""

    base: str
    session: aiohttp.ClientSession
    spec: OpenAPI
    agent: str | None = "tester"
    # the suite's person secret (tests/conftest.py): calls act as the person unless `anonymous=True`
    token: str | None = field(default_factory=lambda: os.environ.get("TOASTY_TOKEN"))
    checked: list[str] = field(default_factory=list)

    def headers(
        self, extra: dict[str, str] | None = None, agent: str | None = None, anonymous: bool = False
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        who = agent if agent is not None else self.agent
        if who:
            out["X-Agent-Id"] = who
        if self.token and not anonymous:
            out["Authorization"] = f"Bearer {self.token}"
        return {**out, **(extra or {})}

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        agent: str | None = None,
        raw: bytes | None = None,
        validate_request: bool = True,
        anonymous: bool = False,
    ) -> Reply:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = self.headers(headers, agent, anonymous)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(method, self.base + path, data=data, params=params, headers=sent) as resp:
            reply = Reply(resp.status, dict(resp.headers), await resp.read())
        request = MockRequest(
            self.base, method, path, args=params, headers=sent, data=data, content_type=sent.get("Content-Type", "")
        )
        if validate_request:
            self.spec.validate_request(request)
        response = MockResponse(
            reply.body, reply.status, headers=reply.headers, content_type=reply.headers.get("Content-Type", "")
        )
        self.spec.validate_response(request, response)
        self.checked.append(f"{method} {urlsplit(path).path} {reply.status}")
        return reply

    async def publish(self, notification: dict[str, Any], **fields: Any) -> dict[str, Any]:
        reply = await self.call("POST", "/v1/publish", {"notification": notification, **fields})
        assert reply.status == 200, reply.body
        out: dict[str, Any] = reply.json
        return out


@dataclass
class Event:
    name: str
    data: Any
    id: str | None = None


class EventStream:
    """A server-sent event stream read event by event (comments and `retry:` skipped)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments = 0

    async def next(self, timeout: float = 5.0) -> Event:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Event:
        name, event_id, data = "message", None, []
        while True:
            line = await self.response.content.readline()
            if not line:
                raise EOFError("the stream ended")
            text = line.decode().rstrip("\n")
            if not text:
                if data:
                    joined = "\n".join(data)
                    return Event(name, json.loads(joined) if joined.startswith("{") else joined, event_id)
                continue
            if text.startswith(":"):
                self.comments += 1
                continue
            key, _, value = text.partition(":")
            value = value.removeprefix(" ")
            if key == "event":
                name = value
            elif key == "id":
                event_id = value
            elif key == "data":
                data.append(value)

    async def take(self, count: int, timeout: float = 5.0) -> list[Event]:
        return [await self.next(timeout) for _ in range(count)]


async def open_question(server: ToastyServer, timeout: float = 15.0) -> str:
    """The id of the one open question, once the server has registered it (a first gRPC call may be slow)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        pending = server.broker.asks.pending()
        if pending:
            return pending[0].notification_id
        await asyncio.sleep(0.01)
    raise AssertionError(f"no question was registered within {timeout}s")


def http_url(server: ToastyServer) -> str:
    assert server.http_port is not None, "start the server with http_enabled=True"
    return f"http://127.0.0.1:{server.http_port}"
