"""The MCP tools of `toasty-mcp`, on the official SDK's `MCPServer`: typed parameters (so each tool has a
JSON schema the SDK validates calls against), descriptions written for a model, and output schemas.

Each tool is a thin layer over `Hub`; a `HubError` becomes a tool error (`isError`) with its message.
Long waits send MCP progress notifications every HEARTBEAT_SECONDS when the caller gave a progress
token (the SDK sends nothing otherwise), and an `ask` returns `pending` after `wait_seconds` rather than
outlive the host's patience (about 60 s for a call that receives no progress).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import json
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import ToolAnnotations
from pydantic import Field

from toasty_client.mcp.hub import Hub, HubError
from toasty_client.mcp.origin import Origin, working_directory
from toasty_client.mcp.results import AskResult, NotifyResult, ProgressResult, WithdrawResult
from toasty_client.mcp.summary import shorten
from toasty_client.safe_text import printable

log = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Ctx = Context[Any, Any]

HEARTBEAT_SECONDS = 5.0  # a progress notification at least this often while a call waits for the person
ROOTS_TIMEOUT = 2.0  # how long to wait for a client's roots (its working directory) before doing without
MAX_AGENT_NAME = 64  # of the client's name on the toast
DEFAULT_CHOICES = ["Yes", "No"]  # never mutated: the default of `ask`'s choices

INSTRUCTIONS = """\
Toasty shows desktop notifications to the person you work for, and asks them questions.
Use notify when something they care about happened (a long task finished or failed), progress for a long
task they may be watching, and ask only when you cannot go on without their decision. A question stays
on their screen after your call returns: when ask returns outcome "pending", call get_answer with its id
to keep waiting, and never ask the same thing twice. After "timed_out", "dismissed" or "withdrawn", do
not ask again on your own."""

Title = Annotated[
    str,
    Field(min_length=1, max_length=256, description="One short line the person reads first (at most 256 characters)."),
]
Body = Annotated[
    str,
    Field(
        max_length=2048, description="Details under the title: its first line, then the rest (at most 2048 characters)."
    ),
]
WaitSeconds = Annotated[
    float,
    Field(
        ge=0,
        le=600,
        description='How long this call waits for the answer before it returns outcome "pending" (the question '
        "stays open). Keep it under 50: hosts cut tool calls that run longer than about a minute. 0: just look.",
    ),
]
QuestionId = Annotated[str, Field(min_length=1, max_length=300, description="The id an earlier ask returned.")]


def tool(
    app: MCPServer[Any], *, title: str, annotations: ToolAnnotations, structured_output: bool | None = None
) -> Callable[[F], F]:
    """`@app.tool()` with the function's docstring, dedented, as the description the model reads."""

    def register(fn: F) -> F:
        description = inspect.cleandoc(fn.__doc__ or "")
        app.add_tool(
            fn, title=title, description=description, annotations=annotations, structured_output=structured_output
        )
        return fn

    return register


def build_server(hub: Hub) -> MCPServer[Any]:
    """The MCP server with Toasty's six tools, all using `hub` (one hub client for the whole process)."""
    app: MCPServer[Any] = MCPServer("toasty", title="Toasty", instructions=INSTRUCTIONS, version=_version())
    roots = _RootsCache()

    async def origin(ctx: Ctx) -> Origin:
        params = ctx.session.client_params
        agent = params.client_info.name if params is not None else ""
        return Origin(agent=shorten(agent, MAX_AGENT_NAME), directory=working_directory(await roots.of(ctx)))

    @tool(
        app,
        title="Notify the person",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    )
    async def notify(
        ctx: Ctx,
        title: Title,
        body: Body = "",
        urgency: Annotated[
            Literal["info", "warning", "critical"],
            Field(description="info: for their information; warning: needs attention soon; critical: now."),
        ] = "info",
        image: Annotated[
            str | None,
            Field(
                max_length=2048,
                description="An image to show: a local file path (absolute, or relative to "
                "your working directory) or an http(s) URL.",
            ),
        ] = None,
        tag: Annotated[
            str,
            Field(
                max_length=64,
                description="A short label shown under the text (a project, a job) so the person "
                "can tell your toasts apart.",
            ),
        ] = "",
    ) -> NotifyResult:
        """Show the person a desktop notification (a toast) and return at once. Use it when something they
        care about happened: a long task finished or failed, a result is ready. It does not wait for them to
        read it. The result's id can be passed to withdraw."""
        where = await origin(ctx)
        return await _tool(hub.notify(title=title, body=body, urgency=urgency, image=image, tag=tag, origin=where))

    @tool(
        app,
        title="Show progress",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True),
    )
    async def progress(
        ctx: Ctx,
        key: Annotated[
            str,
            Field(
                min_length=1,
                max_length=128,
                pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$",
                description="Names the progress bar: every call with the same key updates the same toast in "
                'place (letters, digits and . _ : @ / -, e.g. "build-42").',
            ),
        ],
        title: Title,
        value: Annotated[float, Field(ge=0, le=1, description="How far along: 0.0 to 1.0 (0.4 is 40 %).")],
        status: Annotated[
            str, Field(max_length=256, description='What is happening now, shown under the bar ("3 of 10 files").')
        ] = "",
        done: Annotated[bool, Field(description="True on the last update: the task is finished.")] = False,
    ) -> ProgressResult:
        """Show or update a progress bar on the person's desktop, for a long task they may be watching. Call
        it again with the same key to move the same bar (not a new toast each time), and with done=true at
        the end. Send an update when the value changes noticeably, not many times a second."""
        where = await origin(ctx)
        return await _tool(hub.progress(key=key, title=title, value=value, status=status, done=done, origin=where))

    @tool(
        app,
        title="Ask the person",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True),
    )
    async def ask(
        ctx: Ctx,
        title: Annotated[
            str,
            Field(
                min_length=1, max_length=256, description="The question, in one short line (at most 256 characters)."
            ),
        ],
        body: Body = "",
        choices: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=256)]],
            Field(
                min_length=1,
                max_length=5,
                description="The answers the person can click, 1 to 5 different short texts; the result's choice "
                "is the one clicked, as written here.",
            ),
        ] = DEFAULT_CHOICES,
        text_input: Annotated[
            bool, Field(description="Also show a text box; what the person types comes back as text.")
        ] = False,
        timeout_seconds: Annotated[
            int,
            Field(
                ge=1,
                le=86_400,
                description="How long the question stays open for the person; then its outcome is timed_out.",
            ),
        ] = 600,
        wait_seconds: WaitSeconds = 45,
    ) -> AskResult:
        """Ask the person a question on their desktop and wait for their answer. Use it only when you cannot
        go on well without their decision or information. Returns outcome "answered" with the choice clicked
        (and text typed, if text_input); "pending" when wait_seconds passed first: the question stays open,
        call get_answer with the id to keep waiting (asking the same question again also just waits for it).
        "dismissed", "timed_out" or "withdrawn": no answer will come; do not ask again on your own."""
        where = await origin(ctx)
        waiting = hub.ask(
            title=title,
            body=body,
            choices=list(choices),
            text_input=text_input,
            timeout_seconds=timeout_seconds,
            wait_seconds=wait_seconds,
            origin=where,
        )
        return await _tool(_with_heartbeat(ctx, waiting, "waiting for the person's answer", wait_seconds))

    @tool(
        app,
        title="Get the answer to a question",
        annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True),
    )
    async def get_answer(ctx: Ctx, id: QuestionId, wait_seconds: WaitSeconds = 45) -> AskResult:
        """Keep waiting for the answer to a question asked with ask (after it returned "pending", or after
        your call to ask was cut short). Returns the same result as ask; "pending" again when wait_seconds
        passed without an answer."""
        waiting = hub.get_answer(id, wait_seconds)
        return await _tool(_with_heartbeat(ctx, waiting, "waiting for the person's answer", wait_seconds))

    @tool(
        app,
        title="Withdraw a notification",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    )
    async def withdraw(
        id: Annotated[str, Field(min_length=1, max_length=300, description="The id notify, progress or ask returned.")],
    ) -> WithdrawResult:
        """Take down one of your notifications or questions (for instance a question that no longer
        matters). A withdrawn question's outcome becomes "withdrawn"."""
        return await _tool(hub.withdraw(id))

    @tool(
        app,
        title="Ask the person to approve a tool call",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True),
        structured_output=False,
    )
    async def approval_prompt(
        ctx: Ctx,
        tool_name: Annotated[str, Field(min_length=1, max_length=200, description="The tool that wants to run.")],
        input: Annotated[dict[str, Any], Field(description="The tool call's arguments, as the tool will get them.")],
        tool_use_id: Annotated[str, Field(max_length=200, description="The tool call's id.")] = "",
    ) -> str:
        """Claude Code's permission prompt (--permission-prompt-tool mcp__toasty__approval_prompt): shows
        the person the tool call and waits for Allow or Deny. Returns the JSON text
        {"behavior":"allow","updatedInput":{...}} or {"behavior":"deny","message":"..."}; no answer in time
        is a deny."""
        where = await origin(ctx)
        deciding = hub.approve(tool_name=tool_name, tool_input=input, tool_use_id=tool_use_id, origin=where)
        decision = await _tool(
            _with_heartbeat(ctx, deciding, "waiting for the person's approval", hub.approval_timeout)
        )
        log.info("approval of %s: %s", printable(tool_name), decision["behavior"])
        return json.dumps(decision, ensure_ascii=False)

    return app


async def _tool(work: Coroutine[Any, Any, T]) -> T:
    """Run a tool's work in a task of its own; a HubError is the tool error the model reads.

    The task keeps a cancelled call (the host gave up on it) from stopping the whole server: a gRPC call
    cancelled under it ends with a CancelledError of its own, without the mark anyio's cancel scope
    recognises as the request's cancellation, and anyio would let that error cancel the server's task
    group. Awaited through a shield, this call sees the request's own CancelledError instead.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except HubError as exc:
        raise ToolError(str(exc)) from exc
    except asyncio.CancelledError:
        task.cancel()  # the question stays open on the hub: get_answer (or the same ask) picks it up
        raise


async def _with_heartbeat(ctx: Ctx, work: Awaitable[T], what: str, total: float) -> T:
    """Await `work`, reporting progress every HEARTBEAT_SECONDS meanwhile: a host that gave a progress
    token keeps the call alive while the person thinks (without a token the SDK sends nothing)."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            elapsed = loop.time() - started
            try:
                await ctx.report_progress(elapsed, total or None, f"{what} ({elapsed:.0f} s)")
            except Exception as exc:  # the client went away: the call's own end will tell
                log.debug("progress not sent: %r", exc)
                return

    beating = asyncio.ensure_future(beat())
    try:
        return await work
    finally:
        beating.cancel()


class _RootsCache:
    """The client's roots (its working directories), asked once per MCP session and only when the client
    says it has roots; nothing when it cannot answer in time."""

    def __init__(self) -> None:
        self._by_session: dict[str, list[str]] = {}

    async def of(self, ctx: Ctx) -> list[str]:
        capabilities = ctx.client_capabilities
        if capabilities is None or capabilities.roots is None:
            return []
        session = (ctx.headers or {}).get("mcp-session-id", "")  # "" on stdio: one client per process
        if session not in self._by_session:
            self._by_session[session] = await self._ask(ctx)
        return self._by_session[session]

    @staticmethod
    async def _ask(ctx: Ctx) -> list[str]:
        try:
            async with asyncio.timeout(ROOTS_TIMEOUT):
                with warnings.catch_warnings():  # roots are deprecated in the newest protocol, not gone
                    warnings.simplefilter("ignore", MCPDeprecationWarning)
                    result = await ctx.session.list_roots()
        except Exception as exc:  # no roots, then: the working directory comes from elsewhere
            log.debug("the client's roots are not available: %r", exc)
            return []
        return [str(root.uri) for root in result.roots]


def _version() -> str:
    try:
        return importlib.metadata.version("toasty-client")
    except importlib.metadata.PackageNotFoundError:
        return ""
