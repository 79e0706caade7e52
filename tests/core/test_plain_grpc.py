"""Any gRPC client generated from the .proto alone works: no Toasty library on the client side."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from types import ModuleType

import grpc
import pytest

from tests.core.test_pubsub import wait_subscribed
from toasty_proto import proto_root
from toasty_server.app import ToastyServer


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    """grpcio's own stubs (protobuf/upb messages), generated from the .proto shipped in toasty-proto."""
    out = tmp_path_factory.mktemp("stubs")
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_root()}",
            f"--python_out={out}", f"--grpc_python_out={out}", "toasty/v1/toasty.proto",
        ],
        check=True,
    )  # fmt: skip
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("toasty.v1.toasty_pb2"), importlib.import_module("toasty.v1.toasty_pb2_grpc")
    finally:
        sys.path.remove(str(out))


async def test_publish_and_subscribe_with_grpcio_generated_stubs(
    server: ToastyServer, stubs: tuple[ModuleType, ModuleType]
) -> None:
    pb2, pb2_grpc = stubs
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = pb2_grpc.NotificationServiceStub(channel)
        stream = stub.Subscribe(pb2.SubscriptionRequest(client_id="plain"), metadata=(("x-agent-id", "plain"),))
        await wait_subscribed(server, "plain")
        notification = pb2.Notification(
            urgency=pb2.URGENCY_LEVEL_CRITICAL,
            progress=pb2.Progress(header=pb2.Header(title="Copying"), progress_key="copy", value=0.5),
        )
        response = await stub.Publish(pb2.PublishRequest(notification=notification, target_client_id="plain"))
        assert response.success
        assert response.sequence > 0
        assert response.notification_id
        delivery = await asyncio.wait_for(stream.read(), 5)
        assert delivery.sequence == response.sequence
        assert delivery.notification.WhichOneof("payload") == "progress"
        assert delivery.notification.progress.value == 0.5
        assert delivery.notification.urgency == pb2.URGENCY_LEVEL_CRITICAL
        legacy = await stub.SendNotification(pb2.SendNotificationRequest(title="Old API", message="still works"))
        assert legacy.success
        second = await asyncio.wait_for(stream.read(), 5)
        assert second.notification.text_message.header.title == "Old API"
        stream.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Publish(pb2.PublishRequest())
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
