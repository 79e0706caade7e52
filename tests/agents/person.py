"""The person of these tests: finds the open question an agent asked and answers it, from the `toasty`
command (a real subprocess, as from a terminal) or through the API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid

from toasty_client import ResilientNotificationClient, ToastyError
from toasty_proto import v1

TOASTY = [sys.executable, "-c", "from toasty_client.cli import main; raise SystemExit(main())"]


async def open_question(
    person: ResilientNotificationClient, asker: str, title: str = "", timeout: float = 30.0
) -> v1.OpenQuestion:
    """The one question `asker` has open (titled `title`, if given), once it asked it; fails the test after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        questions = await person.open_questions()
        mine = [q for q in questions if q.publisher_agent_id == asker and (not title or q.title == title)]
        if mine:
            assert len(mine) == 1, mine
            return mine[0]
        assert time.monotonic() < deadline, f"{asker} asked nothing within {timeout} s"
        await asyncio.sleep(0.05)


async def toasty_answer(address: str, question_id: str, button: str, *inputs: str) -> str:
    """`toasty answer ID BUTTON --input k=v ...` as the person types it; its output (exit 0 required)."""
    flags = [arg for pair in inputs for arg in ("--input", pair)]
    proc = await asyncio.create_subprocess_exec(
        *TOASTY, "answer", question_id, button, *flags, "--address", address,
        env={k: v for k, v in os.environ.items() if k != "TOASTY_TOKEN"},  # the person secret file, as a user has
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, f"toasty answer exited {proc.returncode}: {err.decode()}"
    return out.decode()


async def shown(person: ResilientNotificationClient, question: v1.OpenQuestion) -> v1.Interactive:
    """What the question shows the person: its Interactive payload, read from the log."""
    asker, _, local_id = question.notification_id.partition("~")
    async with asyncio.timeout(10):
        async for delivery in person.subscribe(f"reader-{uuid.uuid4().hex[:8]}", from_beginning=True):
            n = delivery.notification
            if n is not None and n.id == local_id and delivery.publisher_agent_id == asker:
                assert n.interactive is not None
                return n.interactive
    raise AssertionError("the subscription ended")


async def withdraw_all(person: ResilientNotificationClient) -> None:
    """Take down every open question (their askers end as withdrawn)."""
    for question in await person.open_questions():
        with contextlib.suppress(ToastyError):  # decided meanwhile
            await person.withdraw(question.notification_id)
