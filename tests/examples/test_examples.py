"""Every example agent, run as a user runs it: a real process against a real server process."""

from __future__ import annotations

import asyncio
import json
import mailbox
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.core.helpers import nothing_more, take
from tests.core.process import ServerProcess
from tests.desktop.session import write_png
from toasty_client import ResilientNotificationClient, TextNotification, Urgency
from toasty_proto import v1

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def watcher(proc: ServerProcess) -> AsyncIterator[AsyncIterator[v1.Delivery]]:
    """Everything published, from the beginning, as a subscriber sees it."""
    async with ResilientNotificationClient(proc.address, agent_id="test-watcher") as client:
        yield client.subscribe(from_beginning=True)


async def start_example(proc: ServerProcess, name: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / name), *args,
        env={**os.environ, "TOASTY_ADDRESS": proc.address}, stderr=subprocess.PIPE,
    )  # fmt: skip


async def run_example(proc: ServerProcess, name: str, *args: str) -> tuple[int, str]:
    """Run an example to completion; (exit code, stderr)."""
    agent = await start_example(proc, name, *args)
    _, err = await asyncio.wait_for(agent.communicate(), 60)
    assert agent.returncode is not None
    return agent.returncode, err.decode()


def header_title(d: v1.Delivery) -> str:
    n = d.notification
    assert n is not None
    payload = n.text_message or n.image_text or n.interactive or n.progress
    assert payload is not None
    assert payload.header is not None
    return payload.header.title


async def test_email_trigger_announces_each_new_mail_once(
    proc: ServerProcess, watcher: AsyncIterator[v1.Delivery], tmp_path: Path
) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for sender, subject in [
        ("Ada <ada@example.org>", "Lunch?"),
        ("ops@example.org", "=?utf-8?q?Outage_=E2=80=94_db?="),
    ]:
        mail = EmailMessage()
        mail["From"], mail["Subject"] = sender, subject
        mail.set_content("body")
        box.add(mailbox.MaildirMessage(mail))
    for _ in range(2):  # the second run finds nothing new: mails were moved to cur/
        code, err = await run_example(proc, "email_trigger_agent.py", "--maildir", str(tmp_path / "Maildir"), "--once")
        assert code == 0, err
    got = await take(watcher, 2)
    assert sorted(header_title(d) for d in got) == [
        "New mail from Ada <ada@example.org>",
        "New mail from ops@example.org",
    ]
    urgent = next(d for d in got if "ops@" in header_title(d))
    assert urgent.notification is not None
    assert urgent.notification.text_message is not None
    assert urgent.notification.text_message.body_text_line1 == "Outage — db"
    assert urgent.notification.urgency == v1.UrgencyLevel.WARNING
    await nothing_more(watcher)


async def test_file_watcher_shows_images_as_image_toasts(
    proc: ServerProcess, watcher: AsyncIterator[v1.Delivery], tmp_path: Path
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    agent = await start_example(proc, "file_watcher_agent.py", "--folder", str(folder), "--interval", "0.1")
    try:
        await asyncio.sleep(1.0)  # let it take its first look
        write_png(folder / "cat.png", 8, 8, (200, 80, 40))
        (folder / "notes.txt").write_text("hello")
        got = await take(watcher, 2, timeout=15)
    finally:
        agent.kill()
        await agent.wait()
    by_title = {header_title(d): d.notification for d in got}
    image = by_title["New: cat.png"]
    assert image is not None
    assert image.image_text is not None
    assert image.image_text.image is not None
    assert image.image_text.image.path == str((folder / "cat.png").resolve())
    text = by_title["New: notes.txt"]
    assert text is not None
    assert text.text_message is not None
    assert text.text_message.body_text_line1.startswith("5 bytes")


async def test_long_task_reports_progress_then_success_or_failure(
    proc: ServerProcess, watcher: AsyncIterator[v1.Delivery]
) -> None:
    code, err = await run_example(proc, "long_task_agent.py", "--files", "3", "--delay", "0.01")
    assert code == 0, err
    updates = [d.notification.progress for d in await take(watcher, 5) if d.notification and d.notification.progress]
    assert [round(u.value, 2) for u in updates] == [0.0, 0.33, 0.67, 1.0, 1.0]
    assert {u.progress_key for u in updates} == {"backup-photos"}
    assert updates[-1].state == v1.ProgressState.SUCCEEDED

    code, _ = await run_example(proc, "long_task_agent.py", "--files", "3", "--fail-at", "2", "--delay", "0.01")
    assert code == 1
    last = [d.notification.progress for d in await take(watcher, 3) if d.notification and d.notification.progress][-1]
    assert last.state == v1.ProgressState.FAILED
    assert last.status == "disk full after 1 of 3 files"


async def test_subscriber_agent_escalates_and_resumes_after_restart(
    proc: ServerProcess, watcher: AsyncIterator[v1.Delivery], tmp_path: Path
) -> None:
    state, journal = tmp_path / "on-call.state", tmp_path / "on-call.jsonl"
    async with ResilientNotificationClient(proc.address, agent_id="monitor") as monitor:
        await monitor.publish(TextNotification(title="Disk at 99%", urgency=Urgency.CRITICAL))
        await monitor.publish(TextNotification(title="Backup done"))
        # critical + info + its own escalation
        code, err = await run_example(
            proc, "subscriber_agent.py", "--state", str(state), "--journal", str(journal), "--stop-after", "3"
        )
        assert code == 0, err
        await monitor.publish(TextNotification(title="Later news"))
        code, err = await run_example(
            proc, "subscriber_agent.py", "--state", str(state), "--journal", str(journal), "--stop-after", "1"
        )
        assert code == 0, err
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    titles = [line["notification"]["textMessage"]["header"]["title"] for line in lines]
    assert titles == ["Disk at 99%", "Backup done", "Escalated: Disk at 99%", "Later news"]
    sequences = [int(line["sequence"]) for line in lines]
    assert sequences == sorted(set(sequences))  # resumed: nothing twice, nothing skipped


async def test_approval_agent_acts_on_an_answer_from_the_terminal(proc: ServerProcess) -> None:
    agent = await start_example(proc, "approval_agent.py", "--version", "3.0", "--steps", "2")
    try:
        async with ResilientNotificationClient(proc.address, agent_id="person") as person:
            for _ in range(200):
                status = await person.status()
                if status.pending_interactions:
                    break
                await asyncio.sleep(0.05)
            nid = next(
                line.rsplit("id ", 1)[1].rstrip(")")
                for line in proc.log().splitlines()
                if "Deploy v3.0 to production?" in line
            )
            assert await person.answer(nid, "reject")
        _, err = await asyncio.wait_for(agent.communicate(), 30)
    finally:
        if agent.returncode is None:
            agent.kill()
    assert agent.returncode == 1
    assert "not deploying: button reject" in err.decode()
