"""LangGraph: a graph that pauses on `interrupt()` until a person, asked through Toasty, decides.

A scripted planner stands in for the model (no LLM, no API key) and proposes restarting a service. The
`review` node calls `interrupt()` with the proposal: the graph stops there, its state saved by the
in-memory checkpointer under this run's thread id. This script asks the person through Toasty (Allow /
Deny, with a reason box) and resumes the same thread with `Command(resume=decision)`; the `act` node then
restarts the service (pretend) or reports the refusal, with the person's reason.

    pip install "toasty-client[langgraph]"
    hatch run server                                                         # terminal 1
    hatch run python examples/agents/langgraph_approval.py --service db-1     # terminal 2
    hatch run toasty answer <id> allow    # or: <id> deny --input reason="not during the sale"

The hub is --address, else TOASTY_ADDRESS, else localhost:50053. Exit code: 0 restarted, 1 not allowed
(denied, dismissed, withdrawn), 2 nobody answered in time, 3 Toasty could not ask.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt

import toasty_client
from toasty_client import ToastyError


class State(TypedDict, total=False):
    request: str  # what the user asked the agent
    proposal: dict[str, str]  # the tool call the "model" wants to make
    decision: dict[str, str]  # the person's: outcome ("allowed", "denied", ...) and reason
    result: str  # what the agent did


def plan(state: State) -> State:
    """The scripted model: "restart db-1" becomes a proposed call of restart_service."""
    service = state["request"].split()[-1]
    return {"proposal": {"tool": "restart_service", "service": service}}


def review(state: State) -> State:
    """Pause for the person: interrupt() stops the graph here; on resume it returns the decision."""
    proposal = state["proposal"]
    decision = interrupt(
        {
            "title": f"Allow {proposal['tool']}?",
            "details": f"{proposal['tool']}(service={proposal['service']!r}), proposed by the agent",
        }
    )
    return {"decision": decision}


def act(state: State) -> State:
    service, decision = state["proposal"]["service"], state["decision"]
    if decision["outcome"] == "allowed":
        return {"result": f"restarted {service}"}  # a real agent would call the service here
    why = f": {decision['reason']}" if decision.get("reason") else ""
    return {"result": f"did not restart {service} ({decision['outcome']}{why})"}


def build() -> CompiledStateGraph[State, None, State, State]:
    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_node("review", review)
    graph.add_node("act", act)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "review")
    graph.add_edge("review", "act")
    graph.add_edge("act", END)
    return graph.compile(checkpointer=InMemorySaver())  # keeps the paused run between the two invokes


def run(service: str, timeout: float, address: str | None, agent_id: str) -> State:
    app = build()
    config: RunnableConfig = {"configurable": {"thread_id": f"restart-{uuid.uuid4().hex[:8]}"}}
    out = app.invoke({"request": f"restart {service}"}, config, version="v2")
    while out.interrupts:  # paused in `review`: ask the person, then resume the same thread
        [pause] = out.interrupts
        asked: dict[str, Any] = pause.value
        print(f"paused before {app.get_state(config).next}: asking the person {asked['title']!r}", flush=True)
        approval = toasty_client.ask_approval(
            asked["title"], asked["details"], timeout=timeout, address=address, agent_id=agent_id
        )
        print(f"the person's decision: {approval.outcome}" + (f" ({approval.reason})" if approval.reason else ""))
        decision = {"outcome": approval.outcome, "reason": approval.reason}
        out = app.invoke(Command(resume=decision), config, version="v2")
    return out.value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", default="db-1", help="the service the agent wants to restart")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds the person has to answer")
    parser.add_argument("--address", help="the hub (default: TOASTY_ADDRESS, else localhost:50053)")
    parser.add_argument("--agent-id", default="langgraph-ops", help="who asks, as the person sees it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("toasty_client").setLevel(logging.INFO)  # shows the question's id
    try:
        final = run(args.service, args.timeout, args.address, args.agent_id)
    except ToastyError as exc:  # ServerUnavailable: no hub at the address; nothing was restarted
        print(f"not restarted: {exc}", file=sys.stderr)
        return 3
    print(f"the graph finished: {final['result']}")
    outcome = final["decision"]["outcome"]
    return 0 if outcome == "allowed" else 2 if outcome == "timed_out" else 1


if __name__ == "__main__":
    raise SystemExit(main())
