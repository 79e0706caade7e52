"""The toast activator's parts, in this process: the argument reading shared with the hub, what one Activate
call does, and the COM class object driven through its vtables by the fake COM (tests/fakes/winrt/com.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.winrt.com import ActivateCall, FakeOle32, call_activator
from toasty_server.render import windows_com
from toasty_server.render.windows_activation import (
    ACTIVATOR_CLSID,
    ActivationHandler,
    AnswerRefused,
    HubUnreachable,
    hub_target,
    main,
)
from toasty_server.render.windows_arguments import (
    BadActivation,
    ToastClick,
    button_arguments,
    launch_arguments,
    read_click,
)
from toasty_server.render.windows_com import E_FAIL, E_INVALIDARG, S_OK, ToastActivator

NID = "deployer~deploy-42"


# --- reading the arguments -------------------------------------------------------------------------------


def test_a_button_click_reads_back_what_the_toast_carries() -> None:
    click = read_click(button_arguments("a:b~c", "ok/1"), {"reason": "line 1\nline 2"})
    assert click == ToastClick("a:b~c", "ok/1", {"reason": "line 1\nline 2"})  # typed text stays as typed
    assert read_click(launch_arguments(NID)) == ToastClick(NID, "")


@pytest.mark.parametrize(
    ("arguments", "inputs", "reason"),
    [
        (None, {}, "no activation arguments"),
        ("", {}, "no activation arguments"),
        ("https://example.com", {}, "are not `toasty:<notification>[:<button>]`"),
        ("toasty:a:b:c", {}, "are not `toasty:"),
        ("toasty::approve", {}, "are not `toasty:"),
        ("toasty:" + "n" * 3000, {}, "3007 characters long"),
        ("toasty:evil%0A2026-01-01 INFO forged:approve", {}, "notification id 'evil\\n2026-01-01 INFO forged'"),
        ("toasty:n1:%1B%5D0%3Btitle%07", {}, "button id '\\x1b]0;title\\x07' has control"),
        ("toasty:n1:%E2%80%AEevil", {}, "button id '\\u202eevil' has control"),
        ("toasty:n1:a%20b", {}, "has control or space"),
        ("toasty:n1:ok", {f"i{n}": "" for n in range(17)}, "17 inputs"),
        ("toasty:n1:ok", {"bad\rkey": "v"}, "input id 'bad\\rkey'"),
        ("toasty:n1:ok", {"k": "v" * 20000}, "input 'k' is 20000 characters"),
    ],
)
def test_forged_arguments_are_refused_with_an_escaped_reason(
    arguments: str | None, inputs: dict[str, str], reason: str
) -> None:
    with pytest.raises(BadActivation) as refused:
        read_click(arguments, inputs)
    message = str(refused.value)
    assert reason in message
    assert message.isprintable()  # fit for one log line, whatever was sent


# --- one Activate call --------------------------------------------------------------------------------


class Hub:
    """An AnswerSender that records, or fails as told."""

    def __init__(self, result: bool | Exception = True) -> None:
        self.result = result
        self.sent: list[ToastClick] = []

    def __call__(self, click: ToastClick) -> bool:
        self.sent.append(click)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_a_button_click_is_sent_as_the_answer(caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub()
    caplog.set_level(logging.INFO, "toasty_server")
    assert ActivationHandler(hub)("App", button_arguments(NID, "approve"), {"reason": "s3cret"}) == S_OK
    assert hub.sent == [ToastClick(NID, "approve", {"reason": "s3cret"})]
    assert "answered the question" in caplog.text
    assert "s3cret" not in caplog.text  # what the person typed is never logged


def test_forged_clicks_answer_nothing_and_log_escaped(caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub()
    handler = ActivationHandler(hub)
    for arguments in ("toasty:a%0Aforged line:ok", "toasty:n:%1B[2J", "\x1b[31mnot ours\u202e"):
        assert handler("App\x1b]0;x\x07", arguments, {"k": "v"}) == S_OK
    assert hub.sent == []
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert all(m.isprintable() and "ignored" in m for m in messages), messages
    assert "'a\\nforged line'" in messages[0]


def test_a_body_click_answers_nothing(caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub()
    caplog.set_level(logging.INFO, "toasty_server")
    assert ActivationHandler(hub)("App", launch_arguments(NID), {}) == S_OK
    assert hub.sent == []
    assert "not an answer" in caplog.text


@pytest.mark.parametrize(
    ("result", "hresult", "logged"),
    [
        (False, S_OK, "already decided"),
        (AnswerRefused("INVALID_ARGUMENT: 'nope' is not a button"), S_OK, "refused"),
        (HubUnreachable("no hub answered at localhost:1"), E_FAIL, "not delivered: no hub answered"),
    ],
)
def test_what_the_hub_said_decides_the_hresult(
    result: bool | Exception, hresult: int, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "toasty_server")
    assert ActivationHandler(Hub(result))("App", button_arguments(NID, "nope"), {}) == hresult
    assert logged in caplog.text


def test_hub_target_is_where_a_client_dials(tmp_path: Path) -> None:
    from toasty_server.config import load_settings

    assert hub_target(load_settings(port=5)) == "localhost:5"
    assert hub_target(load_settings(host="127.0.0.1", port=5)) == "127.0.0.1:5"
    assert hub_target(load_settings(host="::1", port=5)) == "[::1]:5"
    assert hub_target(load_settings(unix_socket=tmp_path / "s")) == f"unix:{tmp_path / 's'}"


# --- the COM class object, called through its vtables ----------------------------------------------------


def ole32_with(*calls: ActivateCall, clsid: str = ACTIVATOR_CLSID) -> tuple[FakeOle32, dict[str, int | str]]:
    results: dict[str, int | str] = {}
    queued = {clsid: list(calls)}
    ole32 = FakeOle32(lambda c: queued.pop(c, []), lambda call, result: results.__setitem__(call.call_id, result))
    return ole32, results


def test_com_delivers_arguments_and_inputs_through_the_vtables() -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []

    def on_activate(aumid: str, arguments: str, inputs: dict[str, str]) -> int:
        seen.append((aumid, arguments, inputs))
        return S_OK if inputs else E_FAIL

    inputs = [("reason", 'ünïcode ✓ and "quotes"'), ("env", "prod")]
    ole32, results = ole32_with(
        ActivateCall("1", "App.Id", "toasty:n1:ok", inputs),
        ActivateCall("2", "App.Id", None),  # a body click without launch arguments: NULL
    )
    served = windows_com.serve(ACTIVATOR_CLSID, on_activate, first_call_seconds=5, idle_seconds=0.05, ole32=ole32)
    assert served == 2
    assert seen == [("App.Id", "toasty:n1:ok", dict(inputs)), ("App.Id", "", {})]
    assert results == {"1": S_OK, "2": E_FAIL}
    assert list(ole32.registered.values()) == [ACTIVATOR_CLSID]
    assert ole32.revoked == [1]
    assert ole32.initialized == 0  # CoUninitialize after CoInitializeEx


def test_a_class_object_of_another_clsid_gets_nothing() -> None:
    ole32, results = ole32_with(
        ActivateCall("1", "App", "toasty:n1:ok"), clsid="{00000000-0000-0000-0000-000000000001}"
    )
    served = windows_com.serve(ACTIVATOR_CLSID, lambda *a: S_OK, first_call_seconds=0.1, idle_seconds=0.05, ole32=ole32)
    assert (served, results) == (0, {})


def test_an_exception_in_the_handler_is_a_failed_hresult_not_a_crash() -> None:
    def boom(aumid: str, arguments: str, inputs: dict[str, str]) -> int:
        raise RuntimeError("bug")

    activator = ToastActivator(ACTIVATOR_CLSID, boom)
    assert call_activator(activator.factory_pointer.value or 0, ActivateCall("1", "App", "x")) == E_FAIL
    assert activator.references == 0  # every AddRef released


def test_com_interfaces_are_answered_by_the_rules() -> None:
    """QueryInterface of an interface the objects lack, aggregation and absurd input counts are refused."""
    import ctypes

    from tests.fakes.winrt import com

    activator = ToastActivator(ACTIVATOR_CLSID, lambda *a: S_OK)
    factory = activator.factory_pointer.value or 0
    vtbl = com._vtable(factory, com._IClassFactoryVtbl)
    out = ctypes.c_void_p(1)
    unknown = com._IID.of(com.uuid.UUID("11111111-2222-3333-4444-555555555555"))
    assert vtbl.QueryInterface(factory, ctypes.byref(unknown), ctypes.byref(out)) == windows_com.E_NOINTERFACE
    assert out.value is None
    callback_iid = com._IID.of(com.IID_INOTIFICATIONACTIVATIONCALLBACK)
    outer = ctypes.c_void_p(factory)
    assert vtbl.CreateInstance(factory, outer, ctypes.byref(callback_iid), ctypes.byref(out)) == (
        windows_com.CLASS_E_NOAGGREGATION
    )
    assert vtbl.CreateInstance(factory, None, ctypes.byref(callback_iid), ctypes.byref(out)) == S_OK
    callback = com._vtable(out.value or 0, com._ICallbackVtbl)
    assert callback.Activate(out, "App", "toasty:n:ok", None, 5) == E_INVALIDARG  # 5 pairs at NULL
    callback.Release(out)
    assert activator.references == 0


# --- the process entry point ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """main() sets up the process's logging (as the process COM starts needs); give the next test its own."""
    logger = logging.getLogger("toasty_server")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def test_main_serves_the_class_and_logs_to_the_data_folder(tmp_path: Path) -> None:
    config = tmp_path / "toasty.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nport = 50099\n')
    ole32, results = ole32_with(ActivateCall("1", "App", button_arguments(NID, "approve"), [("env", "prod")]))
    hub = Hub()
    argv = ["--clsid", ACTIVATOR_CLSID.lower().strip("{}"), "--config", str(config), "-Embedding"]
    assert main(argv, ole32=ole32, send=hub, idle_seconds=0.05) == 0
    assert hub.sent == [ToastClick(NID, "approve", {"env": "prod"})]
    assert results == {"1": S_OK}
    assert "answered the question" in (tmp_path / "data" / "activation.log").read_text()


def test_main_off_windows_says_so(tmp_path: Path) -> None:
    config = tmp_path / "toasty.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    assert main(["--config", str(config), "-Embedding"], send=Hub()) == 1
    assert "a COM server needs Windows" in (tmp_path / "activation.log").read_text()


def test_main_refuses_a_bad_clsid(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--clsid", "not-a-guid\x1b"], send=Hub())
    assert "not a CLSID: not-a-guid\\x1b" in capsys.readouterr().err
