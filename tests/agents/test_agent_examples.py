"""examples/agents, run as a user runs them: real processes against a real hub process, the person
answering from the `toasty` command. Each test starts its runs at once (they differ by agent id), so the
heavy framework imports overlap."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.agents.person import open_question, toasty_answer, withdraw_all
from tests.core.process import ServerProcess
from toasty_client import ResilientNotificationClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agents"
DAY = 86_400
pytestmark = pytest.mark.timeout(90)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout:\n{self.out}--- stderr:\n{self.err}"


class Examples:
    """Starts example processes (killed at the end of the test, whatever happened)."""

    def __init__(self) -> None:
        self.started: list[asyncio.subprocess.Process] = []

    async def start(self, name: str, *args: str, address: str | None = None) -> asyncio.subprocess.Process:
        """The example with no token (a local agent, as a user's script runs), the hub in TOASTY_ADDRESS if
        given, and at most a minute for the person (a failing test leaves nothing waiting long)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOASTY_") or k == "TOASTY_PERSON_SECRET_FILE"}
        limit = [] if any(a.startswith("--timeout") for a in args) else ["--timeout=60"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLES / name), *args, *limit,
            env={**env, **({"TOASTY_ADDRESS": address} if address else {}), "PYTHONUNBUFFERED": "1"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.started.append(proc)
        return proc


async def finish(proc: asyncio.subprocess.Process) -> Run:
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


@pytest.fixture
async def examples() -> AsyncIterator[Examples]:
    runs = Examples()
    yield runs
    for proc in runs.started:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.fixture
def hub(module_proc: ServerProcess) -> ServerProcess:
    return module_proc


@pytest.fixture
async def person(hub: ServerProcess) -> AsyncIterator[ResilientNotificationClient]:
    async with ResilientNotificationClient(hub.address, agent_id="person", token=hub.person_secret) as client:
        yield client
        await withdraw_all(client)  # the hub is the module's: leave it no open question


def backups(folder: Path) -> Path:
    folder.mkdir()
    for name, age_days in (("db-90d.bak", 90), ("db-40d.bak", 40), ("db-today.bak", 0)):
        (folder / name).write_text("backup\n")
        stamp = time.time() - age_days * DAY
        os.utime(folder / name, (stamp, stamp))
    return folder


async def test_plain_python_deletes_only_when_allowed(
    hub: ServerProcess, person: ResilientNotificationClient, examples: Examples, tmp_path: Path
) -> None:
    allowed, denied, unanswered = backups(tmp_path / "a"), backups(tmp_path / "b"), backups(tmp_path / "c")

    def plain(folder: Path, agent: str, *more: str) -> list[str]:
        return [f"--folder={folder}", f"--agent-id={agent}", *more]

    runs = [
        await examples.start("plain_approval.py", *plain(allowed, "cleaner-a", f"--address={hub.address}")),  # the flag
        await examples.start("plain_approval.py", *plain(denied, "cleaner-b"), address=hub.address),  # TOASTY_ADDRESS
        await examples.start("plain_approval.py", *plain(unanswered, "cleaner-c", "--timeout=1"), address=hub.address),
        await examples.start("plain_approval.py", *plain(allowed, "cleaner-d"), address="127.0.0.1:1"),  # no hub there
    ]
    await toasty_answer(hub.address, (await open_question(person, "cleaner-a")).notification_id, "allow")
    question = await open_question(person, "cleaner-b")
    await toasty_answer(hub.address, question.notification_id, "deny", "reason=keep them until the audit")
    done = [await finish(run) for run in runs]

    assert done[0].code == 0, done[0]
    assert "allowed: deleted 2 backups: db-40d.bak, db-90d.bak" in done[0].out
    assert sorted(p.name for p in allowed.iterdir()) == ["db-today.bak"]
    assert done[1].code == 1, done[1]
    assert "nothing deleted: delete_old_backups was denied: keep them until the audit (outcome denied)" in done[1].out
    assert done[2].code == 2, done[2]
    assert "nobody answered within 1 s (outcome timed_out)" in done[2].out
    for kept in (denied, unanswered):
        assert len(list(kept.iterdir())) == 3
    assert done[3].code == 3, done[3]
    assert done[3].err.strip().splitlines() == [
        line for line in done[3].err.strip().splitlines() if line.startswith("nothing deleted: cannot reach")
    ], done[3]  # one line, naming the hub


async def test_langgraph_pauses_on_interrupt_and_resumes_with_the_persons_answer(
    hub: ServerProcess, person: ResilientNotificationClient, examples: Examples
) -> None:
    runs = [
        await examples.start("langgraph_approval.py", "--service=db-1", "--agent-id=graph-a", address=hub.address),
        await examples.start("langgraph_approval.py", "--service=db-2", "--agent-id=graph-b", address=hub.address),
    ]
    await toasty_answer(hub.address, (await open_question(person, "graph-a")).notification_id, "allow")
    question = await open_question(person, "graph-b")
    assert question.title == "Allow restart_service?"
    await toasty_answer(hub.address, question.notification_id, "deny", "reason=not during the sale")
    allowed, denied = [await finish(run) for run in runs]

    assert allowed.code == 0, allowed
    assert "paused before ('review',): asking the person 'Allow restart_service?'" in allowed.out
    assert "the graph finished: restarted db-1" in allowed.out
    assert denied.code == 1, denied
    assert "the person's decision: denied (not during the sale)" in denied.out
    assert "the graph finished: did not restart db-2 (denied: not during the sale)" in denied.out


async def test_openai_agents_interruption_is_resolved_by_the_person(
    hub: ServerProcess, person: ResilientNotificationClient, examples: Examples
) -> None:
    runs = [
        await examples.start("openai_agents_approval.py", "--service=db-1", "--agent-id=oa-a", address=hub.address),
        await examples.start("openai_agents_approval.py", "--agent-id=oa-b", address=hub.address),  # asks which first
    ]
    await toasty_answer(hub.address, (await open_question(person, "oa-a")).notification_id, "allow")
    which = await open_question(person, "oa-b", title="Which service should I restart?")  # human_as_async_tool
    await toasty_answer(hub.address, which.notification_id, "send", "answer=db-2")
    approve = await open_question(person, "oa-b", title="Allow restart_service?")
    await toasty_answer(hub.address, approve.notification_id, "deny", "reason=not during the sale")
    allowed, denied = [await finish(run) for run in runs]

    assert allowed.code == 0, allowed
    assert 'interrupted: restart_service({"service": "db-1"}) needs approval' in allowed.out
    assert "the agent's last word: restart_service('db-1'): restarted db-1" in allowed.out
    assert "restarted: db-1" in allowed.out
    assert denied.code == 1, denied
    assert 'interrupted: restart_service({"service": "db-2"}) needs approval' in denied.out
    assert (
        "the agent's last word: restart_service('db-2'): Not run: the person's answer was denied: not during the sale"
        in denied.out
    )
    assert "restarted: nothing" in denied.out
