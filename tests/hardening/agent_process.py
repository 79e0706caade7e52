"""A real agent process for the access model's tests: `python -m tests.hardening.agent_process CMD ...`.

Each command prints JSON lines on stdout, so a test can drive two agents that share nothing but the hub.
The process sends no credential unless TOASTY_TOKEN is set in its environment.

    ask ADDRESS AGENT TITLE     publish a question, print {"id"}, then wait and print the answer
    snoop ADDRESS AGENT ID      try to read, answer and withdraw ID as AGENT; print each call's outcome,
                                then what a subscription as AGENT receives about ID within two seconds
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys

from toasty_client import Button, InteractiveNotification, ResilientNotificationClient, RetryPolicy, ToastyError

QUICK = RetryPolicy(initial_backoff=0.05, max_backoff=0.5, jitter=0.05, publish_attempts=2)


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def ask(address: str, agent: str, title: str) -> None:
    async with ResilientNotificationClient(address, agent_id=agent, retry=QUICK) as client:
        question = InteractiveNotification(title=title, buttons=[Button(id="yes", label="Yes")])
        published = await client.publish(question.to_proto())
        say(id=published.notification_id, has_answer_key=bool(published.answer_key))
        answer = await client.wait_for_answer(published.notification_id, timeout=60)
        say(**{**dataclasses.asdict(answer), "outcome": answer.outcome.value})


async def outcome_of(call: asyncio.Future[object] | object) -> str:
    try:
        await call  # type: ignore[misc]
    except ToastyError as exc:
        return type(exc).__name__
    return "ok"


async def snoop(address: str, agent: str, notification_id: str) -> None:
    async with ResilientNotificationClient(address, agent_id=agent, retry=QUICK) as client:
        say(call="await", outcome=await outcome_of(client.wait_for_answer(notification_id, timeout=2)))
        say(call="answer", outcome=await outcome_of(client.answer(notification_id, "yes")))
        say(call="withdraw", outcome=await outcome_of(client.withdraw(notification_id)))
        seen: list[str] = []

        async def read() -> None:
            async for delivery in client.subscribe(from_beginning=True):
                if delivery.interaction is not None and delivery.interaction.notification_id == notification_id:
                    seen.append(delivery.interaction.button_id or delivery.interaction.kind.name)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(read(), 2)
        say(call="subscribe", interactions=seen)


def main() -> int:
    command, *args = sys.argv[1:]
    if command == "ask":
        asyncio.run(ask(*args))
    elif command == "snoop":
        asyncio.run(snoop(*args))
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
