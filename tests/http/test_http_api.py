"""The HTTP/JSON API end to end: every payload type, the legacy send, validation with the field named,
status, log and open questions; each request and response checked against the OpenAPI description."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import aiohttp
import pytest

from tests.conftest import ClientFactory
from tests.core.helpers import take
from tests.core.test_pubsub import wait_subscribed
from tests.http.helpers import IMAGE_TEXT, INTERACTIVE, PROGRESS, TEXT, Api, http_url
from tests.requires import missing
from toasty_proto import v1
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server


@pytest.mark.parametrize("payload", [TEXT, IMAGE_TEXT, INTERACTIVE, PROGRESS], ids=["text", "image", "ask", "progress"])
async def test_publish_every_payload_type_reaches_a_grpc_subscriber(
    server: ToastyServer, api: Api, connect: ClientFactory, payload: dict[str, object]
) -> None:
    stream = connect("watcher").subscribe()
    first = asyncio.ensure_future(take(stream, 1))
    await wait_subscribed(server, "watcher")

    published = await api.publish({**payload, "urgency": "URGENCY_LEVEL_WARNING"}, skipToast=True)

    assert published["success"] is True
    assert published["duplicate"] is False
    assert int(published["sequence"]) >= 1
    assert published["queuedSubscribers"] == 1
    [delivery] = await first
    assert delivery.publisher_agent_id == "tester"
    assert delivery.notification is not None
    assert delivery.notification.id == published["notificationId"]
    assert delivery.notification.urgency == v1.UrgencyLevel.WARNING
    kind = next(iter(payload))
    assert getattr(delivery.notification, {"textMessage": "text_message", "imageText": "image_text"}.get(kind, kind))


async def test_snake_case_names_and_numbers_for_enums_are_accepted(api: Api, server: ToastyServer) -> None:
    reply = await api.call(
        "POST",
        "/v1/publish",
        {"notification": {"text_message": {"header": {"title": "snake"}}, "urgency": 3}, "skip_toast": True},
    )
    assert reply.status == 200, reply.body
    [entry] = await server.broker.store.recent(1)
    delivery = v1.Delivery.FromString(entry.payload)
    assert delivery.notification is not None
    assert delivery.notification.urgency == v1.UrgencyLevel.CRITICAL


async def test_idempotent_publish_returns_the_first_id(api: Api) -> None:
    first = await api.publish({**TEXT, "idempotencyKey": "build-42"})
    again = await api.publish({**TEXT, "idempotencyKey": "build-42"})
    assert again["duplicate"] is True
    assert again["notificationId"] == first["notificationId"]


async def test_legacy_send(api: Api, connect: ClientFactory, server: ToastyServer) -> None:
    stream = connect("watcher").subscribe()
    first = asyncio.ensure_future(take(stream, 1))
    await wait_subscribed(server, "watcher")
    reply = await api.call(
        "POST", "/v1/send", {"title": "Backup done", "message": "42 GB", "level": "URGENCY_LEVEL_INFO"}
    )
    assert reply.status == 200
    assert reply.json["success"] is True
    [delivery] = await first
    assert delivery.notification is not None
    assert delivery.notification.text_message is not None
    assert delivery.notification.text_message.body_text_line1 == "42 GB"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {"notification": {"textMessage": {"header": {"title": 7}}}},
            "notification.textMessage.header.title",
            "string",
        ),
        ({"notification": {}}, "notification.payload", "set one of"),
        ({"notification": {"textMessage": {"header": {"title": "x" * 300}}}}, "title", "256"),
        ({"notification": {"textMessage": {}, "progress": {}}}, "notification", "only one"),
        ({"notification": {"urgency": "LOUD", **TEXT}}, "notification.urgency", "URGENCY_LEVEL_INFO"),
        ({"notification": {"displaySeconds": -1, **TEXT}}, "notification.displaySeconds", "out of range"),
        ({"notification": TEXT, "colour": "red"}, "colour", "not a field of PublishRequest"),
        ({"notification": {**INTERACTIVE["interactive"]}}, "notification.header", "not a field of Notification"),
        ([1, 2], "body", "JSON object"),
    ],
    ids=["type", "no-payload", "too-long", "two-payloads", "enum", "range", "unknown", "misplaced", "array"],
)
async def test_validation_errors_are_400_naming_the_field(api: Api, body: object, field: str, words: str) -> None:
    reply = await api.call("POST", "/v1/publish", body, validate_request=False)
    assert reply.status == 400, reply.body
    error = reply.error
    assert (error["code"], error["reason"]) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert field in error["message"]
    assert words in error["message"]
    assert error["trace_id"] == reply.headers["Toasty-Trace-Id"]
    assert reply.headers["Toasty-Reason"] == "INVALID_ARGUMENT"


async def test_malformed_json_and_unknown_routes(api: Api) -> None:
    reply = await api.call("POST", "/v1/publish", raw=b"{not json", validate_request=False)
    assert reply.status == 400
    assert "not valid JSON" in reply.error["message"]
    missing = await api.session.get(api.base + "/v1/nope")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "NOT_FOUND"
    wrong = await api.session.get(api.base + "/v1/publish")
    assert wrong.status == 405
    assert "POST" in (await wrong.json())["error"]["message"]


async def test_a_body_over_the_size_limit_is_refused(session: aiohttp.ClientSession) -> None:
    async with running_server(http_enabled=True, http_port=0, max_message_bytes=2048) as server:
        big = json.dumps({"notification": {"textMessage": {"header": {"title": "x" * 4000}}}})
        async with session.post(http_url(server) + "/v1/publish", data=big) as resp:
            assert resp.status == 413
            assert "TOASTY_MAX_MESSAGE_BYTES" in (await resp.json())["error"]["message"]


async def test_status_log_and_open_questions(api: Api, server: ToastyServer) -> None:
    await api.publish(TEXT)
    asked = await api.publish({**INTERACTIVE, "id": "deploy-12", "answerTimeoutSeconds": 600})

    status = (await api.call("GET", "/v1/status")).json
    assert status["store"] == "sqlite"
    assert status["pendingInteractions"] == 1
    assert int(status["lastSequence"]) >= 2

    log = (await api.call("GET", "/v1/log", params={"limit": "10"})).json["deliveries"]
    sequences = [int(d["sequence"]) for d in log]
    assert sequences == sorted(sequences, reverse=True)  # newest first
    titles = [
        d["notification"]["interactive"]["header"]["title"] for d in log if "interactive" in d.get("notification", {})
    ]
    assert titles == ["Deploy v1.2?"]

    [ask] = (await api.call("GET", "/v1/asks")).json["asks"]
    assert asked["notificationId"] == "deploy-12"  # the publisher's own id
    assert ask["notificationId"] == "tester~deploy-12"  # the person's view: the global id (service.ids)
    assert ask["publisherAgentId"] == "tester"
    assert ask["buttonIds"] == ["approve", "reject"]
    assert ask["inputIds"] == ["reason", "env"]
    assert ask["deadlineUnixMs"] > 0
    assert ask["delivery"]["notification"]["interactive"]["selectionInputs"][0]["defaultChoiceId"] == "staging"

    bad = await api.call("GET", "/v1/log", params={"limit": "0"}, validate_request=False)
    assert bad.status == 400
    assert "limit" in bad.error["message"]


async def test_withdraw_and_answer_over_http(api: Api) -> None:
    await api.publish({**INTERACTIVE, "id": "q1"})
    other = await api.call("POST", "/v1/notifications/tester~q1/withdraw", agent="someone-else", anonymous=True)
    assert other.status == 403
    assert other.error["code"] == "PERMISSION_DENIED"

    wrong = await api.call("POST", "/v1/notifications/q1/answer", {"buttonId": "maybe"})
    assert wrong.status == 400
    assert "button_id" in wrong.error["message"]

    answered = await api.call("POST", "/v1/notifications/q1/answer", {"buttonId": "approve", "inputs": {"env": "prod"}})
    assert answered.json == {"accepted": True}
    again = await api.call("POST", "/v1/notifications/q1/answer", {"dismiss": True})
    assert again.json == {"accepted": False}  # exactly one outcome
    event = (await api.call("GET", "/v1/notifications/q1/answer")).json
    assert (event["kind"], event["buttonId"], event["inputs"], event["backend"]) == (
        "INTERACTION_KIND_BUTTON",
        "approve",
        {"env": "prod"},
        "web",  # set by the server from the channel
    )
    assert (await api.call("POST", "/v1/notifications/q1/withdraw")).json == {"withdrawn": False}

    await api.publish({**INTERACTIVE, "id": "q2"})
    assert (await api.call("POST", "/v1/notifications/q2/withdraw", {})).json == {"withdrawn": True}
    assert (await api.call("GET", "/v1/notifications/q2/answer")).json["kind"] == "INTERACTION_KIND_WITHDRAWN"

    mismatch = await api.call("POST", "/v1/notifications/q2/answer", {"notificationId": "q3", "dismiss": True})
    assert mismatch.status == 400


async def test_health_page_and_description_are_public(api: Api) -> None:
    assert (await api.call("GET", "/healthz", agent="")).json == {"status": "SERVING"}
    page = await api.session.get(api.base + "/")
    assert page.status == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<title>Toasty</title>" in await page.text()
    for name in ("app.js", "style.css"):
        assert (await api.session.get(f"{api.base}/static/{name}")).status == 200
    assert (await api.session.get(api.base + "/static/../app.py")).status == 404
    document = await (await api.session.get(api.base + "/openapi.json")).json()
    assert document["openapi"].startswith("3.1")


async def test_the_one_line_curl_publish_from_the_docs(server: ToastyServer, connect: ClientFactory) -> None:
    if shutil.which("curl") is None:
        missing("curl is not installed", "TOASTY_REQUIRE_TOOLS")
    stream = connect("watcher").subscribe()
    first = asyncio.ensure_future(take(stream, 1))
    await wait_subscribed(server, "watcher")
    line = [
        "curl", "-s", "-d", '{"notification":{"textMessage":{"header":{"title":"hi"}}}}',
        f"127.0.0.1:{server.http_port}/v1/publish",
    ]  # fmt: skip
    done = await asyncio.to_thread(subprocess.run, line, capture_output=True, text=True, timeout=10)
    assert json.loads(done.stdout)["success"] is True
    [delivery] = await first
    assert delivery.publisher_agent_id == "anonymous"
    assert delivery.notification is not None
    assert delivery.notification.text_message is not None
    assert delivery.notification.text_message.header is not None
    assert delivery.notification.text_message.header.title == "hi"


async def test_http_is_off_by_default() -> None:
    async with running_server() as server:
        assert server.http_port is None
        assert server.settings.http_enabled is False
        assert server.settings.http_port == 8053


async def test_a_busy_http_port_stops_start_up_naming_the_setting() -> None:
    async with running_server(http_enabled=True, http_port=0) as first:
        with pytest.raises(OSError, match="TOASTY_HTTP_PORT"):
            async with running_server(http_enabled=True, http_port=first.http_port):
                pass
