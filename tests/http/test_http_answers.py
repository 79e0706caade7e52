"""Answers cross transports: an agent awaits over HTTP while a person answers over gRPC, and the other way
round; the wait is bounded (504, then ask again); only the publisher may await; the drain waits for it."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.conftest import ClientFactory
from tests.http.helpers import INTERACTIVE, Api, http_url, open_question
from tests.interactions.test_ask import DEPLOY
from toasty_client import Outcome
from toasty_server.app import ToastyServer
from toasty_server.testing import running_server


async def test_await_over_http_while_a_person_answers_over_grpc(api: Api, connect: ClientFactory) -> None:
    await api.publish({**INTERACTIVE, "id": "deploy-1"})
    waiting = asyncio.ensure_future(api.call("GET", "/v1/notifications/deploy-1/answer", params={"wait": "10"}))
    await asyncio.sleep(0.2)
    assert not waiting.done()

    person = connect("terminal")
    assert await person.answer("deploy-1", "approve", {"reason": "looks good", "env": "prod"})

    reply = await asyncio.wait_for(waiting, 5)
    assert reply.status == 200
    event = reply.json
    assert event["notificationId"] == "deploy-1"
    assert event["kind"] == "INTERACTION_KIND_BUTTON"
    assert event["buttonId"] == "approve"
    assert event["inputs"] == {"reason": "looks good", "env": "prod"}
    assert event["backend"] == "terminal"


async def test_ask_over_grpc_answered_over_http(server: ToastyServer, api: Api, connect: ClientFactory) -> None:
    deployer = connect("deployer")
    asking = asyncio.ensure_future(deployer.ask(DEPLOY, timeout=30))
    nid = await open_question(server)

    reply = await api.call(
        "POST",
        f"/v1/notifications/{nid}/answer",
        {"buttonId": "reject", "inputs": {"reason": "not on a Friday"}, "source": "web"},
        agent="person",
    )
    assert reply.json == {"accepted": True}

    answer = await asyncio.wait_for(asking, 5)
    assert answer.outcome is Outcome.BUTTON
    assert answer.button_id == "reject"
    assert answer.inputs == {"reason": "not on a Friday"}
    assert answer.backend == "web"


async def test_no_answer_yet_is_504_and_awaiting_again_works(api: Api) -> None:
    await api.publish({**INTERACTIVE, "id": "slow"})
    started = time.monotonic()
    reply = await api.call("GET", "/v1/notifications/slow/answer", params={"wait": "0.3"})
    assert 0.25 < time.monotonic() - started < 3
    assert reply.status == 504
    assert (reply.error["code"], reply.error["reason"]) == ("DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED")
    immediate = await api.call("GET", "/v1/notifications/slow/answer", params={"wait": "0"})
    assert immediate.status == 504

    await api.call("POST", "/v1/notifications/slow/answer", {"dismiss": True})
    assert (await api.call("GET", "/v1/notifications/slow/answer", params={"wait": "0"})).json["kind"] == (
        "INTERACTION_KIND_DISMISSED"
    )


async def test_only_the_publisher_may_await_and_unknown_ids_are_404(api: Api) -> None:
    await api.publish({**INTERACTIVE, "id": "mine"})
    own = await api.call("GET", "/v1/notifications/mine/answer", params={"wait": "0"}, agent="nosy", anonymous=True)
    assert own.status == 404  # "mine" in nosy's own namespace: there is none
    other = await api.call(
        "GET", "/v1/notifications/tester~mine/answer", params={"wait": "0"}, agent="nosy", anonymous=True
    )
    assert other.status == 403
    assert other.error["code"] == "PERMISSION_DENIED"
    missing = await api.call("GET", "/v1/notifications/never-published/answer", params={"wait": "0"})
    assert missing.status == 404
    bad = await api.call("GET", "/v1/notifications/mine/answer", params={"wait": "forever"}, validate_request=False)
    assert bad.status == 400
    assert "wait" in bad.error["message"]


async def test_the_drain_waits_for_an_http_call_in_flight() -> None:
    server_cm = running_server(http_enabled=True, http_port=0, shutdown_grace_seconds=5)
    server = await server_cm.__aenter__()
    async with aiohttp.ClientSession() as session:
        base = http_url(server)
        headers = {"X-Agent-Id": "deployer"}
        body = {"notification": {**INTERACTIVE, "id": "q"}}
        published = await session.post(base + "/v1/publish", json=body, headers=headers)
        assert published.status == 200
        # no credential: the question's answer key proves it is ours
        headers["X-Answer-Key"] = (await published.json())["answerKey"]
        waiting = asyncio.ensure_future(session.get(base + "/v1/notifications/q/answer?wait=1", headers=headers))
        for _ in range(500):
            if server.gate.in_flight == 1:
                break
            await asyncio.sleep(0.01)
        assert server.gate.in_flight == 1
        started = time.monotonic()
        await server_cm.__aexit__(None, None, None)
        assert time.monotonic() - started >= 0.6  # it waited for the call to end by itself...
        response = await waiting
        assert response.status == 504  # ...which the caller saw as an ordinary answer, not a cut connection
