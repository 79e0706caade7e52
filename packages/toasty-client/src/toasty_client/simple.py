"""One line to start: `notify()` and `ask()` from plain synchronous code (scripts, notebooks, Jupyter).

    toasty_client.notify("Backup done", body="2 GB in 4 minutes")
    answer = toasty_client.ask("Deploy v1.2?", choices=["Yes", "No"])  # "Yes", "No", or None

Both block until the server has the toast (and, for `ask`, until the person answers) and take the async
client's defaults: the address from TOASTY_ADDRESS (else localhost:50053), the agent id from
TOASTY_AGENT_ID, the token from TOASTY_TOKEN, TLS from TOASTY_CA_FILE / TOASTY_TLS. Each call opens its own
connection on a fresh event loop, so they also work where a loop already runs in the thread (Jupyter):
there the call runs on a worker thread. Code that is already async should use `ResilientNotificationClient`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import math
import re
import unicodedata
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from toasty_client.answers import Outcome
from toasty_client.builders import MAX_ID, Button, InteractiveNotification, TextNotification, Urgency
from toasty_client.client import ANSWER_GRACE_SECONDS, ResilientNotificationClient
from toasty_client.errors import ServerUnavailable, ToastyError

__all__ = ["ask", "notify"]

T = TypeVar("T")

PUBLISH_TIMEOUT = 30.0  # how long ask() may take to hand its question to the server
CALL_TIMEOUT = 10.0  # the longest single gRPC attempt (as the async client's default)
_NOT_ID = re.compile(r"[^a-z0-9._:@/-]+")  # what a button id may not contain (builders' id rule, lower case)


def notify(
    title: str,
    body: str = "",
    *,
    urgency: str | Urgency = "info",
    target: str = "",
    address: str | None = None,
    agent_id: str | None = None,
    timeout: float = 30.0,
) -> str:
    """Publish a Text toast and return its notification id, once the server has stored it.

        toasty_client.notify("Backup done", body="2 GB in 4 minutes")
        toasty_client.notify("Disk almost full", body="/var: 97 %", urgency="critical")

    The first line of `body` is the toast's first line, the rest its second line. `urgency` is "info",
    "warning" or "critical"; `target` a subscriber's client id (default: everyone). An unreachable server
    raises `ServerUnavailable` (naming the address) within about `timeout` seconds; an invalid title or
    body raises pydantic's ValidationError before anything is sent.
    """
    _check_timeout(timeout)
    line1, _, line2 = body.replace("\r\n", "\n").partition("\n")
    notification = TextNotification(title=title, line1=line1, line2=line2, urgency=_urgency(urgency))

    async def publish() -> str:
        async with _connected(address, agent_id, timeout) as client, _deadline(client.address, timeout):
            response = await client.publish(notification, target=target)
        return response.notification_id

    return _run_sync(publish)


def ask(
    question: str,
    choices: Sequence[str] = ("Yes", "No"),
    *,
    body: str = "",
    timeout: float = 300.0,
    address: str | None = None,
    agent_id: str | None = None,
) -> str | None:
    """Show `question` with one button per choice, wait for the person, and return the chosen label.

        if toasty_client.ask("Deploy v1.2?", choices=["Deploy", "Wait"]) == "Deploy":
            deploy()

    Returns None when there is no choice to report: the person dismissed the toast (or clicked its body
    rather than a button), it was withdrawn, or `timeout` seconds passed without an answer (the server
    takes the toast down then). At most 5 choices; each button's id is made from its label. Raises
    `ServerUnavailable` (naming the address) if the question cannot reach the server, and `ToastyError`
    if no desktop could show it.
    """
    if isinstance(choices, str):
        raise TypeError(f"choices must be a list of labels, not the string {choices!r}: write [{choices!r}]")
    _check_timeout(timeout)
    labels = list(choices)
    ids = _button_ids(labels)
    line1, _, line2 = body.replace("\r\n", "\n").partition("\n")
    notification = InteractiveNotification(
        title=question,
        line1=line1,
        line2=line2,
        buttons=[Button(id=i, label=label) for i, label in zip(ids, labels, strict=True)],
    )
    proto = notification.to_proto()
    proto.answer_timeout_seconds = max(1, math.ceil(timeout))  # the server times the question out

    async def ask_and_wait() -> str | None:
        async with _connected(address, agent_id, min(timeout, PUBLISH_TIMEOUT)) as client:
            async with _deadline(client.address, min(timeout, PUBLISH_TIMEOUT)):
                response = await client.publish(proto)
            answer = await client.wait_for_answer(response.notification_id, timeout=timeout + ANSWER_GRACE_SECONDS)
        if answer.outcome is Outcome.BUTTON:
            return dict(zip(ids, labels, strict=True)).get(answer.button_id)
        if answer.outcome is Outcome.FAILED:
            raise ToastyError(f"the question {question!r} could not be shown: {answer.detail or 'no desktop'}")
        return None  # dismissed, activated, withdrawn or timed out

    return _run_sync(ask_and_wait)


def _run_sync(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine `coro_factory()` to completion from synchronous code and return its result.

    With no event loop running in this thread, on a new loop here (`asyncio.run`). With one running (Jupyter,
    IPython), on a new loop in a worker thread while this thread waits: loops are never nested. The
    coroutine is created in the thread that runs it, so gRPC channels belong to that thread's loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:  # outside the except block: a failure must not carry "no running event loop" with it
        return asyncio.run(coro_factory())
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="toasty-sync")
    try:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()
    finally:
        pool.shutdown(wait=False)  # on Ctrl-C, return at once: the call ends by itself within its timeout


@contextlib.asynccontextmanager
async def _connected(
    address: str | None, agent_id: str | None, call_timeout: float
) -> AsyncIterator[ResilientNotificationClient]:
    """An async client with the environment's defaults, no single call waiting longer than `call_timeout`; closed
    at the end, at once if the block failed (no answer is due then, so there is nothing to wait for)."""
    client = ResilientNotificationClient(address, agent_id=agent_id, timeout=min(call_timeout, CALL_TIMEOUT))
    client.connect()
    try:
        yield client
    except BaseException:
        client.timeout = 0.0  # the grace close() gives answers still due on the PublishStream call
        raise
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def _deadline(address: str, seconds: float) -> AsyncIterator[None]:
    """Bound the block to `seconds`; a failure to reach the server is one line naming `address`."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise ServerUnavailable(
            f"no answer from the Toasty server at {address} within {seconds:g} s", reason="TIMEOUT"
        ) from None
    except ServerUnavailable as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "unavailable"
        raise ServerUnavailable(
            f"cannot reach the Toasty server at {address}: {detail}", code=exc.code, reason=exc.reason
        ) from exc


def _check_timeout(timeout: float) -> None:
    """A sync call must end: its timeout is a finite number of seconds above 0."""
    if not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a positive, finite number of seconds, not {timeout!r}")


def _urgency(value: str | Urgency) -> Urgency:
    try:
        return Urgency(value.lower() if isinstance(value, str) else value)
    except ValueError:
        known = ", ".join(repr(u.value) for u in Urgency)
        raise ValueError(f"urgency {value!r} is not one of {known}") from None


def _button_ids(labels: Sequence[str]) -> list[str]:
    """A valid, unique button id per label: "Deploy now" -> "deploy-now"; "choice-N" (N counts from 1)
    for a label with no letters or digits, or one whose id is taken."""
    ids: list[str] = []
    for n, label in enumerate(labels, start=1):
        ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
        slug = _NOT_ID.sub("-", ascii_label.lower())
        slug = slug.lstrip("._:@/-")[:MAX_ID].rstrip("._:@/-")
        if not slug or slug in ids:  # "choice-N", or the next free number if an earlier label took it
            slug = next(c for k in itertools.count(n) if (c := f"choice-{k}") not in ids)
        ids.append(slug)
    return ids
