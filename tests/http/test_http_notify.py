"""`POST /v1/notify`: a plain-text body as a Text toast (`curl -d "Backup done" localhost:8053/v1/notify`),
with title, urgency and tags from headers or the query; the rules of docs/http.md ("Publish with one
line"), its errors, and the middleware (identity, origin, rate limit, metrics) of a publish."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ClientFactory
from tests.core.helpers import take
from tests.core.test_pubsub import wait_subscribed
from tests.hardening.helpers import ascrape
from tests.http.helpers import TEXT, Api, Reply, http_url, spec_for
from tests.requires import missing
from toasty_proto import v1
from toasty_server.app import ToastyServer
from toasty_server.render.console import ConsoleBackend
from toasty_server.testing import running_server

FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # what `curl -d` sends
PLAIN = {"Content-Type": "text/plain; charset=utf-8"}


@pytest.fixture
def console() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
async def server(tmp_path: Path, console: io.StringIO) -> AsyncIterator[ToastyServer]:
    """tests/http/conftest.py's server, its toasts shown by the console backend (into `console`)."""
    async with running_server(
        store="sqlite",
        db_path=tmp_path / "toasty.db",
        http_enabled=True,
        http_port=0,
        backends=[ConsoleBackend(console)],
    ) as srv:
        yield srv


async def notify(
    api: Api,
    body: bytes = b"",
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    **kwargs: Any,
) -> Reply:
    return await api.call("POST", "/v1/notify", raw=body, headers={**FORM, **(headers or {})}, params=params, **kwargs)


async def newest(api: Api) -> dict[str, Any]:
    """The newest delivery of the log, as the page reads it."""
    log = (await api.call("GET", "/v1/log", params={"limit": "1"})).json["deliveries"]
    assert log, "nothing was stored"
    delivery: dict[str, Any] = log[0]
    return delivery


def text_of(delivery: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """(title, attribution, line 1, line 2, urgency) of a delivered Text notification."""
    notification = delivery["notification"]
    text = notification["textMessage"]
    header = text["header"]
    return (
        header["title"],
        header.get("attribution", ""),
        text.get("bodyTextLine1", ""),
        text.get("bodyTextLine2", ""),
        notification.get("urgency", ""),
    )


async def test_a_plain_body_is_a_text_toast_delivered_to_subscribers(
    server: ToastyServer, api: Api, connect: ClientFactory, console: io.StringIO
) -> None:
    stream = connect("watcher").subscribe()
    first = asyncio.ensure_future(take(stream, 1))
    await wait_subscribed(server, "watcher")

    # Without a title, the first line (stripped) is the title, the second line 1, the rest line 2 (joined;
    # blank lines dropped).
    reply = await notify(api, b"  Backup done \n\n42 GB\nin 3 min\n\nno errors\n")

    assert reply.status == 200, reply.body
    published = reply.json
    assert set(published) >= {"notificationId", "success", "sequence", "queuedSubscribers", "toastRequested"}
    assert published["success"] is True
    assert published["toastRequested"] is True
    assert published["queuedSubscribers"] == 1
    [delivery] = await first
    assert delivery.publisher_agent_id == "tester"
    assert str(delivery.sequence) == published["sequence"]
    n = delivery.notification
    assert n is not None
    assert n.urgency == v1.UrgencyLevel.INFO
    text = n.text_message
    assert text is not None
    assert text.header is not None
    assert (text.header.title, text.body_text_line1, text.body_text_line2) == (
        "Backup done",
        "42 GB",
        "in 3 min\nno errors",
    )
    assert text.header.attribution == ""
    await server.renderer.drain()
    assert "[toast i info] Backup done — 42 GB / in 3 min" in console.getvalue()


async def test_one_line_is_a_title_only_toast(api: Api) -> None:
    assert (await notify(api, b"Backup done")).status == 200
    assert text_of(await newest(api)) == ("Backup done", "", "", "", "URGENCY_LEVEL_INFO")


async def test_title_urgency_and_tags_from_headers(api: Api) -> None:
    reply = await notify(
        api,
        b"42 GB copied\nin 3 min\nno errors",
        headers={"X-Title": "Backup done", "X-Urgency": "WARNING", "X-Tags": " backup, cron ,, "},
    )
    assert reply.status == 200, reply.body
    # With a title, the body's first line is line 1 and the rest line 2; tags are the attribution.
    assert text_of(await newest(api)) == (
        "Backup done",
        "backup, cron",
        "42 GB copied",
        "in 3 min\nno errors",
        "URGENCY_LEVEL_WARNING",
    )


async def test_title_urgency_and_tags_from_the_query_and_headers_win(api: Api) -> None:
    reply = await notify(api, b"disk 91 %", params={"title": "db-1", "urgency": "Critical", "tags": "disk"})
    assert reply.status == 200, reply.body
    assert text_of(await newest(api)) == ("db-1", "disk", "disk 91 %", "", "URGENCY_LEVEL_CRITICAL")

    both = await notify(
        api,
        b"body",
        headers={"X-Title": "from the header", "X-Urgency": "info"},
        params={"title": "from the query", "urgency": "critical"},
    )
    assert both.status == 200, both.body
    assert text_of(await newest(api)) == ("from the header", "", "body", "", "URGENCY_LEVEL_INFO")

    # A title alone (no body) is a toast without lines.
    alone = await notify(api, params={"title": "Nightly job started"})
    assert alone.status == 200, alone.body
    assert text_of(await newest(api))[:4] == ("Nightly job started", "", "", "")


@pytest.mark.parametrize("headers", [FORM, PLAIN, {"Content-Type": "application/json"}], ids=["form", "text", "json"])
async def test_the_body_is_taken_as_sent_whatever_its_content_type(api: Api, headers: dict[str, str]) -> None:
    # Not form-decoded (`+`, `&`, `%`, `=` stay), not JSON-parsed; UTF-8 with a BOM or CRLF line ends is fine.
    body = "\ufeff50% done & a+b=c  \r\n\r\n  Grüße, 東京\r\n\r\n".encode()
    described = headers["Content-Type"] != "application/json"  # the description lists text and form only
    reply = await api.call("POST", "/v1/notify", raw=body, headers=headers, validate_request=described)
    assert reply.status == 200, reply.body
    assert text_of(await newest(api))[:4] == ("50% done & a+b=c", "", "  Grüße, 東京", "")


async def test_json_looking_bodies_are_text_too(api: Api) -> None:
    reply = await notify(
        api, b'{"notification": {}}', headers={"Content-Type": "application/json"}, validate_request=False
    )
    assert reply.status == 200, reply.body
    assert text_of(await newest(api))[0] == '{"notification": {}}'


async def test_curl_itself(server: ToastyServer, connect: ClientFactory) -> None:
    """The documented one-liner as a real process: no headers, so the anonymous publisher."""
    curl = shutil.which("curl")
    if curl is None:
        missing("curl is not installed", "TOASTY_REQUIRE_TOOLS")
    stream = connect("watcher").subscribe()
    received = asyncio.ensure_future(take(stream, 2))
    await wait_subscribed(server, "watcher")
    url = f"127.0.0.1:{server.http_port}/v1/notify"

    one = await _run([curl, "-s", "-d", "Backup done", url])
    assert json.loads(one.stdout)["success"] is True
    lines = b"42 GB\nin 3 min\n"
    two = await _run(
        [
            curl,
            "-s",
            "-H",
            "X-Agent-Id: cron",
            "-H",
            "X-Urgency: critical",
            "--data-binary",
            "@-",
            url + "?title=Backup",
        ],
        stdin=lines,
    )
    assert json.loads(two.stdout)["success"] is True

    first, second = await received
    assert first.publisher_agent_id == "anonymous"
    assert first.notification is not None
    assert first.notification.text_message is not None
    assert first.notification.text_message.header is not None
    assert first.notification.text_message.header.title == "Backup done"
    assert second.publisher_agent_id == "cron"
    assert second.notification is not None
    assert second.notification.urgency == v1.UrgencyLevel.CRITICAL
    text = second.notification.text_message
    assert text is not None
    assert text.header is not None
    assert (text.header.title, text.body_text_line1, text.body_text_line2) == ("Backup", "42 GB", "in 3 min")

    refused = await _run([curl, "-s", "-w", "\n%{http_code}", "-d", "", url])
    body, status = refused.stdout.rsplit(b"\n", 1)
    assert status == b"400"
    assert json.loads(body)["error"]["code"] == "INVALID_ARGUMENT"


async def _run(line: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    done = await asyncio.to_thread(subprocess.run, line, input=stdin, capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr
    return done


# -- errors ----------------------------------------------------------------------------------------------------


def refused(reply: Reply) -> str:
    assert reply.status == 400, reply.body
    assert (reply.error["code"], reply.error["reason"]) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT")
    message: str = reply.error["message"]
    return message


@pytest.mark.parametrize("body", [b"", b" \n\r\n\t"], ids=["empty", "blank"])
async def test_an_empty_body_without_a_title_says_what_to_send(api: Api, body: bytes) -> None:
    message = refused(await notify(api, body))
    assert message.startswith("body: is empty")
    for hint in ("curl -d", "X-Title", "?title="):
        assert hint in message


@pytest.mark.parametrize(
    ("headers", "params", "named"),
    [
        ({"X-Urgency": "urgent"}, None, "X-Urgency header: 'urgent'"),
        (None, {"urgency": "URGENCY_LEVEL_WARNING"}, "urgency parameter: 'URGENCY_LEVEL_WARNING'"),
    ],
    ids=["header", "query"],
)
async def test_an_unknown_urgency_names_the_allowed_values(
    api: Api, headers: dict[str, str] | None, params: dict[str, str] | None, named: str
) -> None:
    message = refused(await notify(api, b"hi", headers=headers, params=params))
    assert message == f"{named} is not one of info, warning, critical"


async def test_a_body_that_is_not_utf8_is_400(api: Api) -> None:
    message = refused(await notify(api, b"\xef\xbb\xbfBackup \xe9t\xe9 done", headers=PLAIN))
    assert message.startswith("body: is not UTF-8 text (byte 10 is invalid)")


async def test_a_header_that_is_not_utf8_is_400(server: ToastyServer) -> None:
    # No client library sends such a header: write the request by hand.
    assert server.http_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    writer.write(
        b"POST /v1/notify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Title: \xe9t\xe9\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\nhi"
    )
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["error"]["message"] == "X-Title header: is not UTF-8 text"


@pytest.mark.parametrize(
    ("body", "headers", "params", "named"),
    [
        (b"x", {"X-Title": "t" * 257}, None, "X-Title header: is 257 characters long; the limit is 256"),
        (b"x", None, {"title": "t" * 300}, "title parameter: is 300 characters long; the limit is 256"),
        (b"t" * 257 + b"\nline", None, None, "body (its first line, the title): is 257 characters long"),
        (b"title\n" + b"l" * 2049, None, None, "body (its second line): is 2049 characters long"),
        (b"l" * 2049, {"X-Title": "t"}, None, "body (its first line): is 2049 characters long"),
        (b"t\n1\n" + b"l" * 2049, None, None, "body (its lines after the second): is 2049 characters long"),
        (b"x", {"X-Tags": "a," * 200}, None, "X-Tags header (the tags, shown as the attribution): is 598 char"),
    ],
    ids=["X-Title", "?title", "first-line", "second-line", "line-1", "line-2", "tags"],
)
async def test_over_long_parts_are_refused_naming_what_to_shorten(
    api: Api, body: bytes, headers: dict[str, str] | None, params: dict[str, str] | None, named: str
) -> None:
    message = refused(await notify(api, body, headers=headers, params=params))
    assert message.startswith(named), message
    assert (await api.call("GET", "/v1/log")).json["deliveries"] == []  # nothing was stored


# -- the middleware of a publish ---------------------------------------------------------------------------------


async def test_rate_limited_and_counted_as_a_publish(session: aiohttp.ClientSession) -> None:
    async with running_server(http_enabled=True, http_port=0, rate_limit=3, rate_window=60) as server:
        base = http_url(server)
        noisy = Api(base, session, spec_for(base), agent="noisy", token=None)
        assert (await noisy.call("POST", "/v1/publish", {"notification": TEXT})).status == 200
        for i in range(2):
            assert (await notify(noisy, f"run {i}".encode())).status == 200

        over = await notify(noisy, b"one too many")
        assert over.status == 429
        assert (over.error["code"], over.error["reason"]) == ("RESOURCE_EXHAUSTED", "RATE_LIMITED")
        assert 1 <= int(over.headers["Retry-After"]) <= 20  # one call every 60/3 = 20 s
        assert (await noisy.call("POST", "/v1/publish", {"notification": TEXT})).status == 429  # one budget

        assert server.metrics_port is not None
        await asyncio.sleep(0)
        m = await ascrape(server.metrics_port)
        publish = "/toasty.v1.NotificationService/Publish"
        assert m[f'toasty_rpc_calls_total{{code="OK",method="{publish}"}}'] == 3
        assert m[f'toasty_rpc_calls_total{{code="RESOURCE_EXHAUSTED",method="{publish}"}}'] == 2
        assert m['toasty_publishes_total{method="Publish"}'] == 3
        assert m['toasty_http_requests_total{route="/v1/notify",status="200"}'] == 2
        assert m['toasty_http_requests_total{route="/v1/notify",status="429"}'] == 1


async def test_identity_and_origin_come_from_the_middleware(api: Api) -> None:
    # A page of another site can make a browser POST text/plain here without a preflight: refused.
    forged = await notify(api, b"pwned", headers={"Origin": "https://evil.example", **PLAIN})
    assert forged.status == 403
    assert "another origin" in forged.error["message"]
    rebound = await notify(api, b"pwned", headers={"Host": "evil.example:8053"})
    assert rebound.status == 403

    anonymous = await notify(api, b"from a script", agent="cron", anonymous=True)
    assert anonymous.status == 200
    assert (await newest(api))["publisherAgentId"] == "cron"
    wrong = await notify(api, b"x", headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status == 401
