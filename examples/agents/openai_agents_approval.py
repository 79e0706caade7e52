"""OpenAI Agents SDK: a tool with `needs_approval`, the run's interruption resolved by a person through Toasty.

`restart_service` is a function tool with `needs_approval=True`: when the model calls it, `Runner.run` stops
with `result.interruptions` instead of running it. This script asks the person through Toasty (Allow / Deny,
with a reason box), calls `state.approve(item)` or `state.reject(item, rejection_message=...)` and runs again
from that state; the tool runs only when allowed, and the model reads the person's reason otherwise.

Without --service the agent first asks the person which service to restart, through the tool that
`toasty_client.human_as_async_tool()` makes (a text box and a Send button).

A scripted model stands in for the LLM (the SDK's `Model` interface, no network, no API key): it asks
which service when it does not know, calls `restart_service`, then reports what the tool said.

    pip install "toasty-client[openai-agents]"
    hatch run server                                                             # terminal 1
    hatch run python examples/agents/openai_agents_approval.py --service db-1     # terminal 2
    hatch run toasty answer <id> allow    # or: <id> deny --input reason="not during the sale"

The hub is --address, else TOASTY_ADDRESS, else localhost:50053. Exit code: 0 restarted, 1 not allowed
(denied, dismissed, withdrawn), 2 nobody answered in time, 3 Toasty could not ask.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Mapping
from typing import cast

from agents import (
    Agent,
    FunctionTool,
    Model,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    RunConfig,
    Runner,
    TResponseInputItem,
    Usage,
    function_tool,
)
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseStreamEvent
from agents.tool import Tool
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText
from openai.types.responses.response_prompt_param import ResponsePromptParam

import toasty_client
from toasty_client import Approval, ToastyError

RESTARTED: list[str] = []  # what the tool did, for the exit code


@function_tool(needs_approval=True)
def restart_service(service: str) -> str:
    """Restart a service on the production host.

    Args:
        service: The service's name, e.g. db-1.
    """
    RESTARTED.append(service)  # a real agent would restart it here
    return f"restarted {service}"


class ScriptedModel(Model):
    """Stands in for the LLM: decides from the conversation so far what a model would do next."""

    def __init__(self, service: str | None) -> None:
        self.service = service

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        items = [cast(Mapping[str, object], item) for item in ([] if isinstance(input, str) else input)]
        outputs = {  # tool call id -> what the tool (or the person's rejection) said
            str(item["call_id"]): str(item["output"]) for item in items if item.get("type") == "function_call_output"
        }
        if self.service is None and "ask-1" not in outputs:
            return _call("ask-1", "ask_human", {"question": "Which service should I restart?"})
        service = self.service or outputs["ask-1"]
        if "restart-1" not in outputs:
            return _call("restart-1", "restart_service", {"service": service})
        return _say(f"restart_service({service!r}): {outputs['restart-1']}")

    def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        raise NotImplementedError("this example runs the agent without streaming")


def _call(call_id: str, tool: str, arguments: dict[str, str]) -> ModelResponse:
    call = ResponseFunctionToolCall(
        type="function_call", id=f"fc-{call_id}", call_id=call_id, name=tool, arguments=json.dumps(arguments)
    )
    return ModelResponse(output=[call], usage=Usage(), response_id=None)


def _say(text: str) -> ModelResponse:
    message = ResponseOutputMessage(
        type="message",
        id="msg-1",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )
    return ModelResponse(output=[message], usage=Usage(), response_id=None)


async def run(
    service: str | None, answer_within: float, address: str | None, agent_id: str
) -> tuple[str, list[Approval]]:
    ask_human: FunctionTool = function_tool(
        toasty_client.human_as_async_tool(timeout=answer_within, address=address, agent_id=agent_id)
    )
    agent = Agent(
        name="ops",
        instructions="Restart the service the user names; ask the person when you do not know which.",
        tools=[ask_human, restart_service],
        model=ScriptedModel(service),
    )
    config = RunConfig(tracing_disabled=True)  # nothing leaves this machine
    result = await Runner.run(agent, "Restart the service, please.", run_config=config)
    decisions: list[Approval] = []
    while result.interruptions:  # the run stopped before a needs_approval tool: ask the person
        state = result.to_state()
        for item in result.interruptions:
            print(f"interrupted: {item.name}({item.arguments}) needs approval", flush=True)
            approval = await toasty_client.ask_approval_async(
                f"Allow {item.name}?",
                f"{item.name}({item.arguments}), called by the agent {agent.name!r}",
                timeout=answer_within,
                address=address,
                agent_id=agent_id,
            )
            print(f"the person's decision: {approval.outcome}" + (f" ({approval.reason})" if approval.reason else ""))
            decisions.append(approval)
            if approval.allowed:
                state.approve(item)
            else:
                why = f": {approval.reason}" if approval.reason else ""
                state.reject(item, rejection_message=f"Not run: the person's answer was {approval.outcome}{why}")
        result = await Runner.run(agent, state, run_config=config)  # resumes where it stopped
    return str(result.final_output), decisions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", help="the service to restart (default: the agent asks the person)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds the person has to answer")
    parser.add_argument("--address", help="the hub (default: TOASTY_ADDRESS, else localhost:50053)")
    parser.add_argument("--agent-id", default="openai-ops", help="who asks, as the person sees it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("toasty_client").setLevel(logging.INFO)  # shows the questions' ids
    try:
        final, decisions = asyncio.run(run(args.service, args.timeout, args.address, args.agent_id))
    except ToastyError as exc:  # ServerUnavailable: no hub at the address; nothing was restarted
        print(f"not restarted: {exc}", file=sys.stderr)
        return 3
    print(f"the agent's last word: {final}")
    print(f"restarted: {', '.join(RESTARTED) or 'nothing'}")
    if RESTARTED:
        return 0
    return 2 if any(d.outcome == "timed_out" for d in decisions) else 1


if __name__ == "__main__":
    raise SystemExit(main())
