"""Publish over gRPC to a real server whose desktop is the Windows backend (fake WinRT below windows-toasts)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from toasty_proto import v1
from toasty_server.app import ToastyServer
from toasty_server.render.windows import WindowsBackend
from toasty_server.testing import running_server

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def server(fake: Any, tmp_path: Path) -> AsyncIterator[ToastyServer]:
    # the test's image server is on loopback, which the hub only fetches from when told to
    async with running_server(
        backends=[WindowsBackend("E2E.Toasty")], data_dir=tmp_path, image_fetch_private=True
    ) as srv:
        yield srv


async def publish(server: ToastyServer, notification: v1.Notification) -> v1.PublishResponse:
    method = v1.NOTIFICATION_SERVICE_PUBLISH
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = channel.unary_unary(
            method.path, request_serializer=bytes, response_deserializer=v1.PublishResponse.FromString
        )
        response: v1.PublishResponse = await call(
            v1.PublishRequest(notification=notification), metadata=(("x-agent-id", "deployer"),)
        )
    await server.renderer.drain()
    return response


async def test_interactive_publish_becomes_a_windows_toast(server: ToastyServer, fake: Any) -> None:
    notification = v1.Notification(
        urgency=v1.UrgencyLevel.CRITICAL,
        interactive=v1.Interactive(
            header=v1.Header(title="Deploy to prod?"),
            body_text_line1="build 42",
            buttons=[v1.Button(id="approve", label="Approve"), v1.Button(id="reject", label="Reject")],
            text_inputs=[v1.TextInput(id="reason", title="Reason", placeholder="why?")],
            selection_inputs=[
                v1.SelectionInput(
                    id="env",
                    title="Env",
                    choices=[v1.SelectionChoice(id="prod", label="prod"), v1.SelectionChoice(id="stg", label="stg")],
                    default_choice_id="stg",
                )
            ],
        ),
    )
    response = await publish(server, notification)
    nid = f"deployer~{response.notification_id}"  # the toast carries the global id (service.ids)
    [toast] = fake.notifier_for("E2E.Toasty").shown
    assert toast.xml == (
        f'<toast duration="long" scenario="alarm" launch="toasty:{nid}" useButtonStyle="true"><visual>'
        '<binding template="ToastGeneric"><text id="1">{text1}</text><text id="2">{text2}</text></binding></visual>'
        '<audio src="ms-winsoundevent:Notification.Looping.Alarm" loop="true"/><actions>'
        '<input id="reason" title="Reason" type="text" placeHolderContent="why?"/>'
        '<input id="env" title="Env" type="selection" defaultInput="stg">'
        '<selection id="prod" content="prod"/><selection id="stg" content="stg"/></input>'
        f'<action content="Approve" arguments="toasty:{nid}:approve"/>'
        f'<action content="Reject" arguments="toasty:{nid}:reject"/>'
        # the hub's own action after the publisher's buttons ('#' escaped: never a publisher's button id)
        f'<action content="Remind me in 10 minutes" arguments="toasty:{nid}:%23snooze"/></actions></toast>'
    )
    assert dict(toast.data.values) == {"text1": "Deploy to prod?", "text2": "build 42"}
    assert server.renderer.shown["windows"] == 1


async def test_progress_publishes_update_one_toast(server: ToastyServer, fake: Any) -> None:
    for value in (0.1, 0.6):
        await publish(
            server,
            v1.Notification(
                progress=v1.Progress(header=v1.Header(title="Upload"), progress_key="up", value=value, status="sending")
            ),
        )
    notifier = fake.notifier_for("E2E.Toasty")
    assert len(notifier.shown) == 1
    assert [u.values["progress"] for u in notifier.updates] == ["0.6"]
    assert 'value="0.6" valueStringOverride="60%"' in notifier.shown[0].rendered_xml


@pytest.fixture
def image_url() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/logo.png"
    httpd.shutdown()
    httpd.server_close()


async def test_image_url_is_downloaded_into_the_cache(
    server: ToastyServer, fake: Any, image_url: str, tmp_path: Path
) -> None:
    image = v1.Image(url=image_url, placement=v1.ImagePlacement.HERO)
    await publish(server, v1.Notification(image_text=v1.ImageTextMessage(header=v1.Header(title="Logo"), image=image)))
    [toast] = fake.notifier_for("E2E.Toasty").shown
    [cached] = (tmp_path / "images").iterdir()
    assert cached.read_bytes() == PNG
    assert f'<image src="{cached.as_uri()}" id="1" placement="hero"/>' in toast.xml


async def test_unreachable_image_url_shows_the_toast_without_it(server: ToastyServer, fake: Any) -> None:
    image = v1.Image(url="http://127.0.0.1:9/nothing.png")
    await publish(server, v1.Notification(image_text=v1.ImageTextMessage(header=v1.Header(title="T"), image=image)))
    [toast] = fake.notifier_for("E2E.Toasty").shown
    assert "<image" not in toast.xml
    assert server.renderer.failed["image_download"] == 1
