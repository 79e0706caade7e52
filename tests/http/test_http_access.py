"""Identity, tokens, rate limits and origins over HTTP: the same rules as gRPC, and one rate budget per
agent across both transports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest

from tests.hardening.helpers import text_publish, trailing, unary
from tests.http.helpers import TEXT, Api, http_url, spec_for
from toasty_proto import v1
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server

PUBLISH = v1.NOTIFICATION_SERVICE_PUBLISH


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def api_for(server: ToastyServer, session: aiohttp.ClientSession, agent: str, token: str | None = None) -> Api:
    base = http_url(server)
    return Api(base, session, spec_for(base), agent=agent, token=token)


async def test_over_the_limit_is_429_with_retry_after_and_the_budget_is_shared_with_grpc(
    session: aiohttp.ClientSession,
) -> None:
    async with (
        running_server(http_enabled=True, http_port=0, rate_limit=4, rate_window=60) as server,
        grpc.aio.insecure_channel(server.address) as channel,
    ):
        noisy = api_for(server, session, "noisy")
        for i in range(2):
            await unary(channel, PUBLISH, text_publish(f"grpc {i}"), (("x-agent-id", "noisy"),))
        for _ in range(2):
            assert (await noisy.call("POST", "/v1/publish", {"notification": TEXT})).status == 200

        refused = await noisy.call("POST", "/v1/publish", {"notification": TEXT})
        assert refused.status == 429
        assert (refused.error["code"], refused.error["reason"]) == ("RESOURCE_EXHAUSTED", "RATE_LIMITED")
        assert 1 <= int(refused.headers["Retry-After"]) <= 15  # one call every 60/4 = 15 s
        assert 0 < refused.error["retry_after_ms"] <= 15_000
        assert "attention budget" in refused.error["message"]  # new toasts, over gRPC and HTTP together

        # ...and gRPC is refused too: it is the same budget.
        with pytest.raises(grpc.aio.AioRpcError) as over:
            await unary(channel, PUBLISH, text_publish("grpc again"), (("x-agent-id", "noisy"),))
        assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert trailing(over.value, "toasty-reason") == "RATE_LIMITED"

        # Another agent, and the public routes, are untouched.
        assert (await api_for(server, session, "quiet").call("GET", "/v1/status")).status == 200
        for _ in range(6):
            assert (await noisy.call("GET", "/healthz")).status == 200


async def test_callers_without_an_agent_id_are_anonymous(session: aiohttp.ClientSession) -> None:
    async with running_server(http_enabled=True, http_port=0, call_rate_limit=2, rate_window=60) as server:
        nobody = api_for(server, session, "")
        reply = await nobody.call("POST", "/v1/publish", {"notification": {**TEXT, "id": "n1"}})
        assert reply.status == 200
        [entry] = await server.broker.store.recent(1)
        assert entry.publisher == "anonymous"
        assert (await api_for(server, session, "anonymous").call("GET", "/v1/status")).status == 200
        assert (await nobody.call("GET", "/v1/status")).status == 429  # the one shared anonymous budget


async def test_an_overlong_agent_id_is_400(api: Api) -> None:
    reply = await api.call("GET", "/v1/status", agent="a" * 200)
    assert reply.status == 400
    assert "X-Agent-Id header" in reply.error["message"]


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"deployer": "deployer-secret", "page": "page-secret-1"}))
    path.chmod(0o600)
    return path


async def test_tokens(session: aiohttp.ClientSession, token_file: Path) -> None:
    async with running_server(
        http_enabled=True, http_port=0, token_file=token_file, subscribe_grants={"page": ["*"]}
    ) as server:
        missing = await api_for(server, session, "deployer").call("POST", "/v1/publish", {"notification": TEXT})
        assert missing.status == 401
        assert missing.error["code"] == "UNAUTHENTICATED"
        assert "no bearer token" in missing.error["message"]
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")

        wrong = await api_for(server, session, "deployer", "page-secret-1").call("GET", "/v1/status")
        assert wrong.status == 401
        assert "is not the token of agent 'deployer'" in wrong.error["message"]

        deployer = api_for(server, session, "deployer", "deployer-secret")
        assert (await deployer.call("POST", "/v1/publish", {"notification": TEXT})).status == 200

        # Reading: your own deliveries; another client's, or everyone's (the page), only with a grant.
        other = await session.get(
            http_url(server) + "/v1/subscribe", params={"client_id": "page"}, headers=deployer.headers()
        )
        assert other.status == 403
        assert "TOASTY_SUBSCRIBE_GRANTS" in (await other.json())["error"]["message"]
        assert (await deployer.call("GET", "/v1/log")).status == 403
        assert (await deployer.call("GET", "/v1/asks")).status == 403
        page = api_for(server, session, "page", "page-secret-1")
        assert (await page.call("GET", "/v1/log")).status == 200
        async with session.get(http_url(server) + "/v1/dashboard", headers=page.headers()) as stream:
            assert stream.status == 200

        # Public routes need no token.
        assert (await session.get(http_url(server) + "/healthz")).status == 200
        assert (await session.get(http_url(server) + "/")).status == 200


async def test_cross_site_requests_and_foreign_host_names_are_refused(api: Api) -> None:
    # A web page elsewhere that makes the browser POST here (no CORS preflight for a text/plain body).
    forged = await api.call(
        "POST",
        "/v1/notifications/x/answer",
        {"buttonId": "approve"},
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
        validate_request=False,
    )
    assert forged.status == 403
    assert "another origin" in forged.error["message"]
    # DNS rebinding: a foreign name resolving to 127.0.0.1 reaches us with its own Host header.
    rebound = await api.call("GET", "/v1/log", headers={"Host": "evil.example:8053"})
    assert rebound.status == 403
    assert "loopback" in rebound.error["message"]
    # The page's own requests carry our origin: accepted.
    own = await api.call("POST", "/v1/publish", {"notification": TEXT}, headers={"Origin": api.base})
    assert own.status == 200


async def test_metrics_count_http_calls_under_their_rpc(api: Api, server: ToastyServer) -> None:
    from tests.hardening.helpers import ascrape

    await api.publish(TEXT)
    await api.call("POST", "/v1/publish", {"notification": {}}, validate_request=False)
    await api.call("GET", "/v1/status")
    await api.call("GET", "/v1/notifications/none/answer", params={"wait": "0"})
    assert server.metrics_port is not None
    await asyncio.sleep(0)
    m = await ascrape(server.metrics_port)
    publish = "/toasty.v1.NotificationService/Publish"
    assert m[f'toasty_rpc_calls_total{{code="OK",method="{publish}"}}'] == 1
    assert m[f'toasty_rpc_calls_total{{code="INVALID_ARGUMENT",method="{publish}"}}'] == 1
    assert m['toasty_publishes_total{method="Publish"}'] == 1
    assert m['toasty_rpc_calls_total{code="NOT_FOUND",method="/toasty.v1.NotificationService/AwaitInteraction"}'] == 1
    assert m[f'toasty_rpc_duration_seconds_count{{method="{publish}"}}'] == 2
    assert m['toasty_http_requests_total{route="/v1/publish",status="200"}'] == 1
    assert m['toasty_http_requests_total{route="/v1/publish",status="400"}'] == 1
    assert m['toasty_http_requests_total{route="/v1/notifications/{notification_id}/answer",status="404"}'] == 1
