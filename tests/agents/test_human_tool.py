"""`human_as_tool()`: a function a framework turns into a tool (LangChain's `tool()` here; the OpenAI Agents
SDK's `function_tool` in tests/agents/test_agent_examples.py), asking a real hub's person."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from langchain_core.tools import tool

import toasty_client
from tests.agents.person import open_question, shown
from toasty_client import ResilientNotificationClient
from toasty_server.app import ToastyServer


def test_it_is_a_plain_function_a_framework_can_describe() -> None:
    for make in (toasty_client.human_as_tool, toasty_client.human_as_async_tool):
        ask = make()
        assert ask.__name__ == "ask_human"
        assert str(inspect.signature(ask)) == "(question: str) -> str"
        assert ask.__doc__ is not None
        assert "question: The question, as the person should read it." in ask.__doc__
    assert not inspect.iscoroutinefunction(toasty_client.human_as_tool())
    assert inspect.iscoroutinefunction(toasty_client.human_as_async_tool())
    assert toasty_client.human_as_tool(name="ask_the_oncall").__name__ == "ask_the_oncall"
    with pytest.raises(ValueError, match="identifier"):
        toasty_client.human_as_tool(name="ask the oncall")


async def test_langchain_builds_the_tool_and_the_person_answers_it(
    server: ToastyServer, person: ResilientNotificationClient
) -> None:
    ask = tool(toasty_client.human_as_tool(address=server.address, agent_id="researcher"))
    assert ask.name == "ask_human"
    assert ask.description.startswith("Ask the person you work for a question")
    assert ask.args == {"question": {"title": "Question", "type": "string"}}

    asking = asyncio.ensure_future(asyncio.to_thread(ask.invoke, {"question": "Which region, eu or us?"}))
    question = await open_question(person, "researcher")
    toast = await shown(person, question)
    assert toast.header is not None
    assert toast.header.title == "Which region, eu or us?"
    assert [b.id for b in toast.buttons] == ["send"]
    assert [i.id for i in toast.text_inputs] == ["answer"]
    assert await person.answer(question.notification_id, "send", {"answer": " eu, please "})
    assert await asyncio.wait_for(asking, 10) == "eu, please"


async def test_no_answer_comes_back_as_a_sentence_the_model_can_read(
    server: ToastyServer, person: ResilientNotificationClient
) -> None:
    ask = toasty_client.human_as_async_tool(address=server.address, agent_id="agent", timeout=1)
    assert await ask("Still there?") == "The person did not answer within 1 s."

    asking = asyncio.ensure_future(ask("Anyone?"))
    question = await open_question(person, "agent")
    assert await person.answer(question.notification_id, dismiss=True)
    assert await asyncio.wait_for(asking, 10) == "The person dismissed the question without answering."
