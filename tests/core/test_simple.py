"""`toasty_client.notify()` and `ask()`: one line from synchronous code, a running event loop or not.

The functions block, so the async tests (which run the server on their own loop) call them from a worker
thread. `server` (tests/conftest.py) is a real server from `toasty_server.testing.running_server()`.
The clients here act as the person (tests/conftest.py sets TOASTY_TOKEN to the person secret).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

import toasty_client
from toasty_client import ResilientNotificationClient, ServerUnavailable, ToastyError
from toasty_client.simple import _button_ids
from toasty_proto import v1
from toasty_server.app import ToastyServer
from toasty_server.render.backend import InteractionSink
from toasty_server.render.spec import ToastSpec
from toasty_server.store import Ask
from toasty_server.testing import running_server

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once


async def first_notification(server: ToastyServer, client_id: str) -> v1.Notification:
    """The first notification `client_id` receives, replaying the log from its beginning."""
    async with ResilientNotificationClient(server.address, agent_id=client_id) as client:
        async with asyncio.timeout(10):
            async for delivery in client.subscribe(client_id, from_beginning=True):
                if delivery.notification is not None:
                    return delivery.notification
    raise AssertionError("the subscription ended")


async def open_question(server: ToastyServer) -> Ask:
    """The one question waiting for an answer, once the ask() in a worker thread has published it."""
    deadline = time.monotonic() + 10
    while not (pending := server.broker.asks.pending()):
        assert time.monotonic() < deadline, "ask() published no question within 10 s"
        await asyncio.sleep(0.02)
    assert len(pending) == 1
    return pending[0]


async def test_notify_returns_the_id_and_the_toast_reaches_subscribers(server: ToastyServer) -> None:
    notification_id = await asyncio.to_thread(
        toasty_client.notify,
        "Backup done",
        body="2 GB\nin 4 minutes",
        urgency="warning",
        address=server.address,
        agent_id="backup-script",
    )
    assert notification_id
    received = await first_notification(server, "watcher")
    assert received.id == notification_id
    assert received.urgency == v1.UrgencyLevel.WARNING
    assert received.text_message is not None
    assert received.text_message.header is not None
    assert received.text_message.header.title == "Backup done"
    assert (received.text_message.body_text_line1, received.text_message.body_text_line2) == ("2 GB", "in 4 minutes")


async def test_notify_takes_the_address_from_the_environment(
    server: ToastyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOASTY_ADDRESS", server.address)
    notification_id = await asyncio.to_thread(toasty_client.notify, "From the environment")
    assert (await first_notification(server, "watcher")).id == notification_id


async def test_ask_returns_the_label_the_person_chose(server: ToastyServer) -> None:
    asking = asyncio.create_task(
        asyncio.to_thread(toasty_client.ask, "Deploy?", ["Yes", "No"], address=server.address, agent_id="deployer")
    )
    question = await open_question(server)
    assert question.button_ids == ("yes", "no")
    async with ResilientNotificationClient(server.address, agent_id="person") as person:
        assert await person.answer(question.notification_id, "no")
    async with asyncio.timeout(10):
        assert await asking == "No"


async def test_ask_makes_valid_unique_button_ids_from_any_label(server: ToastyServer) -> None:
    labels = ["Déployer maintenant", "✓", "Roll back!", "Déployer maintenant"]
    asking = asyncio.create_task(
        asyncio.to_thread(toasty_client.ask, "Now?", labels, body="v1.2\nto prod", address=server.address)
    )
    question = await open_question(server)
    assert question.button_ids == ("deployer-maintenant", "choice-2", "roll-back", "choice-4")
    async with ResilientNotificationClient(server.address, agent_id="person") as person:
        assert await person.answer(question.notification_id, "choice-2")
    async with asyncio.timeout(10):
        assert await asking == "✓"


def test_button_ids_avoid_each_other_when_a_label_looks_like_a_fallback() -> None:
    assert _button_ids(["Choice 2", "?", "a b", "A_B", "-x-", "ok.", "a" * 200]) == [
        "choice-2",
        "choice-3",
        "a-b",
        "a_b",
        "x",
        "ok",
        "a" * 128,
    ]


async def test_ask_returns_none_when_the_person_dismisses_it(server: ToastyServer) -> None:
    asking = asyncio.create_task(asyncio.to_thread(toasty_client.ask, "Deploy?", address=server.address))
    question = await open_question(server)
    async with ResilientNotificationClient(server.address, agent_id="person") as person:
        assert await person.answer(question.notification_id, dismiss=True)
    async with asyncio.timeout(10):
        assert await asking is None


async def test_ask_returns_none_when_nobody_answers_in_time(server: ToastyServer) -> None:
    started = time.monotonic()
    answer = await asyncio.to_thread(toasty_client.ask, "Deploy?", timeout=1, address=server.address)
    assert answer is None
    assert time.monotonic() - started < 10
    assert not server.broker.asks.pending()  # the server timed it out (and took the toast down)


async def test_notify_and_ask_work_while_an_event_loop_runs_in_the_calling_thread(server: ToastyServer) -> None:
    """Jupyter's case: sync calls made from inside a running loop, in the same thread."""

    async def cell() -> tuple[str, str | None]:
        asyncio.get_running_loop()  # a loop runs here, as in a notebook cell
        notification_id = toasty_client.notify("From a notebook", address=server.address)
        return notification_id, toasty_client.ask("Still there?", timeout=1, address=server.address)

    notification_id, answer = await asyncio.to_thread(asyncio.run, cell())
    assert (await first_notification(server, "watcher")).id == notification_id
    assert answer is None


class BrokenDesktop:
    """A desktop backend that cannot show anything."""

    name = "broken"
    available = True

    async def start(self, sink: InteractionSink) -> None:
        return None

    async def show(self, toast: ToastSpec) -> None:
        raise RuntimeError("no display")

    async def withdraw(self, notification_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_ask_raises_when_no_desktop_could_show_the_question() -> None:
    async with running_server(backends=[BrokenDesktop()]) as server:
        with pytest.raises(ToastyError, match="could not be shown"):
            await asyncio.to_thread(
                toasty_client.ask, "Deploy?", timeout=30, address=server.address, agent_id="deployer"
            )


def test_notify_to_an_unreachable_server_raises_promptly_naming_the_address() -> None:
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match=UNREACHABLE) as raised:
        toasty_client.notify("Backup done", address=UNREACHABLE, timeout=10)
    assert time.monotonic() - started < 10
    assert "\n" not in str(raised.value)


def test_ask_to_an_unreachable_server_raises_promptly_naming_the_address() -> None:
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match=UNREACHABLE):
        toasty_client.ask("Deploy?", address=UNREACHABLE, timeout=10)
    assert time.monotonic() - started < 10


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A port that accepts connections and never says a word (a hung server, a black hole)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_notify_to_a_silent_server_gives_up_after_its_timeout(silent_port: str) -> None:
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match=silent_port):
        toasty_client.notify("Backup done", address=silent_port, timeout=1.5)
    assert time.monotonic() - started < 4  # about the timeout: closing the connection adds no wait


def test_arguments_are_checked_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="urgency 'urgent'"):
        toasty_client.notify("Backup done", urgency="urgent", address=UNREACHABLE)
    with pytest.raises(TypeError, match="list of labels"):
        toasty_client.ask("Deploy?", choices="Yes", address=UNREACHABLE)
    with pytest.raises(ValueError, match="timeout"):
        toasty_client.ask("Deploy?", timeout=0, address=UNREACHABLE)
    with pytest.raises(ValueError, match="timeout"):
        toasty_client.notify("Backup done", timeout=float("inf"), address=UNREACHABLE)


def test_a_failure_carries_no_unrelated_event_loop_error() -> None:
    """The sync helpers run their coroutine outside the `except RuntimeError` that finds no loop: a
    failure's traceback says what failed, not also "no running event loop"."""
    with pytest.raises(ServerUnavailable) as raised:
        toasty_client.notify("x", address=f"127.0.0.1:{_closed_port()}", timeout=2)
    chain = []
    error: BaseException | None = raised.value
    while error is not None:
        chain.append(error)
        error = error.__context__
    assert not any("no running event loop" in str(e) for e in chain), chain


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
