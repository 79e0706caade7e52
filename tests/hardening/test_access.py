"""Access: tokens per agent, a 0600 Unix socket, TLS required beyond loopback."""

from __future__ import annotations

import asyncio
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.hardening.helpers import ascrape, stream, trailing, unary
from tests.requires import missing
from toasty_client import (
    PermissionDenied,
    ResilientNotificationClient,
    RetryPolicy,
    ServerUnavailable,
    TextNotification,
    Unauthenticated,
)
from toasty_proto import v1
from toasty_server.access.hosts import is_loopback
from toasty_server.config import ConfigError, load_settings
from toasty_server.testing import running_server

ALICE_TOKEN = "alice-token-0123456789"
BOB_TOKEN = "bob-token-0123456789"
NO_RETRY = RetryPolicy(publish_attempts=1, subscribe_max_attempts=1)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.toml"
    path.write_text(f'alice = "{ALICE_TOKEN}"\nbob = "{BOB_TOKEN}"\ndashboard = "dashboard-token-0123"\n')
    path.chmod(0o600)
    return path


async def test_tokens_authenticate_each_agent(token_file: Path) -> None:
    async with running_server(token_file=token_file) as server:
        async with ResilientNotificationClient(server.address, agent_id="alice", token=ALICE_TOKEN) as alice:
            assert (await alice.publish(TextNotification(title="signed"))).success
        for agent, token in (("alice", "wrong-token-123456"), ("alice", BOB_TOKEN), ("mallory", ALICE_TOKEN)):
            async with ResilientNotificationClient(server.address, agent_id=agent, token=token, retry=NO_RETRY) as c:
                with pytest.raises(Unauthenticated) as refused:
                    await c.publish(TextNotification(title="forged"))
                assert refused.value.reason == "UNAUTHENTICATED"
                assert "TOASTY_TOKEN_FILE" in str(refused.value)
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await unary(channel, v1.NOTIFICATION_SERVICE_GET_STATUS, v1.StatusRequest(), (("x-agent-id", "alice"),))
            assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "no bearer token" in (missing.value.details() or "")
            # Health checks need no token.
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert server.metrics_port
        scraped = await ascrape(server.metrics_port)
        assert scraped['toasty_auth_refusals_total{code="UNAUTHENTICATED"}'] == 4


async def test_a_token_of_agent_a_cannot_subscribe_as_b(token_file: Path) -> None:
    async with running_server(token_file=token_file, subscribe_grants={"dashboard": ["*"]}) as server:
        async with ResilientNotificationClient(
            server.address, agent_id="alice", token=ALICE_TOKEN, retry=NO_RETRY
        ) as alice:
            with pytest.raises(PermissionDenied) as refused:
                async for _ in alice.subscribe("bob"):
                    pass
            assert "TOASTY_SUBSCRIBE_GRANTS" in str(refused.value)
        async with grpc.aio.insecure_channel(server.address) as channel:
            alice_md = (("x-agent-id", "alice"), ("authorization", f"Bearer {ALICE_TOKEN}"))
            with pytest.raises(grpc.aio.AioRpcError) as raw:
                async for _ in stream(channel, v1.SubscriptionRequest(client_id="bob"), alice_md):
                    pass
            assert raw.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert trailing(raw.value, "toasty-reason") == "PERMISSION_DENIED"
            assert not server.broker.subscriptions  # refused before the broker saw it

            # Alice as herself (explicitly or by default), and the dashboard as anyone, are fine.
            own = stream(channel, v1.SubscriptionRequest(client_id="alice"), alice_md)
            dash_md = (("x-agent-id", "dashboard"), ("authorization", "Bearer dashboard-token-0123"))
            watching = stream(channel, v1.SubscriptionRequest(client_id="bob"), dash_md)
            for _ in range(100):
                if {s.client_id for s in server.broker.subscriptions} == {"alice", "bob"}:
                    break
                await asyncio.sleep(0.01)
            assert {s.client_id for s in server.broker.subscriptions} == {"alice", "bob"}
            own.cancel()
            watching.cancel()


def test_token_file_problems_stop_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"token_file \(TOASTY_TOKEN_FILE\)"):
        load_settings(token_file=tmp_path / "missing.toml")
    bad = tmp_path / "tokens.json"
    bad.write_text('{"alice": "short"}')
    with pytest.raises(ConfigError, match=r"TOASTY_TOKEN_FILE.*8 characters"):
        load_settings(token_file=bad)
    good = tmp_path / "tokens2.json"
    good.write_text('{"tokens": {"alice": "long-enough-token"}}')
    assert load_settings(token_file=good).token_file == good


@pytest.mark.skipif(sys.platform == "win32", reason="Unix domain sockets with POSIX modes")
async def test_unix_socket_is_created_0600_and_usable_by_the_client(tmp_path: Path) -> None:
    path = tmp_path / "toasty.sock"
    async with running_server(unix_socket=path) as server:
        mode = path.stat().st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
        assert server.address == f"unix:{path}"
        async with ResilientNotificationClient(f"unix:{path}", agent_id="local") as client:
            assert (await client.publish(TextNotification(title="over a socket"))).success
    # A socket left behind by a killed server does not block the next start.
    leftover = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(leftover))
    async with (
        running_server(unix_socket=leftover) as server,
        ResilientNotificationClient(server.address, agent_id="local") as client,
    ):
        assert (await client.status()).store == "memory"
    # A regular file in the way is reported, naming the setting.
    blocker = tmp_path / "file.sock"
    blocker.write_text("not a socket")
    with pytest.raises(OSError, match="TOASTY_UNIX_SOCKET"):
        async with running_server(unix_socket=blocker):
            pass


def test_loopback_detection() -> None:
    for host in ("localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com"):
        assert not is_loopback(host), host


def test_non_loopback_host_without_tls_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(host="0.0.0.0")
    message = str(refused.value)
    for name in ("TOASTY_HOST", "TOASTY_TLS_CERT", "TOASTY_TLS_KEY"):
        assert name in message
    process = subprocess.run(
        [sys.executable, "-m", "toasty_server", "--host", "0.0.0.0", "--store", "memory"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert process.returncode == 2
    assert "TOASTY_TLS_CERT" in process.stderr


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        missing("openssl is needed to make a test certificate", "TOASTY_REQUIRE_TOOLS")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_settings_go_together_and_allow_a_remote_host(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = certificate
    with pytest.raises(ConfigError, match="set both or neither"):
        load_settings(tls_cert=cert)
    with pytest.raises(ConfigError, match=r"tls_key \(TOASTY_TLS_KEY\).*does not exist"):
        load_settings(tls_cert=cert, tls_key=tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match="set TOASTY_TOKEN_FILE"):  # anonymity is for this machine only
        load_settings(host="0.0.0.0", tls_cert=cert, tls_key=key)
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('remote-agent = "remote-agent-token"\n')
    tokens.chmod(0o600)
    assert load_settings(host="0.0.0.0", tls_cert=cert, tls_key=key, token_file=tokens).host == "0.0.0.0"


async def test_tls_listener_serves_grpc_and_metrics(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    async with running_server(tls_cert=cert, tls_key=key) as server:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(server.address, credentials) as channel:
            status = await unary(channel, v1.NOTIFICATION_SERVICE_GET_STATUS, v1.StatusRequest())
            assert status.store == "memory"
        async with grpc.aio.insecure_channel(server.address) as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await unary(plain, v1.NOTIFICATION_SERVICE_GET_STATUS, v1.StatusRequest(), timeout=2)
        assert server.metrics_endpoint is not None
        assert server.metrics_endpoint.url.startswith("https://")


async def test_the_client_publishes_and_subscribes_over_tls(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    fast = RetryPolicy(initial_backoff=0.02, max_backoff=0.1, jitter=0.01, publish_attempts=2)
    async with running_server(tls_cert=cert, tls_key=key) as server:
        async with ResilientNotificationClient(server.address, agent_id="remote", ca_file=cert, retry=fast) as client:
            deliveries = client.subscribe()
            reader = asyncio.ensure_future(anext(deliveries))
            await asyncio.sleep(0.3)
            published = await client.publish(TextNotification(title="over TLS"), target="remote")
            delivery = await asyncio.wait_for(reader, 5)
            assert delivery.sequence == published.sequence
        monkeypatch.setenv("TOASTY_CA_FILE", str(cert))  # what the `toasty` command and agents read
        async with ResilientNotificationClient(server.address, agent_id="env", retry=fast) as from_env:
            assert from_env.tls
            assert (await from_env.status()).store == "memory"
        monkeypatch.delenv("TOASTY_CA_FILE")
        async with ResilientNotificationClient(server.address, agent_id="plain", retry=fast, timeout=2) as plain:
            with pytest.raises(ServerUnavailable):  # a plaintext client cannot talk to a TLS server
                await plain.status()
