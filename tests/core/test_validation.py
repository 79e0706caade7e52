"""Bad input gets INVALID_ARGUMENT naming the field, and changes nothing for anyone else."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from tests.conftest import ClientFactory
from tests.core.helpers import nothing_more, take, titles
from tests.core.test_pubsub import wait_subscribed
from toasty_proto import v1
from toasty_server.app import ToastyServer


def text(title: str = "ok", **kwargs: object) -> v1.Notification:
    return v1.Notification(text_message=v1.TextMessage(header=v1.Header(title=title)), **kwargs)  # type: ignore[arg-type]


def interactive(**kwargs: object) -> v1.Notification:
    defaults: dict[str, object] = {"header": v1.Header(title="Q?"), "buttons": [v1.Button(id="ok", label="OK")]}
    return v1.Notification(interactive=v1.Interactive(**{**defaults, **kwargs}))  # type: ignore[arg-type]


BAD_REQUESTS = {
    "missing notification": (v1.PublishRequest(), "notification: is required"),
    "missing payload": (v1.PublishRequest(notification=v1.Notification()), "notification.payload: set one of"),
    "empty title": (v1.PublishRequest(notification=text("  ")), "notification.text_message.header.title"),
    "missing header": (
        v1.PublishRequest(notification=v1.Notification(text_message=v1.TextMessage(body_text_line1="x"))),
        "notification.text_message.header.title: is required",
    ),
    "oversize title": (
        v1.PublishRequest(notification=text("t" * 257)),
        "title: is 257 characters long; the limit is 256",
    ),
    "oversize body": (
        v1.PublishRequest(
            notification=v1.Notification(
                text_message=v1.TextMessage(header=v1.Header(title="t"), body_text_line1="b" * 3000)
            )
        ),
        "notification.text_message.body_text_line1: is 3000 characters long",
    ),
    "unknown urgency": (
        v1.PublishRequest(notification=text(urgency=v1.UrgencyLevel(9))),
        "notification.urgency: unknown value 9",
    ),
    "bad target": (v1.PublishRequest(notification=text(), target_client_id="no spaces"), "target_client_id"),
    "six buttons": (
        v1.PublishRequest(notification=interactive(buttons=[v1.Button(id=f"b{i}", label="L") for i in range(6)])),
        "notification.interactive.buttons: has 6 buttons; the limit is 5",
    ),
    "duplicate button": (
        v1.PublishRequest(notification=interactive(buttons=[v1.Button(id="a", label="A")] * 2)),
        "notification.interactive.buttons[1].id: 'a' is used twice",
    ),
    "no button": (v1.PublishRequest(notification=interactive(buttons=[])), "add at least one button"),
    "six inputs": (
        v1.PublishRequest(notification=interactive(text_inputs=[v1.TextInput(id=f"i{i}") for i in range(6)])),
        "has 6 inputs; the limit is 5",
    ),
    "bad default choice": (
        v1.PublishRequest(
            notification=interactive(
                selection_inputs=[
                    v1.SelectionInput(id="env", choices=[v1.SelectionChoice(id="p", label="P")], default_choice_id="x")
                ]
            )
        ),
        "selection_inputs[0].default_choice_id: 'x' is not one of the choice ids",
    ),
    "progress out of range": (
        v1.PublishRequest(
            notification=v1.Notification(progress=v1.Progress(header=v1.Header(title="p"), progress_key="k", value=1.5))
        ),
        "notification.progress.value: 1.5 must be between 0.0 and 1.0",
    ),
    "progress without key": (
        v1.PublishRequest(notification=v1.Notification(progress=v1.Progress(header=v1.Header(title="p")))),
        "notification.progress.progress_key: is required",
    ),
    "relative image path": (
        v1.PublishRequest(
            notification=v1.Notification(
                image_text=v1.ImageTextMessage(header=v1.Header(title="i"), image=v1.Image(path="../etc/passwd"))
            )
        ),
        "notification.image_text.image.path: '../etc/passwd' must be an absolute path",
    ),
    "ftp image url": (
        v1.PublishRequest(
            notification=v1.Notification(
                image_text=v1.ImageTextMessage(header=v1.Header(title="i"), image=v1.Image(url="ftp://x/y.png"))
            )
        ),
        "image.url: 'ftp://x/y.png' must be a URL with http or https",
    ),
    "missing image": (
        v1.PublishRequest(notification=v1.Notification(image_text=v1.ImageTextMessage(header=v1.Header(title="i")))),
        "notification.image_text.image: is required",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
async def test_bad_publish_is_invalid_argument_naming_the_field(
    case: str, server: ToastyServer, connect: ClientFactory
) -> None:
    request, expected = BAD_REQUESTS[case]
    watcher = connect("watcher").subscribe()
    reader = asyncio.ensure_future(take(watcher, 1))
    await wait_subscribed(server, "watcher")
    before = server.broker.last_sequence

    channel = grpc.aio.insecure_channel(server.address)
    publish = channel.unary_unary(
        v1.NOTIFICATION_SERVICE_PUBLISH.path,
        request_serializer=bytes,
        response_deserializer=v1.PublishResponse.FromString,
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await publish(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (info.value.details() or "")
    assert ("toasty-reason", "INVALID_ARGUMENT") in tuple(info.value.trailing_metadata() or ())
    assert server.broker.last_sequence == before  # nothing stored

    # The server keeps serving: a good publish right after is delivered, and only it.
    await publish(v1.PublishRequest(notification=text("good")))
    assert titles(await reader) == ["good"]
    await nothing_more(watcher, 0.1)
    await channel.close()


async def test_legacy_api_validates_too(server: ToastyServer) -> None:
    channel = grpc.aio.insecure_channel(server.address)
    method = v1.NOTIFICATION_SERVICE_SEND_NOTIFICATION
    call = channel.unary_unary(method.path, request_serializer=bytes, response_deserializer=method.deserialize_response)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(v1.SendNotificationRequest(title="", message="m"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "title: is required" in (info.value.details() or "")
    await channel.close()


async def test_oversize_message_is_refused_by_size(tmp_path: object) -> None:
    from toasty_server.testing import running_server

    async with running_server(max_message_bytes=4096) as srv:
        channel = grpc.aio.insecure_channel(srv.address)
        publish = channel.unary_unary(
            v1.NOTIFICATION_SERVICE_PUBLISH.path,
            request_serializer=bytes,
            response_deserializer=v1.PublishResponse.FromString,
        )
        big = v1.PublishRequest(
            notification=v1.Notification(
                text_message=v1.TextMessage(header=v1.Header(title="t"), body_text_line1="x" * 10_000)
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await publish(big)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "4096" in (info.value.details() or "")
        await channel.close()
