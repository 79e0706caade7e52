"""The access model (issue 15 part 3): roles come from credentials, never from what a caller claims.

Two real agent processes share only the proc (tests/hardening/agent_process.py); the person answers with
the `toasty` command, which reads the person secret.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from tests.core.process import ServerProcess
from tests.hardening.helpers import unary
from toasty_client import Button, InteractiveNotification, ResilientNotificationClient
from toasty_client.errors import PermissionDenied, ToastyError, Unauthenticated
from toasty_proto import v1
from toasty_server.testing import running_server

AGENT = [sys.executable, "-m", "tests.hardening.agent_process"]
TOASTY = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]
QUESTION = InteractiveNotification(
    title="Deploy?", buttons=[Button(id="yes", label="Yes"), Button(id="no", label="No")]
)


def agent_env() -> dict[str, str]:
    """An agent's environment: no credential at all (the suite's clients otherwise act as the person)."""
    return {k: v for k, v in os.environ.items() if k not in ("TOASTY_TOKEN", "TOASTY_PERSON_SECRET_FILE")}


def test_another_agent_process_cannot_read_answer_or_withdraw_a_question_and_the_person_answers(
    proc: ServerProcess,
) -> None:
    asker = subprocess.Popen(
        [*AGENT, "ask", proc.address, "deployer", "Ship it?"], stdout=subprocess.PIPE, text=True, env=agent_env()
    )
    try:
        assert asker.stdout is not None
        first = json.loads(asker.stdout.readline())
        nid = first["id"]
        assert first["has_answer_key"], "a question asked without a credential gets its proof of ownership"

        # A second process claims the same agent id: its claim proves nothing.
        snoop = subprocess.run(
            [*AGENT, "snoop", proc.address, "deployer", nid],
            capture_output=True,
            text=True,
            timeout=60,
            env=agent_env(),
        )
        lines = [json.loads(line) for line in snoop.stdout.splitlines()]
        outcomes = {line["call"]: line.get("outcome") for line in lines}
        assert outcomes == {
            "await": "PermissionDenied",
            "answer": "PermissionDenied",
            "withdraw": "PermissionDenied",
            "subscribe": None,
        }, snoop.stderr

        # The person answers from a terminal; the source is the server's word, not the caller's.
        answered = subprocess.run(
            [*TOASTY, "--address", proc.address, "answer", nid, "yes"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**agent_env(), "TOASTY_PERSON_SECRET_FILE": str(proc.person_secret_file)},
        )
        assert answered.stdout.strip() == "answered", answered.stderr
        answer = json.loads(asker.stdout.readline())
        assert (answer["outcome"], answer["button_id"], answer["backend"]) == ("button", "yes", "terminal")
    finally:
        asker.kill()
        asker.wait()

    # Even after the answer, a process claiming the asker's id does not receive it through a subscription.
    snoop = subprocess.run(
        [*AGENT, "snoop", proc.address, "deployer", nid], capture_output=True, text=True, timeout=60, env=agent_env()
    )
    lines = [json.loads(line) for line in snoop.stdout.splitlines()]
    assert {"call": "subscribe", "interactions": []} in lines, snoop.stdout + snoop.stderr
    assert {"call": "await", "outcome": "PermissionDenied"} in lines


def test_without_the_person_secret_the_toasty_command_cannot_answer(proc: ServerProcess) -> None:
    asker = subprocess.Popen(
        [*AGENT, "ask", proc.address, "deployer", "Ship it?"], stdout=subprocess.PIPE, text=True, env=agent_env()
    )
    try:
        assert asker.stdout is not None
        nid = json.loads(asker.stdout.readline())["id"]
        refused = subprocess.run(
            [*TOASTY, "--address", proc.address, "answer", f"deployer~{nid}", "yes"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**agent_env(), "TOASTY_PERSON_SECRET_FILE": str(proc.db_path.parent / "no-such-file")},
        )
        assert refused.returncode == 1
        assert "only the agent that asked it" in refused.stderr
    finally:
        asker.kill()
        asker.wait()


async def test_the_asker_resolves_its_own_question_and_forged_sources_are_ignored() -> None:
    async with running_server() as server:
        async with ResilientNotificationClient(server.address, agent_id="bot", token="") as bot:
            published = await bot.publish(QUESTION)
            assert await bot.answer(published.notification_id, "no")  # its answer_key proves it is its own
            answer = await bot.wait_for_answer(published.notification_id, timeout=5)
            assert (answer.button_id, answer.backend) == ("no", "agent")

            second = await bot.publish(QUESTION)
        async with grpc.aio.insecure_channel(server.address) as channel:
            person = (("x-agent-id", "me"), ("authorization", f"Bearer {server.person_secret}"))
            global_id = f"bot~{second.notification_id}"
            forged = v1.AnswerRequest(notification_id=global_id, button_id="yes", source="desktop")
            assert (await unary(channel, v1.NOTIFICATION_SERVICE_ANSWER, forged, person)).accepted
            event = await unary(
                channel,
                v1.NOTIFICATION_SERVICE_AWAIT_INTERACTION,
                v1.AwaitInteractionRequest(notification_id=global_id, timeout_seconds=1),
                person,
            )
            assert event.backend == "terminal"


async def test_a_wrong_bearer_is_refused_not_taken_for_anonymous() -> None:
    async with (
        running_server() as server,
        ResilientNotificationClient(server.address, agent_id="bot", token="not-the-secret") as bot,
    ):
        with pytest.raises(Unauthenticated, match="the token does not match"):
            await bot.publish(QUESTION)


async def test_token_roles_agents_see_only_their_own_questions_and_a_person_token_answers(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(
        'alice = "alice-token-1"\nbob = "bob-token-12"\n\n[ops]\ntoken = "ops-token-123"\nrole = "person"\n'
    )
    tokens.chmod(0o600)
    async with running_server(token_file=tokens) as server:
        address = server.address
        async with (
            ResilientNotificationClient(address, agent_id="alice", token="alice-token-1") as alice,
            ResilientNotificationClient(address, agent_id="bob", token="bob-token-12") as bob,
            ResilientNotificationClient(address, agent_id="ops", token="ops-token-123") as ops,
        ):
            published = await alice.publish(QUESTION)
            assert not published.answer_key, "a proved agent needs no key: its token is its identity"
            nid = published.notification_id
            with pytest.raises(PermissionDenied):
                await bob.wait_for_answer(f"alice~{nid}", timeout=2)
            with pytest.raises(PermissionDenied):
                await bob.answer(f"alice~{nid}", "yes")
            with pytest.raises(PermissionDenied, match="may not read the deliveries of client_id 'alice'"):
                await anext(bob.subscribe("alice"))
            assert await ops.answer(nid, "yes")  # the person's role, from the token file's table form
            answer = await alice.wait_for_answer(nid, timeout=5)
            assert (answer.button_id, answer.backend) == ("yes", "terminal")
            # the outcome reaches alice's own subscription
            async for delivery in alice.subscribe(from_beginning=True):
                if delivery.interaction is not None:
                    assert delivery.interaction.notification_id == nid
                    break


def test_the_person_secret_is_made_once_mode_600_in_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOASTY_PERSON_SECRET_FILE")  # the server's default place: <data_dir>/person.secret
    data = tmp_path / "data"
    data.mkdir()
    secret_file = data / "person.secret"
    made: list[str] = []
    for _ in range(2):
        server = ServerProcess(data / "toasty.db", env={"TOASTY_DATA_DIR": str(data)})
        server.start()
        server.wait_for_log("toasty listening")
        server.kill()
        made.append(secret_file.read_text())
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert made[0] == made[1], "a restart keeps the person's secret"
    assert len(made[0].strip()) >= 32


async def test_two_agents_may_use_one_id_and_the_person_names_each_by_its_global_id() -> None:
    async with (
        running_server() as server,
        ResilientNotificationClient(server.address, agent_id="alpha", token="") as alpha,
        ResilientNotificationClient(server.address, agent_id="beta", token="") as beta,
        ResilientNotificationClient(server.address, agent_id="me", token=server.person_secret) as person,
    ):
        question = QUESTION.to_proto()
        question.id = "deploy-1"
        assert (await alpha.publish(question)).notification_id == "deploy-1"
        assert (await beta.publish(question)).notification_id == "deploy-1"  # no clash: its own namespace
        assert [q.notification_id for q in await beta.open_questions()] == ["beta~deploy-1"]  # its own only
        assert {q.notification_id for q in await person.open_questions()} == {"alpha~deploy-1", "beta~deploy-1"}
        with pytest.raises(ToastyError, match=r"several agents have an open question 'deploy-1' \(alpha~deploy-1"):
            await person.answer("deploy-1", "yes")
        assert await person.answer("beta~deploy-1", "no")
        assert await person.answer("deploy-1", "yes")  # now only alpha's is open
        assert (await alpha.wait_for_answer("deploy-1", timeout=5)).button_id == "yes"
        assert (await beta.wait_for_answer("deploy-1", timeout=5)).button_id == "no"


async def test_a_caller_without_an_agent_id_is_named_the_same_when_it_publishes_and_awaits() -> None:
    async with (
        running_server() as server,
        ResilientNotificationClient(server.address, agent_id="", token=server.person_secret) as person,
    ):
        published = await person.publish(QUESTION)
        [question] = server.broker.asks.pending()
        assert question.notification_id == f"person~{published.notification_id}"
        assert await person.answer(question.notification_id, "yes")  # decided before anyone awaits it
        assert (await person.wait_for_answer(published.notification_id, timeout=5)).button_id == "yes"
