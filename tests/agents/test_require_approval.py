"""`@require_approval` against a real hub (`server`: running_server in this process, tests/conftest.py),
with the person answering from the `toasty` command or the API: the function runs on allow only, and
every other outcome raises ApprovalDenied with the person's reason, the function never run."""

from __future__ import annotations

import asyncio
import inspect
import time

import pytest

import toasty_client
from tests.agents.person import open_question, shown, toasty_answer
from toasty_client import ApprovalDenied, ResilientNotificationClient, ServerUnavailable
from toasty_client.approval import describe_call
from toasty_server.app import ToastyServer

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once


class Ledger:
    """What the guarded functions did."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []


async def test_allow_runs_the_function_and_returns_its_value(
    server: ToastyServer, person: ResilientNotificationClient
) -> None:
    ledger = Ledger()

    @toasty_client.require_approval(address=server.address, agent_id="deployer")
    def deploy(version: str, *, hosts: list[str], note: str = "") -> str:
        ledger.calls.append((version, tuple(hosts), note))
        return f"deployed {version}"

    calling = asyncio.ensure_future(asyncio.to_thread(deploy, "1.2", hosts=["web-1", "web-2"], note="x" * 500))
    question = await open_question(person, "deployer")
    toast = await shown(person, question)
    assert toast.header is not None
    assert toast.header.title == "Allow deploy?"
    assert toast.body_text_line1 == (
        "deploy(version='1.2', hosts=['web-1', 'web-2'], note='" + "x" * 59 + "… (500 characters))"
    )
    assert [(b.id, b.label) for b in toast.buttons] == [("allow", "Allow"), ("deny", "Deny")]
    assert [i.id for i in toast.text_inputs] == ["reason"]
    assert ledger.calls == []  # not before the person decided

    assert (await toasty_answer(server.address, question.notification_id, "allow")).strip() == "answered"
    assert await asyncio.wait_for(calling, 10) == "deployed 1.2"
    assert ledger.calls == [("1.2", ("web-1", "web-2"), "x" * 500)]


async def test_deny_raises_with_the_reason_typed_and_never_runs(
    server: ToastyServer, person: ResilientNotificationClient
) -> None:
    ledger = Ledger()

    @toasty_client.require_approval("Drop a table?", address=server.address, agent_id="dba")
    def drop_table(name: str) -> None:
        ledger.calls.append((name,))

    calling = asyncio.ensure_future(asyncio.to_thread(drop_table, "users"))
    question = await open_question(person, "dba")
    await toasty_answer(server.address, question.notification_id, "deny", "reason=not on a Friday")
    with pytest.raises(ApprovalDenied, match="drop_table was denied: not on a Friday") as raised:
        await asyncio.wait_for(calling, 10)
    assert raised.value.outcome == "denied"
    assert raised.value.reason == "not on a Friday"
    assert raised.value.notification_id == question.notification_id.partition("~")[2]
    assert ledger.calls == []


async def test_nobody_answering_is_timed_out_and_never_runs(server: ToastyServer) -> None:
    ledger = Ledger()

    @toasty_client.require_approval(timeout=1, address=server.address, agent_id="nightly")
    def purge() -> None:
        ledger.calls.append(())

    started = time.monotonic()
    with pytest.raises(ApprovalDenied, match="nobody answered within 1 s") as raised:
        await asyncio.to_thread(purge)
    assert raised.value.outcome == "timed_out"
    assert raised.value.reason == ""
    assert time.monotonic() - started < 10
    assert ledger.calls == []
    assert not server.broker.asks.pending()  # the server timed it out and took it down


@pytest.mark.parametrize(("how", "outcome"), [("dismiss", "dismissed"), ("withdraw", "withdrawn")])
async def test_a_question_dismissed_or_withdrawn_is_not_an_allow(
    server: ToastyServer, person: ResilientNotificationClient, how: str, outcome: str
) -> None:
    ledger = Ledger()

    @toasty_client.require_approval(address=server.address, agent_id="cleaner")
    def clean() -> None:
        ledger.calls.append(())

    calling = asyncio.ensure_future(asyncio.to_thread(clean))
    question = await open_question(person, "cleaner")
    if how == "dismiss":
        assert await person.answer(question.notification_id, dismiss=True)
    else:
        assert await person.withdraw(question.notification_id)
    with pytest.raises(ApprovalDenied, match=f"the question was {outcome}") as raised:
        await asyncio.wait_for(calling, 10)
    assert raised.value.outcome == outcome
    assert ledger.calls == []


async def test_an_async_function_awaits_the_question_on_the_callers_loop(
    server: ToastyServer, person: ResilientNotificationClient
) -> None:
    ran_on: list[asyncio.AbstractEventLoop] = []

    @toasty_client.require_approval(address=server.address, agent_id="async-agent")
    async def rotate(key: str) -> str:
        ran_on.append(asyncio.get_running_loop())
        return f"rotated {key}"

    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.ensure_future(tick())
    calling = asyncio.ensure_future(rotate("api-key"))  # in this loop, with the server: nothing blocks it
    question = await open_question(person, "async-agent")
    ticks_while_waiting = ticks
    await asyncio.sleep(0.1)
    assert ticks > ticks_while_waiting  # the loop runs on while the person decides
    assert await person.answer(question.notification_id, "allow", {"reason": "scheduled"})
    assert await asyncio.wait_for(calling, 10) == "rotated api-key"
    ticker.cancel()
    assert ran_on == [asyncio.get_running_loop()]


async def test_an_async_function_can_ask_on_the_agents_own_client(
    server: ToastyServer, person: ResilientNotificationClient
) -> None:
    async with ResilientNotificationClient(server.address, agent_id="long-lived", token="") as agent:

        @toasty_client.require_approval(client=agent)
        async def restart(service: str) -> None:
            raise AssertionError("not allowed: must not run")

        calling = asyncio.ensure_future(restart("db-1"))
        question = await open_question(person, "long-lived")  # asked on the agent's client, as it
        assert await person.answer(question.notification_id, "deny", {"reason": "  db-1 is busy \n"})
        with pytest.raises(ApprovalDenied) as raised:
            await asyncio.wait_for(calling, 10)
    assert raised.value.reason == "db-1 is busy"


async def test_cancelling_an_async_call_withdraws_its_question(
    server: ToastyServer, person: ResilientNotificationClient
) -> None:
    @toasty_client.require_approval(address=server.address, agent_id="impatient")
    async def act() -> None:
        raise AssertionError("never allowed")

    calling = asyncio.ensure_future(act())
    question = await open_question(person, "impatient")
    calling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await calling
    assert not any(q.notification_id == question.notification_id for q in await person.open_questions())
    assert not await person.answer(question.notification_id, "allow")  # too late: it was withdrawn


async def test_a_sync_function_works_where_an_event_loop_runs_in_the_thread(
    server: ToastyServer, person: ResilientNotificationClient
) -> None:
    """Jupyter's case: the guarded sync function is called from a running loop, in the same thread."""

    @toasty_client.require_approval(address=server.address, agent_id="notebook")
    def train(epochs: int) -> str:
        return f"trained {epochs} epochs"

    async def cell() -> str:
        asyncio.get_running_loop()  # a loop runs here, as in a notebook cell
        return train(3)

    calling = asyncio.ensure_future(asyncio.to_thread(asyncio.run, cell()))
    question = await open_question(person, "notebook")
    await toasty_answer(server.address, question.notification_id, "allow")
    assert await asyncio.wait_for(calling, 10) == "trained 3 epochs"


async def test_an_unreachable_hub_raises_server_unavailable_and_never_runs() -> None:
    ledger = Ledger()

    @toasty_client.require_approval(address=UNREACHABLE)
    def sync_action() -> None:
        ledger.calls.append(())

    @toasty_client.require_approval(address=UNREACHABLE)
    async def async_action() -> None:
        ledger.calls.append(())

    started = time.monotonic()
    failures = await asyncio.gather(asyncio.to_thread(sync_action), async_action(), return_exceptions=True)
    assert time.monotonic() - started < 15
    for failure in failures:
        assert isinstance(failure, ServerUnavailable), failure
        assert str(failure).startswith(f"cannot reach the Toasty server at {UNREACHABLE}: "), failure
        assert "\n" not in str(failure)
    assert ledger.calls == []


async def test_a_call_that_cannot_bind_asks_nobody(server: ToastyServer) -> None:
    @toasty_client.require_approval(address=server.address)
    def resize(volume: str, size_gb: int) -> None:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="size_gb"):
        await asyncio.to_thread(resize, "vol-1")  # type: ignore[call-arg]
    assert not server.broker.asks.pending()


def test_the_signature_name_and_docstring_are_kept() -> None:
    def transfer(amount: float, to: str, *, memo: str = "") -> bool:
        """Send money."""
        return True

    async def transfer_async(amount: float, to: str) -> bool:
        return True

    for original in (transfer, transfer_async):
        guarded = toasty_client.require_approval(original)  # the bare form, without parentheses
        assert inspect.signature(guarded) == inspect.signature(original)
        assert guarded.__name__ == original.__name__
        assert guarded.__doc__ == original.__doc__
        assert inspect.iscoroutinefunction(guarded) == inspect.iscoroutinefunction(original)


def test_misuse_is_refused_when_decorating() -> None:
    def sync_fn() -> None: ...

    with pytest.raises(TypeError, match="for async functions"):
        toasty_client.require_approval(client=ResilientNotificationClient("127.0.0.1:1"))(sync_fn)
    with pytest.raises(ValueError, match="timeout"):
        toasty_client.require_approval(timeout=0)
    with pytest.raises(ValueError, match="title"):
        toasty_client.require_approval("   ")


def test_the_summary_shortens_visibly_and_shows_nothing_raw() -> None:
    class Repo:
        def push(self, *refs: str, force: bool = False, **options: object) -> None: ...

    summary = describe_call(
        Repo.push,
        (Repo(), "main", "\x1b]0;pwned\x07"),
        {"force": True, "blob": b"\x00" * 1000, "items": list(range(100)), "rtl": "a\u202eb"},
    )
    assert summary == (
        "Repo.push('main', '\\x1b]0;pwned\\x07', force=True, blob=b'" + "\\x00" * 14 + "\\x… (1,000 bytes), "
        "items=[0, 1, 2, 3, 4, …] (100 items), rtl='a\\u202eb')"
    )
    many = describe_call(lambda *values: None, tuple("v" * 50 + str(i) for i in range(40)), {})
    assert many.endswith("more arguments)")
    assert len(many) <= 400
    assert many.startswith("<lambda>('" + "v" * 50 + "0', ")
