"""An answer recorded at the very moment an agent starts to await it still reaches the agent.

Found by the cross-transport tests (an HTTP answer racing a gRPC AwaitInteraction): the await checked
for an outcome, then started its wait as a task one loop turn later; an outcome settled in that turn
never woke it, and the agent waited out its whole slice."""

from __future__ import annotations

import asyncio

from toasty_server.broker.asks import AskRegistry
from toasty_server.store import Ask


async def test_an_outcome_settled_before_the_wait_task_runs_is_returned() -> None:
    registry = AskRegistry()
    registry.add(Ask("q", "agent"))
    waiting = asyncio.ensure_future(asyncio.wait_for(registry.wait("q"), 2))  # starts on the next loop turn
    registry.settle("q", b"outcome")
    assert await asyncio.wait_for(waiting, 1) == b"outcome"
