"""The user's answer reaches the agent that asked: ask(), answer from a terminal, outcomes, receipts."""

from __future__ import annotations

import asyncio
import io

import pytest

from tests.conftest import FAST_RETRY, ClientFactory
from tests.core.helpers import take
from tests.core.test_pubsub import wait_subscribed
from toasty_client import (
    Button,
    InteractiveNotification,
    InvalidNotification,
    NotFound,
    Outcome,
    PermissionDenied,
    ResilientNotificationClient,
    SelectionInput,
    TextInput,
    TextNotification,
)
from toasty_client.builders import Choice
from toasty_server.app import ToastyServer
from toasty_server.render.console import ConsoleBackend
from toasty_server.testing import running_server

DEPLOY = InteractiveNotification(
    title="Deploy v1.2?",
    buttons=[Button(id="approve", label="Approve"), Button(id="reject", label="Reject")],
    inputs=[
        TextInput(id="reason", placeholder="why?"),
        SelectionInput(id="env", choices=[Choice(id="prod", label="Prod"), Choice(id="staging", label="Staging")]),
    ],
)


async def pending_id(server: ToastyServer) -> str:
    """The id of the one open ask, once the server has it."""
    for _ in range(300):
        pending = server.broker.asks.pending()
        if pending:
            return pending[0].notification_id
        await asyncio.sleep(0.01)
    raise AssertionError("no ask was registered")


async def test_ask_returns_the_button_and_every_input(server: ToastyServer, connect: ClientFactory) -> None:
    deployer, person = connect("deployer"), connect("terminal")
    asking = asyncio.ensure_future(deployer.ask(DEPLOY, timeout=30))
    nid = await pending_id(server)
    assert await person.answer(nid, "approve", {"reason": "looks good", "env": "prod"})
    answer = await asking
    assert answer.outcome is Outcome.BUTTON
    assert answer.answered
    assert answer.button_id == "approve"
    assert answer.inputs == {"reason": "looks good", "env": "prod"}
    assert answer.backend == "terminal"  # set by the server from the channel, not by the caller
    assert nid == f"deployer~{answer.notification_id}"  # the asker keeps its own id; the person sees the global one


async def test_exactly_one_outcome(server: ToastyServer, connect: ClientFactory) -> None:
    deployer, person = connect("deployer"), connect("terminal")
    asking = asyncio.ensure_future(deployer.ask(DEPLOY, timeout=30))
    nid = await pending_id(server)
    assert await person.answer(nid, "reject")
    assert not await person.answer(nid, "approve")
    assert not await person.answer(nid, "", dismiss=True)
    assert (await asking).button_id == "reject"
    assert (await deployer.wait_for_answer(nid)).button_id == "reject"  # asking again gives the same outcome


async def test_dismissal_and_withdrawal_are_outcomes(server: ToastyServer, connect: ClientFactory) -> None:
    deployer, person = connect("deployer"), connect("terminal")
    asking = asyncio.ensure_future(deployer.ask(DEPLOY, timeout=30))
    assert await person.answer(await pending_id(server), dismiss=True)
    assert (await asking).dismissed

    asking = asyncio.ensure_future(deployer.ask(DEPLOY, timeout=30))
    nid = await pending_id(server)
    assert await deployer.withdraw(nid)
    assert (await asking).outcome is Outcome.WITHDRAWN
    assert not await deployer.withdraw(nid)


async def test_nobody_answers_so_the_server_times_it_out(server: ToastyServer, connect: ClientFactory) -> None:
    answer = await asyncio.wait_for(connect("deployer").ask(DEPLOY, timeout=1), 10)
    assert answer.timed_out
    assert answer.backend == "server"


async def test_answers_are_checked_and_only_the_asker_may_await(server: ToastyServer, connect: ClientFactory) -> None:
    deployer, person, stranger = connect("deployer"), connect("terminal"), connect("stranger", token="")
    asking = asyncio.ensure_future(deployer.ask(DEPLOY, timeout=30))
    nid = await pending_id(server)
    with pytest.raises(InvalidNotification, match="button_id: 'deploy' is not a button of this notification"):
        await person.answer(nid, "deploy")
    with pytest.raises(InvalidNotification, match="inputs: colour not inputs of this notification"):
        await person.answer(nid, "approve", {"colour": "red"})
    with pytest.raises(PermissionDenied, match="only the agent that asked it"):
        await stranger.wait_for_answer(nid, timeout=5)
    with pytest.raises(PermissionDenied, match="only the agent that asked it"):
        await stranger.answer(nid, "approve")
    with pytest.raises(NotFound, match="no open question has the id 'nope'"):
        await person.answer("nope", "approve")
    assert await person.answer(nid, "approve")
    assert (await asking).answered


async def test_agent_away_during_the_click_still_gets_the_answer(server: ToastyServer, connect: ClientFactory) -> None:
    first = connect("deployer")
    response = await first.publish(DEPLOY.to_proto())
    await first.close()  # the agent goes away before anyone answers
    assert await connect("terminal").answer(response.notification_id, "approve", {"reason": "ok"})
    back = connect("deployer")
    answer = await back.wait_for_answer(response.notification_id, timeout=5)
    assert (answer.button_id, answer.inputs) == ("approve", {"reason": "ok"})
    # It is also on the agent's own subscription, after the notification it answers.
    [notification, interaction] = await take(back.subscribe(from_beginning=True), 2)
    assert notification.notification is not None
    assert notification.notification.id == response.notification_id
    assert interaction.interaction is not None
    assert interaction.interaction.button_id == "approve"
    assert interaction.target_client_id == "deployer"


async def test_receipts_tell_the_publisher_what_was_shown(tmp_path: object) -> None:
    out = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(out)]) as srv,
        ResilientNotificationClient(srv.address, agent_id="reporter", retry=FAST_RETRY) as client,
    ):
        stream = client.subscribe()
        reader = asyncio.ensure_future(take(stream, 2))
        await wait_subscribed(srv, "reporter")
        response = await client.publish(TextNotification(title="Backup done"), want_receipt=True)
        deliveries = await reader
        receipt = next(d.receipt for d in deliveries if d.receipt is not None)
        assert receipt.notification_id == response.notification_id
        assert receipt.shown
        assert receipt.backend == "console"


async def test_idempotency_key_gives_one_toast(tmp_path: object) -> None:
    out = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(out)], store="sqlite", db_path=f"{tmp_path}/t.db") as srv,
        ResilientNotificationClient(srv.address, agent_id="cron", retry=FAST_RETRY) as client,
    ):
        note = TextNotification(title="Nightly report", idempotency_key="report-2026-11-23")
        first, second = await asyncio.gather(client.publish(note), client.publish(note))
        third = await client.publish(note)
        assert first.notification_id == second.notification_id == third.notification_id
        assert [first.duplicate, second.duplicate, third.duplicate].count(False) == 1
        assert third.duplicate
        assert third.sequence == min(first.sequence, second.sequence)
        other = await ResilientNotificationClient(srv.address, agent_id="other-agent").__aenter__()
        assert not (await other.publish(note)).duplicate  # keys are per publishing agent
        await other.close()
        await srv.renderer.drain()
    assert out.getvalue().count("Nightly report") == 2


async def copy_that_fails(client: ResilientNotificationClient) -> None:
    async with client.progress("Copy", key="cp-1") as bar:
        await bar.update(0.3)
        raise RuntimeError("disk full")


async def test_progress_context_manager_updates_one_key_then_completes(tmp_path: object) -> None:
    out = io.StringIO()
    async with (
        running_server(backends=[ConsoleBackend(out)]) as srv,
        ResilientNotificationClient(srv.address, agent_id="uploader", retry=FAST_RETRY) as client,
    ):
        async with client.progress("Upload", key="up-1") as bar:
            await bar.update(0.5, status="5 of 10 files")
        with pytest.raises(RuntimeError, match="disk full"):
            await copy_that_fails(client)
        await srv.renderer.drain()
    lines = out.getvalue().splitlines()
    assert [line.split("[up-1: ")[1].split("]")[0] for line in lines if "[up-1:" in line] == [
        "0% running",
        "50% running — 5 of 10 files",
        "100% succeeded — 5 of 10 files",
    ]
    assert "[cp-1: 30% failed — disk full]" in lines[-1]


async def test_a_question_without_a_timeout_ends_with_the_logs_retention_age() -> None:
    """No question outlives its log nor waits in memory for ever: no answer_timeout_seconds (or a longer
    one) means the retention age."""
    async with (
        running_server(retention_max_age_seconds=1.0) as server,
        ResilientNotificationClient(server.address, agent_id="deployer", retry=FAST_RETRY) as client,
    ):
        forever = DEPLOY.to_proto()  # answer_timeout_seconds = 0
        longer = DEPLOY.to_proto()
        longer.answer_timeout_seconds = 3600
        ids = [(await client.publish(n)).notification_id for n in (forever, longer)]
        assert len(server.broker.asks) == 2
        for notification_id in ids:
            answer = await client.wait_for_answer(notification_id, timeout=10)
            assert answer.timed_out
        assert len(server.broker.asks) == 0, "nothing left in memory"
