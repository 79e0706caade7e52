"""Who is calling: the `x-agent-id` metadata, `anonymous` when missing (limited as one agent)."""

from __future__ import annotations

import grpc

from toasty_server.errors import InvalidArgument
from toasty_server.interceptors.base import AGENT_ID_KEY, Continuation, Handler, agent_from, refusal
from toasty_server.observability.context import current_call, ensure_call
from toasty_server.service.validation import agent_id_problem


def current_agent() -> str:
    """The calling agent of the RPC being handled (for handlers; `anonymous` outside of a call)."""
    info = current_call()
    return info.agent_id if info is not None and info.agent_id else "anonymous"


class IdentityInterceptor(grpc.aio.ServerInterceptor):
    """Puts the agent id in the call's context, for the handler, the logs and the interceptors after it."""

    def __init__(self, max_chars: int) -> None:
        self._max_chars = max_chars

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        method = handler_call_details.method
        agent = agent_from(handler_call_details.invocation_metadata)
        problem = agent_id_problem(agent, self._max_chars)
        if problem is not None:
            return refusal(method, InvalidArgument(f"{AGENT_ID_KEY} metadata", problem))
        ensure_call(method).agent_id = agent
        return await continuation(handler_call_details)
