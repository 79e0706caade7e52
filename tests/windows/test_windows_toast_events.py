"""In-place progress, the user's answers coming back from WinRT's threads, withdrawal and fallback."""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from toasty_server.config import load_settings
from toasty_server.render.backend import BackendUnavailable, Interaction, InteractionKind
from toasty_server.render.console import ConsoleBackend
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.spec import (
    ButtonSpec,
    ChoiceSpec,
    Kind,
    ProgressSpec,
    ProgressState,
    SelectionSpec,
    TextInputSpec,
    ToastSpec,
)
from toasty_server.render.windows import WindowsBackend, create_backend

ASK = ToastSpec(
    "n1",
    "agent",
    Kind.INTERACTIVE,
    "Deploy?",
    buttons=(ButtonSpec("approve", "Approve"), ButtonSpec("reject", "Reject")),
    text_inputs=(TextInputSpec("reason", "Reason"),),
    selections=(SelectionSpec("env", "Env", (ChoiceSpec("prod", "prod"), ChoiceSpec("stg", "staging")), "stg"),),
)


def progress(
    notification_id: str, value: float, *, key: str = "build", publisher: str = "agent", **kw: Any
) -> ToastSpec:
    return ToastSpec(notification_id, publisher, Kind.PROGRESS, "Building", progress=ProgressSpec(key, value, **kw))


def from_windows_thread(fire: Callable[[], None]) -> None:
    """Raise a WinRT event the way Windows does: on a thread that is not the event loop's."""
    thread = threading.Thread(target=fire, name="winrt-event")
    thread.start()
    thread.join()


async def settle() -> None:
    """Let callbacks scheduled with call_soon_threadsafe run."""
    for _ in range(3):
        await asyncio.sleep(0)


# --- progress in place -------------------------------------------------------------------------------


async def test_progress_with_the_same_key_updates_in_place(backend: WindowsBackend, notifier: Any) -> None:
    await backend.show(progress("n1", 0.25, status="compiling"))
    await backend.show(progress("n2", 0.5, status="linking", value_override="2/4"))
    assert len(notifier.shown) == 1  # no second toast
    [update] = notifier.updates
    toast = notifier.shown[0]
    assert (update.tag, update.group) == (toast.tag, toast.group)
    assert update.result.name == "SUCCEEDED"
    assert update.values == {
        "text1": "Building",
        "status": "linking",
        "progress": "0.5",
        "progress_override": "2/4",
        "caption": "",
    }
    assert update.sequence_number == 2
    assert 'status="linking" value="0.5" valueStringOverride="2/4"' in toast.rendered_xml


@pytest.mark.parametrize(
    ("state", "status", "value"),
    [(ProgressState.SUCCEEDED, "Succeeded: all green", "1.0"), (ProgressState.FAILED, "Failed: all green", "0.5")],
)
async def test_final_state_updates_the_status(
    backend: WindowsBackend, notifier: Any, state: ProgressState, status: str, value: str
) -> None:
    await backend.show(progress("n1", 0.2))
    await backend.show(progress("n2", 0.5, status="all green", state=state))
    assert len(notifier.shown) == 1
    assert notifier.updates[-1].values["status"] == status
    assert notifier.updates[-1].values["progress"] == value


async def test_other_key_or_publisher_is_another_toast(backend: WindowsBackend, notifier: Any) -> None:
    await backend.show(progress("n1", 0.1))
    await backend.show(progress("n2", 0.1, key="tests"))
    await backend.show(progress("n3", 0.1, publisher="other-agent"))
    assert len(notifier.shown) == 3
    assert len({t.tag for t in notifier.shown}) == 3
    assert notifier.updates == []


async def test_progress_toast_gone_from_windows_is_shown_again(
    backend: WindowsBackend, notifier: Any, fake: ModuleType
) -> None:
    await backend.show(progress("n1", 0.1))
    tag = notifier.shown[0].tag
    fake.ToastNotificationManager.history.clear_with_id(backend.aumid)  # e.g. the user cleared the Action Center
    await backend.show(progress("n2", 0.6))
    assert notifier.updates[-1].result.name == "NOTIFICATION_NOT_FOUND"
    assert len(notifier.shown) == 2
    assert notifier.shown[1].tag == tag
    assert notifier.shown[1].data.values["progress"] == "0.6"


async def test_every_winrt_call_runs_off_the_event_loop(backend: WindowsBackend, notifier: Any) -> None:
    await backend.show(progress("n1", 0.1))
    await backend.show(progress("n2", 0.2))
    await backend.show(ASK)
    assert notifier.threads
    assert all(name.startswith("toasty-winrt") for name in notifier.threads)
    assert threading.current_thread().name not in notifier.threads


# --- answers -----------------------------------------------------------------------------------------


async def test_button_with_inputs_reaches_the_sink_on_the_loop_thread(
    backend: WindowsBackend, notifier: Any, sink: Any
) -> None:
    await backend.show(ASK)
    toast = notifier.shown[0]
    inputs = {"reason": "tests are green", "env": "prod"}
    from_windows_thread(lambda: toast.fire_activated("toasty:n1:approve", inputs))
    interaction = await sink.next()
    assert interaction == Interaction("n1", InteractionKind.BUTTON, "windows", "approve", inputs)
    assert sink.threads == [threading.get_ident()]


async def test_body_click_is_activated(backend: WindowsBackend, notifier: Any, sink: Any) -> None:
    await backend.show(ASK)
    toast = notifier.shown[0]
    from_windows_thread(lambda: toast.fire_activated(toast.tag, {"reason": "", "env": "stg"}))
    assert await sink.next() == Interaction(
        "n1", InteractionKind.ACTIVATED, "windows", inputs={"reason": "", "env": "stg"}
    )


async def test_exactly_one_outcome_per_notification(backend: WindowsBackend, notifier: Any, sink: Any) -> None:
    await backend.show(ASK)
    toast = notifier.shown[0]
    from_windows_thread(lambda: toast.fire_activated("toasty:n1:reject"))
    from_windows_thread(lambda: toast.fire_activated("toasty:n1:approve"))
    from_windows_thread(lambda: toast.fire_dismissed(_reason("TIMED_OUT")))
    await sink.next()
    await settle()
    assert [(i.kind, i.button_id) for i in sink.received] == [(InteractionKind.BUTTON, "reject")]


def _reason(name: str) -> Any:
    from winrt.windows.ui.notifications import ToastDismissalReason

    return ToastDismissalReason[name]


@pytest.mark.parametrize(
    ("reason", "kind"), [("USER_CANCELED", InteractionKind.DISMISSED), ("TIMED_OUT", InteractionKind.TIMED_OUT)]
)
async def test_dismissal(backend: WindowsBackend, notifier: Any, sink: Any, reason: str, kind: InteractionKind) -> None:
    await backend.show(ASK)
    toast = notifier.shown[0]
    from_windows_thread(lambda: toast.fire_dismissed(_reason(reason)))
    assert await sink.next() == Interaction("n1", kind, "windows")


async def test_hidden_by_the_application_is_no_answer(backend: WindowsBackend, notifier: Any, sink: Any) -> None:
    await backend.show(ASK)
    toast = notifier.shown[0]
    from_windows_thread(lambda: toast.fire_dismissed(_reason("APPLICATION_HIDDEN")))
    from_windows_thread(lambda: toast.fire_activated("toasty:n1:approve"))
    await settle()
    assert sink.received == []


async def test_failure(backend: WindowsBackend, notifier: Any, sink: Any) -> None:
    await backend.show(ASK)
    toast = notifier.shown[0]
    from_windows_thread(lambda: toast.fire_failed(-2143420143))
    assert await sink.next() == Interaction("n1", InteractionKind.FAILED, "windows", detail="0x803E0111")


async def test_progress_answer_goes_to_the_latest_notification(
    backend: WindowsBackend, notifier: Any, sink: Any
) -> None:
    await backend.show(progress("n1", 0.1))
    await backend.show(progress("n2", 0.2))
    toast = notifier.shown[0]
    from_windows_thread(lambda: toast.fire_activated(toast.tag))
    assert await sink.next() == Interaction("n2", InteractionKind.ACTIVATED, "windows")
    await backend.show(progress("n3", 0.3))  # still updated in place after the click
    assert len(notifier.shown) == 1
    from_windows_thread(lambda: toast.fire_dismissed(_reason("TIMED_OUT")))
    assert await sink.next() == Interaction("n3", InteractionKind.TIMED_OUT, "windows")


async def test_withdraw_removes_the_toast(backend: WindowsBackend, notifier: Any, sink: Any, fake: ModuleType) -> None:
    await backend.show(ASK)
    toast = notifier.shown[0]
    await backend.withdraw("n1")
    history = fake.ToastNotificationManager.history
    assert history.removed == [(toast.tag, "toasty", backend.aumid)]
    assert history.active[backend.aumid] == []
    from_windows_thread(lambda: toast.fire_activated("toasty:n1:approve"))
    await settle()
    assert sink.received == []
    await backend.withdraw("unknown")  # nothing to do, no error


async def test_events_after_close_are_dropped(backend: WindowsBackend, notifier: Any, sink: Any) -> None:
    await backend.show(ASK)
    toast = notifier.shown[0]
    await backend.close()
    from_windows_thread(lambda: toast.fire_activated("toasty:n1:approve"))
    await settle()
    assert sink.received == []


# --- availability and fallback -----------------------------------------------------------------------


async def test_unavailable_when_windows_toasts_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "windows_toasts", None)  # as if winrt were missing (not Windows)
    backend = create_backend(load_settings(aumid="Some.Aumid"))
    with pytest.raises(BackendUnavailable, match="windows-toasts"):
        await backend.start(lambda i: None)
    stream = io.StringIO()
    renderer = Renderer([backend, ConsoleBackend(stream)])
    await renderer.start()
    assert renderer.backend_names == ["console"]
    await renderer.close()


async def test_dispatcher_falls_back_to_console_when_windows_raises(notifier: Any) -> None:
    stream = io.StringIO()
    renderer = Renderer([WindowsBackend(notifier.app_id), ConsoleBackend(stream)])
    await renderer.start()
    try:
        notifier.show_error = OSError("Element not found")
        receipt = await renderer.show(ASK)
        assert (receipt.shown, receipt.backend) == (True, "console")
        assert "OSError('Element not found')" in receipt.error
        assert renderer.failed["windows"] == 1
        assert "Deploy?" in stream.getvalue()
        receipt = await renderer.show(ToastSpec("n2", "a", Kind.TEXT, "next"))  # windows works again
        assert receipt.backend == "windows"
        assert notifier.shown[-1].tag == "toasty:n2"
    finally:
        await renderer.close()
