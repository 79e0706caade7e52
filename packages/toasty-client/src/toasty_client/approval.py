"""A person in the loop: `@require_approval` runs a function only when the person allows the call,
`ask_approval()` asks the same allow/deny question for anything else, and `human_as_tool()` is a tool an
agent framework hands its model to ask the person a question.

    @toasty_client.require_approval()
    def drop_table(name: str) -> None: ...

    drop_table("users")  # a toast "Allow drop_table?" showing drop_table(name='users'), Allow / Deny and a
                         # reason box; runs on Allow, raises ApprovalDenied (with the reason) otherwise

The question is an Interactive notification awaited like `toasty_client.ask()`: the server keeps its
deadline, so nobody answering is a denial (outcome `timed_out`), never a hang, and an unreachable hub is
`ServerUnavailable` with the function not run. Nothing here imports an agent framework: the framework
examples (examples/agents) bring theirs as optional extras.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import math
import reprlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar, cast, overload

from toasty_client.answers import Answer, Outcome
from toasty_client.builders import MAX_TEXT, MAX_TITLE, Button, InteractiveNotification, TextInput, Urgency
from toasty_client.client import ANSWER_GRACE_SECONDS, ResilientNotificationClient
from toasty_client.errors import ToastyError
from toasty_client.safe_text import printable
from toasty_client.simple import PUBLISH_TIMEOUT, _check_timeout, _connected, _deadline, _run_sync, _urgency
from toasty_proto import v1

__all__ = [
    "Approval",
    "ApprovalDenied",
    "ask_approval",
    "ask_approval_async",
    "human_as_async_tool",
    "human_as_tool",
    "require_approval",
]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

ALLOW, DENY, REASON = "allow", "deny", "reason"  # the question's button and input ids
SEND, ANSWER = "send", "answer"  # human_as_tool's button and input ids
VALUE_CHARS = 60  # one argument's value in a call summary, before it is shortened (visibly)
SUMMARY_CHARS = 400  # a whole call summary: the toast's first line
WITHDRAW_SECONDS = 3.0  # how long an abandoned question may take to be taken down

Decision = Literal["allowed", "denied", "timed_out", "dismissed", "withdrawn"]
Denial = Literal["denied", "timed_out", "dismissed", "withdrawn"]


class ApprovalDenied(Exception):
    """The person did not allow the call, so it did not run: they pressed deny (`outcome` "denied"), nobody
    answered in time ("timed_out"), or the question was dismissed or withdrawn. `reason` is what the person
    typed ("" when nothing). Not a ToastyError: Toasty worked, and the answer was no."""

    def __init__(self, message: str, *, outcome: Denial, reason: str = "", notification_id: str = "") -> None:
        super().__init__(message)
        self.outcome: Denial = outcome
        self.reason = reason
        self.notification_id = notification_id


@dataclass(frozen=True)
class Approval:
    """The person's decision on one allow/deny question: `allowed` only when they pressed allow."""

    outcome: Decision
    reason: str = ""  # what the person typed in the reason box, either way
    notification_id: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome == "allowed"

    def denial(self, what: str, timeout: float) -> ApprovalDenied:
        """The ApprovalDenied to raise for this decision about `what` (a name or a title)."""
        if self.outcome == "allowed":
            raise ValueError("an allowed call is not denied")
        why = {
            "denied": f"denied: {self.reason}" if self.reason else "denied (no reason given)",
            "timed_out": f"not allowed: nobody answered within {_duration(timeout)}",
            "dismissed": "not allowed: the question was dismissed",
            "withdrawn": "not allowed: the question was withdrawn",
        }[self.outcome]
        return ApprovalDenied(
            printable(f"{what} was {why}"),
            outcome=self.outcome,
            reason=self.reason,
            notification_id=self.notification_id,
        )


# -- asking --------------------------------------------------------------------------------------------------


def ask_approval(
    title: str,
    details: str = "",
    *,
    timeout: float = 300.0,
    urgency: str | Urgency = "warning",
    ask_reason: bool = True,
    address: str | None = None,
    agent_id: str | None = None,
) -> Approval:
    """Ask the person to allow or deny something, from synchronous code; block until they decide.

        if toasty_client.ask_approval("Restart db-1?", "requested by the nightly job").allowed: ...

    `details` is the toast's first line (shortened visibly past 2048 characters). Without an answer in
    `timeout` seconds the outcome is "timed_out". `ask_reason=False` leaves out the reason box, so that a
    desktop that cannot take text (most Linux notification daemons) shows the two buttons. Raises
    `ServerUnavailable` if the hub cannot be reached, `ToastyError` if no desktop could show the question.
    Works with or without an event loop running in the thread (Jupyter), as `toasty_client.ask()` does.
    """
    _check_timeout(timeout)
    question = _approval_question(title, details, timeout, _urgency(urgency), ask_reason)
    return _run_sync(lambda: _decide(question, timeout, None, address, agent_id))


async def ask_approval_async(
    title: str,
    details: str = "",
    *,
    timeout: float = 300.0,  # noqa: ASYNC109 (the person's deadline, kept by the server; not a local wait)
    urgency: str | Urgency = "warning",
    ask_reason: bool = True,
    client: ResilientNotificationClient | None = None,
    address: str | None = None,
    agent_id: str | None = None,
) -> Approval:
    """`ask_approval()` for async code: awaited on the caller's loop, on `client` when given (else on a
    connection of its own to `address`). Cancelling it takes the question down."""
    _check_timeout(timeout)
    question = _approval_question(title, details, timeout, _urgency(urgency), ask_reason)
    return await _decide(question, timeout, client, address, agent_id)


async def _decide(
    question: v1.Notification,
    within: float,
    client: ResilientNotificationClient | None,
    address: str | None,
    agent_id: str | None,
) -> Approval:
    answer = await _ask(question, within, client, address, agent_id)
    if answer.outcome is Outcome.BUTTON:
        reason = answer.inputs.get(REASON, "").strip()
        return Approval("allowed" if answer.button_id == ALLOW else "denied", reason, answer.notification_id)
    if answer.outcome is Outcome.TIMED_OUT:
        return Approval("timed_out", notification_id=answer.notification_id)
    if answer.outcome is Outcome.WITHDRAWN:
        return Approval("withdrawn", notification_id=answer.notification_id)
    # dismissed, or the toast's body clicked rather than a button: no decision is no
    return Approval("dismissed", notification_id=answer.notification_id)


async def _ask(
    question: v1.Notification,
    within: float,
    client: ResilientNotificationClient | None,
    address: str | None,
    agent_id: str | None,
) -> Answer:
    """Publish `question` and await its one outcome. A wait that is abandoned (cancelled, interrupted)
    withdraws the question, so that the person is not left answering a call that is gone."""
    handed_over = min(within, PUBLISH_TIMEOUT)
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(_connected(address, agent_id, handed_over))
        async with _deadline(client.address, handed_over):
            notification_id = (await client.publish(question)).notification_id
        # the id the person names it by (`toasty answer <id> ...`), as `toasty ask` prints it
        log.info("asked %s~%s: %s", client.agent_id or "anonymous", notification_id, printable(_title(question)))
        try:
            answer = await client.wait_for_answer(notification_id, timeout=within + ANSWER_GRACE_SECONDS)
        except BaseException:
            await _withdraw_quietly(client, notification_id)
            raise
    log.info("%s: %s %s", notification_id, answer.outcome.value, answer.button_id or "")
    if answer.outcome in (Outcome.FAILED, Outcome.UNSUPPORTED):
        raise ToastyError(f"the question {_title(question)!r} could not be shown: {answer.detail or 'no desktop'}")
    return answer


async def _withdraw_quietly(client: ResilientNotificationClient, notification_id: str) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(WITHDRAW_SECONDS):
            await client.withdraw(notification_id)
            log.info("withdrew %s: nobody waits for its answer any more", notification_id)


def _approval_question(title: str, details: str, timeout: float, urgency: Urgency, ask_reason: bool) -> v1.Notification:
    """The allow/deny toast; invalid text raises pydantic's ValidationError before anything is sent."""
    question = InteractiveNotification(
        title=shorten(printable(title), MAX_TITLE),
        line1=shorten(printable(details), MAX_TEXT),
        line2=f"No answer within {_duration(timeout)} denies it.",
        urgency=urgency,
        buttons=[Button(id=ALLOW, label="Allow"), Button(id=DENY, label="Deny")],
        inputs=[TextInput(id=REASON, title="Reason", placeholder="why (optional)")] if ask_reason else [],
    ).to_proto()
    question.answer_timeout_seconds = max(1, math.ceil(timeout))  # the server keeps the deadline
    return question


def _title(question: v1.Notification) -> str:
    header = question.interactive.header if question.interactive else None
    return header.title if header else ""


# -- the decorator ---------------------------------------------------------------------------------------------


class _ApprovalDecorator:
    """What `require_approval(...)` returns: applied to a function, the function behind a question."""

    def __init__(
        self,
        title: str | None,
        *,
        timeout: float,
        urgency: Urgency,
        ask_reason: bool,
        address: str | None,
        agent_id: str | None,
        client: ResilientNotificationClient | None,
    ) -> None:
        _check_timeout(timeout)
        if title is not None:
            _approval_question(title, "", timeout, urgency, ask_reason)  # a bad title fails here, not at the call
        self.title = title
        self.timeout = timeout
        self.urgency = urgency
        self.ask_reason = ask_reason
        self.address = address
        self.agent_id = agent_id
        self.client = client

    @overload
    def __call__(self, func: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        name = function_name(func)
        title = self.title if self.title is not None else f"Allow {name}?"

        def question(args: tuple[object, ...], kwargs: dict[str, object]) -> v1.Notification:
            # a call that cannot bind raises TypeError here: nobody is asked about a call that would fail
            summary = describe_call(func, args, kwargs)
            return _approval_question(title, summary, self.timeout, self.urgency, self.ask_reason)

        def check(approval: Approval) -> None:
            if not approval.allowed:
                log.info("%s not run: %s", name, approval.outcome)
                raise approval.denial(name, self.timeout)
            log.info("%s allowed%s", name, f" ({approval.reason})" if approval.reason else "")

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def call_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                asked = question(args, kwargs)
                check(await _decide(asked, self.timeout, self.client, self.address, self.agent_id))
                return await func(*args, **kwargs)

            return call_async

        if self.client is not None:
            raise TypeError(
                f"require_approval(client=...) is for async functions; {name} is synchronous: "
                "pass address= (each call opens its own connection), or make it async"
            )

        @functools.wraps(func)
        def call(*args: P.args, **kwargs: P.kwargs) -> Any:
            asked = question(args, kwargs)  # the arguments are read here, in the caller's thread
            check(_run_sync(lambda: _decide(asked, self.timeout, None, self.address, self.agent_id)))
            return func(*args, **kwargs)

        return call


@overload
def require_approval(title: Callable[P, Coroutine[Any, Any, R]], /) -> Callable[P, Coroutine[Any, Any, R]]: ...


@overload
def require_approval(title: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def require_approval(
    title: str | None = None,
    *,
    timeout: float = 300.0,
    urgency: str | Urgency = "warning",
    ask_reason: bool = True,
    address: str | None = None,
    agent_id: str | None = None,
    client: ResilientNotificationClient | None = None,
) -> _ApprovalDecorator: ...


def require_approval(
    title: str | Callable[..., Any] | None = None,
    *,
    timeout: float = 300.0,
    urgency: str | Urgency = "warning",
    ask_reason: bool = True,
    address: str | None = None,
    agent_id: str | None = None,
    client: ResilientNotificationClient | None = None,
) -> _ApprovalDecorator | Callable[..., Any]:
    """Run the decorated function only when the person allows the call.

        @toasty_client.require_approval(timeout=120)
        def delete_backups(folder: str, older_than_days: int) -> int: ...

    Each call shows "Allow delete_backups?" (or `title`) with the call and its arguments, shortened
    visibly where long (`delete_backups(folder='/srv/backups', older_than_days=30)`), the buttons allow and
    deny, and a reason box (`ask_reason=False`: none, for desktops that cannot take text). Allow runs the
    function and returns its result; anything else raises `ApprovalDenied` (`.outcome`, and `.reason` as
    typed) without running it; no answer within `timeout` seconds is `timed_out`. An unreachable hub raises
    `ServerUnavailable`, also without running it.

    Synchronous functions block while the person decides, from a script or where an event loop runs
    (Jupyter), as `toasty_client.ask()` does; each call opens its own connection to `address` (else
    TOASTY_ADDRESS) as `agent_id`. Async functions await the question on the caller's loop, on `client` if
    given. The signature is kept (ParamSpec, functools.wraps), so a framework that reads it sees the original.
    """
    decorator = _ApprovalDecorator(
        None if callable(title) else title,
        timeout=timeout,
        urgency=_urgency(urgency),
        ask_reason=ask_reason,
        address=address,
        agent_id=agent_id,
        client=client,
    )
    return decorator(title) if callable(title) else decorator  # @require_approval without parentheses too


# -- what the person reads -----------------------------------------------------------------------------------


def shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its beginning and a note of how long it was: a value is
    never cut silently."""
    if len(text) <= limit:
        return text
    note = f"… ({len(text):,} characters in all)"
    return text[: max(0, limit - len(note))] + note


def _value_repr() -> reprlib.Repr:
    """reprlib with small limits: a huge list or string is never rendered whole just to be cut."""
    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxstring = r.maxother = r.maxlong = VALUE_CHARS
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = r.maxdict = 5
    r.fillvalue = "…"  # what reprlib puts where it cut: visible
    return r


_REPR = _value_repr()


def function_name(func: Callable[..., Any]) -> str:
    """`deploy`, `Deployer.deploy`: the qualified name without the `<locals>` of a function made inside another."""
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    return str(name).rsplit("<locals>.", 1)[-1]


def describe_value(value: object) -> str:
    """One argument as the person reads it: its repr, control characters escaped, shortened visibly."""
    if isinstance(value, str | bytes | bytearray) and len(value) > VALUE_CHARS:
        unit = "characters" if isinstance(value, str) else "bytes"
        return printable(repr(value[:VALUE_CHARS]))[:VALUE_CHARS] + f"… ({len(value):,} {unit})"
    try:
        text = _REPR.repr(value)
    except Exception:  # a __repr__ that fails (or an int too long to print) must not stop the question
        text = f"<{type(value).__qualname__} that cannot be shown>"
    items = len(value) if isinstance(value, list | tuple | dict | set | frozenset) else 0
    if items > 5:  # reprlib showed the first five and "…"
        text += f" ({items:,} items)"
    return shorten(printable(text), VALUE_CHARS * 2)


def describe_call(func: Callable[..., Any], args: tuple[object, ...], kwargs: dict[str, object]) -> str:
    """`name(arg=value, ...)` for the toast: each value shortened visibly, and past SUMMARY_CHARS the
    number of arguments left out. Raises TypeError when the arguments do not fit the signature."""
    name = printable(function_name(func))
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without a signature: the values without names
        parts = [describe_value(v) for v in args] + [f"{printable(k)}={describe_value(v)}" for k, v in kwargs.items()]
    else:
        bound = signature.bind(*args, **kwargs)
        parts = []
        for position, (param, value) in enumerate(bound.arguments.items()):
            kind = signature.parameters[param].kind
            if position == 0 and param in ("self", "cls") and kind is not inspect.Parameter.KEYWORD_ONLY:
                continue  # the method's name says whose it is
            if kind is inspect.Parameter.VAR_POSITIONAL:
                parts += [describe_value(v) for v in cast(tuple[object, ...], value)]
            elif kind is inspect.Parameter.VAR_KEYWORD:
                parts += [f"{printable(k)}={describe_value(v)}" for k, v in cast(dict[str, object], value).items()]
            else:
                parts.append(f"{param}={describe_value(value)}")
    text = f"{name}("
    for shown, part in enumerate(parts):
        left = len(parts) - shown
        room = SUMMARY_CHARS - 1 if left == 1 else SUMMARY_CHARS - 30  # keep room to say what was left out
        if len(text) + len(part) + 2 > room:
            return shorten(
                f"{text}{', ' if shown else ''}… {left} more argument{'s' if left > 1 else ''})", SUMMARY_CHARS
            )
        text += (", " if shown else "") + part
    return shorten(text + ")", SUMMARY_CHARS)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# -- a person as an agent's tool -----------------------------------------------------------------------------

_HUMAN_DOC = """Ask the person you work for a question and wait for their typed answer.

Use it when you need a decision, a preference or a fact only they know. Ask one clear, self-contained
question at a time; the answer comes back as text (or a sentence saying that nobody answered).

Args:
    question: The question, as the person should read it.
"""


def human_as_tool(
    *,
    name: str = "ask_human",
    timeout: float = 300.0,
    urgency: str | Urgency = "info",
    address: str | None = None,
    agent_id: str | None = None,
) -> Callable[[str], str]:
    """A tool for an agent framework: `question` in, the person's typed answer out.

        agent = Agent(..., tools=[function_tool(toasty_client.human_as_tool())])  # OpenAI Agents SDK
        tools = [langchain_core.tools.tool(toasty_client.human_as_tool())]  # LangChain, LangGraph

    A plain synchronous function named `name`, with a docstring and the annotated signature
    `(question: str) -> str`, so frameworks build the tool's schema from it. The question is a toast with a
    text box and a Send button; the answer is the text typed. When nobody answers (dismissed, withdrawn,
    `timeout` seconds passed) it returns a sentence saying so, which the model can act on. A hub that cannot
    be reached raises `ServerUnavailable`. `human_as_async_tool()` is the same as a coroutine function.
    """
    _check_timeout(timeout)
    level = _urgency(urgency)

    def ask_human(question: str) -> str:
        asked = _human_question(question, timeout, level)
        return _run_sync(lambda: _human_answer(asked, timeout, address, agent_id))

    return _named(ask_human, name)


def human_as_async_tool(
    *,
    name: str = "ask_human",
    timeout: float = 300.0,
    urgency: str | Urgency = "info",
    client: ResilientNotificationClient | None = None,
    address: str | None = None,
    agent_id: str | None = None,
) -> Callable[[str], Coroutine[Any, Any, str]]:
    """`human_as_tool()` as a coroutine function, awaited on the framework's loop (on `client` if given)."""
    _check_timeout(timeout)
    level = _urgency(urgency)

    async def ask_human(question: str) -> str:
        return await _human_answer(_human_question(question, timeout, level), timeout, address, agent_id, client)

    return _named(ask_human, name)


F = TypeVar("F", bound=Callable[..., Any])


def _named(func: F, name: str) -> F:
    """Frameworks name the tool after the function and describe it with its docstring."""
    if not name.isidentifier():
        raise ValueError(f"a tool name must be a Python identifier (letters, digits, _), not {name!r}")
    func.__name__ = func.__qualname__ = name
    func.__doc__ = _HUMAN_DOC
    func.__annotations__ = {"question": str, "return": str}  # types, not this module's postponed strings
    return func


def _human_question(question: str, timeout: float, urgency: Urgency) -> v1.Notification:
    text = printable(question.strip()) or "(the agent asked an empty question)"
    asked = InteractiveNotification(
        title=shorten(text, MAX_TITLE),
        line1=shorten(text, MAX_TEXT) if len(text) > MAX_TITLE else "",  # the rest of a long question
        line2=f"Type your answer and press Send (within {_duration(timeout)}).",
        urgency=urgency,
        buttons=[Button(id=SEND, label="Send")],
        inputs=[TextInput(id=ANSWER, title="Your answer", placeholder="your answer")],
    ).to_proto()
    asked.answer_timeout_seconds = max(1, math.ceil(timeout))
    return asked


async def _human_answer(
    asked: v1.Notification,
    within: float,
    address: str | None,
    agent_id: str | None,
    client: ResilientNotificationClient | None = None,
) -> str:
    answer = await _ask(asked, within, client, address, agent_id)
    if answer.outcome is Outcome.BUTTON:
        return answer.inputs.get(ANSWER, "").strip() or "The person pressed Send without typing an answer."
    if answer.outcome is Outcome.TIMED_OUT:
        return f"The person did not answer within {_duration(within)}."
    if answer.outcome is Outcome.WITHDRAWN:
        return "The question was withdrawn before the person answered."
    return "The person dismissed the question without answering."
