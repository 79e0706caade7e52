"""What each tool does on the hub, through the one `ResilientNotificationClient` of the process.

One client for the whole process: a question's answer_key (the proof an anonymous asker owns it) lives in
that client, so `get_answer` in a later call can await a question an earlier call asked. The client reads
the usual settings (TOASTY_ADDRESS, TOASTY_AGENT_ID, TOASTY_TOKEN, TOASTY_CA_FILE / TOASTY_TLS). Every
failure becomes a `HubError` whose message is what the model reads: with no hub it is the `toasty`
command's "cannot reach toasty-server at ADDRESS; start it with `toasty-server`", never a crash.

No `mcp` import here: the tools module maps these calls onto MCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toasty_client.builders import (
    Button,
    Image,
    ImageTextNotification,
    InteractiveNotification,
    ProgressNotification,
    ProgressState,
    TextInput,
    TextNotification,
    Urgency,
)
from toasty_client.client import ResilientNotificationClient, RetryPolicy
from toasty_client.errors import NotFound, ServerUnavailable, ToastyError
from toasty_client.mcp.origin import Origin
from toasty_client.mcp.questions import (
    ALLOW,
    DENY,
    REASON_INPUT_ID,
    TEXT_INPUT_ID,
    Kind,
    Question,
    Registry,
    approval_decision,
    ask_result,
    pending_result,
)
from toasty_client.mcp.results import AskResult, NotifyResult, ProgressResult, WithdrawResult
from toasty_client.mcp.summary import shorten, summarize
from toasty_client.safe_text import printable
from toasty_client.simple import _button_ids  # the one rule for a choice's button id
from toasty_proto import v1

log = logging.getLogger(__name__)

DEFAULT_AGENT_ID = "toasty-mcp"  # who the hub sees without TOASTY_AGENT_ID or a token
# A tool call with no hub should fail within a couple of seconds, and find the hub soon after it starts:
# five attempts over about 1.5 s, and grpc redials a lost connection at most 1 s apart.
RETRY = RetryPolicy(initial_backoff=0.1, max_backoff=1.0, jitter=0.1, publish_attempts=5)
QUICK_LOOK = 0.5  # the shortest wait for an answer: long enough to read one already given
APPROVAL_GRACE = 30.0  # beyond an approval's timeout, how long to wait for an unreachable hub's verdict
MAX_TITLE = 256
MAX_LINE = 2048


class HubError(Exception):
    """A tool call that could not be done; its message is what the model reads."""


class Hub:
    """The hub as the MCP tools use it: publish, ask, wait, withdraw, approve."""

    def __init__(self, client: ResilientNotificationClient, *, approval_timeout: float = 300.0) -> None:
        self.client = client
        self.approval_timeout = approval_timeout
        self.questions = Registry(client.agent_id)

    @classmethod
    def from_environment(
        cls, address: str | None = None, agent_id: str | None = None, *, approval_timeout: float = 300.0
    ) -> Hub:
        """A hub client with the `toasty` command's settings (flags, else TOASTY_* variables)."""
        client = ResilientNotificationClient(address, agent_id=agent_id, retry=RETRY)
        if not client.agent_id and not client.token:  # with a token, the hub names us (and refuses a claim)
            client.agent_id = DEFAULT_AGENT_ID
        return cls(client, approval_timeout=approval_timeout)

    def start(self) -> None:
        """Open the channel (in the running event loop); it connects when first used, and reconnects."""
        self.client.connect()

    async def close(self) -> None:
        await self.client.close()

    @property
    def unreachable(self) -> str:
        return f"cannot reach toasty-server at {self.client.address}; start it with `toasty-server`"

    @contextlib.contextmanager
    def _reaching(self, what: str) -> Iterator[None]:
        """Turn the client's failures into a HubError the model can act on."""
        try:
            yield
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
            raise HubError(f"invalid {what}: {problems}") from exc
        except ServerUnavailable as exc:
            log.info("%s: %s", what, printable(str(exc)))
            raise HubError(self.unreachable) from exc
        except ToastyError as exc:
            log.info("%s refused: %s", what, printable(str(exc)))
            raise HubError(f"the hub refused the {what}: {exc}") from exc

    # -- notifications -----------------------------------------------------------------------------

    async def notify(
        self, *, title: str, body: str, urgency: str, image: str | None, tag: str, origin: Origin
    ) -> NotifyResult:
        line1, line2 = _lines(body)
        with self._reaching("notification"):
            common: dict[str, Any] = {
                "title": title,
                "line1": line1,
                "line2": line2,
                "urgency": Urgency(urgency),
                "attribution": origin.label(tag),
            }
            if image:
                source = _image_source(image, origin)
                notification: TextNotification = ImageTextNotification(**common, image=Image(source=source))
            else:
                notification = TextNotification(**common)
            response = await self.client.publish(notification)
        return NotifyResult(id=response.notification_id)

    async def progress(
        self, *, key: str, title: str, value: float, status: str, done: bool, origin: Origin
    ) -> ProgressResult:
        with self._reaching("progress update"):
            notification = ProgressNotification(
                title=title,
                key=key,
                value=value,
                status=status,
                state=ProgressState.SUCCEEDED if done else ProgressState.RUNNING,
                attribution=origin.label(),
            )
            response = await self.client.publish(notification)
        return ProgressResult(id=response.notification_id, key=key)

    async def withdraw(self, given: str) -> WithdrawResult:
        local = self.questions.local_id(given)
        with self._reaching("withdrawal"):
            try:
                withdrawn = await self.client.withdraw(local)
            except NotFound as exc:
                raise HubError(f"unknown id {given!r}: no notification of this agent has that id") from exc
        what = "Taken down." if withdrawn else "It had already been answered or taken down."
        return WithdrawResult(id=local, withdrawn=withdrawn, message=what)

    # -- questions ---------------------------------------------------------------------------------

    async def ask(
        self,
        *,
        title: str,
        body: str,
        choices: list[str],
        text_input: bool,
        timeout_seconds: int,
        wait_seconds: float,
        origin: Origin,
    ) -> AskResult:
        """Ask (or find the identical question still unreported) and wait up to `wait_seconds` for it."""
        if len(set(choices)) != len(choices):
            raise HubError(f"choices must all differ: {choices!r}")
        key = (title, body, json.dumps(choices), str(text_input))
        question = self.questions.same_as("ask", key)
        if question is None:
            ids = _button_ids(choices)
            inputs = [TextInput(id=TEXT_INPUT_ID, title="Your answer")] if text_input else []
            with self._reaching("question"):
                line1, line2 = _lines(body)
                notification = InteractiveNotification(
                    title=title,
                    line1=line1,
                    line2=line2,
                    attribution=origin.label(),
                    buttons=[Button(id=i, label=c) for i, c in zip(ids, choices, strict=True)],
                    inputs=inputs,
                )
            question = await self._publish_question(
                notification, "ask", key, dict(zip(ids, choices, strict=True)), timeout_seconds
            )
        else:
            log.info("the same question again: waiting for %s", printable(self.questions.global_id(question.id)))
        return await self.wait(question, wait_seconds)

    async def get_answer(self, given: str, wait_seconds: float) -> AskResult:
        question = self.questions.find(given)
        if question is None or question.kind != "ask":
            raise HubError(
                f"unknown id {given!r}: no question with this id was asked through this toasty-mcp (it forgets "
                "its questions when it restarts)"
            )
        return await self.wait(question, wait_seconds)

    async def wait(self, question: Question, wait_seconds: float) -> AskResult:
        """The question's outcome, waiting at most `wait_seconds` for it; `pending` when it is still open."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        if question.answer is None:
            with self._reaching("wait for the answer"):
                try:
                    async with asyncio.timeout(max(wait_seconds, QUICK_LOOK)):
                        question.answer = await self.client.wait_for_answer(question.id)
                except TimeoutError:
                    await self.client.status()  # still open, or is it the hub that is gone?
                    return pending_result(question, loop.time() - started)
                except NotFound as exc:
                    raise HubError(
                        f"the hub no longer has the question {question.id!r} (restarted without its log?)"
                    ) from exc
        result = ask_result(question, question.answer)
        question.reported = True  # its outcome is final: the same question again is a new one
        if result is None:
            answer = question.answer
            raise HubError(
                f"the question could not be shown to the person ({answer.detail or answer.outcome.value}); "
                "tell the user what you need in your reply instead"
            )
        return result

    async def approve(
        self, *, tool_name: str, tool_input: dict[str, Any], tool_use_id: str, origin: Origin
    ) -> dict[str, Any]:
        """Ask the person to allow one tool call; every outcome but Allow is a deny (a timeout too)."""
        key = (tool_use_id, tool_name, json.dumps(tool_input, sort_keys=True, default=str))
        question = self.questions.same_as("approval", key)
        if question is None:
            with self._reaching("approval request"):
                notification = InteractiveNotification(
                    title=shorten(f"Allow {tool_name}?", MAX_TITLE),
                    line1=summarize(tool_name, tool_input, MAX_LINE),
                    attribution=origin.label(),
                    urgency=Urgency.WARNING,
                    buttons=[Button(id=ALLOW, label="Allow"), Button(id=DENY, label="Deny")],
                    inputs=[TextInput(id=REASON_INPUT_ID, title="Reason (optional)")],
                )
            labels = {ALLOW: ALLOW, DENY: DENY}
            question = await self._publish_question(notification, "approval", key, labels, self.approval_timeout)
        if question.answer is None:
            with self._reaching("wait for the approval"):
                try:
                    wait = self.approval_timeout + APPROVAL_GRACE
                    question.answer = await self.client.wait_for_answer(question.id, timeout=wait)
                except NotFound as exc:
                    raise HubError(f"the hub no longer has the approval request {question.id!r}") from exc
        question.reported = True
        return approval_decision(question.answer, tool_input, self.approval_timeout)

    async def _publish_question(
        self,
        notification: InteractiveNotification,
        kind: Kind,
        key: tuple[str, ...],
        labels: dict[str, str],
        answer_within: float,
    ) -> Question:
        proto: v1.Notification = notification.to_proto()
        proto.answer_timeout_seconds = max(1, math.ceil(answer_within))  # the hub times the question out
        with self._reaching("question"):
            response = await self.client.publish(proto)
        question = Question(id=response.notification_id, kind=kind, key=key, labels=labels)
        self.questions.add(question)
        log.info("asked %s: %s", printable(self.questions.global_id(question.id)), printable(notification.title))
        return question


def _lines(body: str) -> tuple[str, str]:
    """A body as a toast's two lines: the first line, and the rest."""
    line1, _, line2 = body.replace("\r\n", "\n").partition("\n")
    return line1, line2


def _image_source(image: str, origin: Origin) -> str:
    """A URL as is; a path relative to where the agent works, and it must exist (the hub reads it)."""
    if image.startswith(("http://", "https://")):
        return image
    path = Path(image).expanduser()
    if not path.is_absolute() and origin.directory:
        path = Path(origin.directory).expanduser() / path
    if not path.is_file():
        raise HubError(f"no image file at {str(path)!r}: give an absolute path to an existing file, or an http(s) URL")
    return str(path)
