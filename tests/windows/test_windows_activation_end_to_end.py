"""A toast clicked after the hub that showed it restarted still answers the question (issue 17).

Everything runs as processes, as on a desktop: `register-aumid` writes the registration into the fake
Windows' registry; a hub process (Windows backend, windows-toasts over the fake WinRT) shows the question's
toast into the fake Action Center; the hub is killed and started again, so no process holds the toast's
Activated event; then the person clicks a button after typing into the inputs, and the fake Windows does
what Windows does: CustomActivator → CLSID → LocalServer32, starts that command line with `-Embedding`, and
calls Activate on the class object it registers (tests/fakes/winrt/shell.py). The asker, waiting across
the restart, gets the button and the typed text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.process import ServerProcess, free_port
from tests.fakes.winrt.shell import REGDB_E_CLASSNOTREG, S_OK, FakeWindows
from tests.interactions.test_ask import DEPLOY
from toasty_client import ResilientNotificationClient, RetryPolicy
from toasty_server import aumid
from toasty_server.render.windows_activation import activator_clsid

AUMID = "Restart.Toasty"
RETRY = RetryPolicy(initial_backoff=0.05, max_backoff=0.5, jitter=0.1)


class WindowsHub(ServerProcess):
    """`toasty-server` with the Windows backend, its WinRT the fake one (showing into `windows`)."""

    renderer = "windows"


@pytest.fixture
def windows(tmp_path: Path) -> Iterator[FakeWindows]:
    fake = FakeWindows(tmp_path / "windows")
    yield fake
    fake.close()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def config(tmp_path: Path, port: int) -> Path:
    """The hub's settings file, which the registration passes on to the activator."""
    path = tmp_path / "toasty.toml"
    path.write_text(f'host = "127.0.0.1"\nport = {port}\ndata_dir = "{tmp_path / "data"}"\n')
    return path


@pytest.fixture
def hub(tmp_path: Path, windows: FakeWindows, config: Path, port: int) -> Iterator[WindowsHub]:
    env = {**windows.env_for_toasts(), "TOASTY_AUMID": AUMID, "TOASTY_METRICS_ENABLED": "false"}
    server = WindowsHub(tmp_path / "toasty.db", port, "--config", str(config), env=env)
    server.start()
    yield server
    server.kill()


async def test_click_after_the_hub_restarted_reaches_the_asker(
    hub: WindowsHub, windows: FakeWindows, config: Path
) -> None:
    assert aumid.main(["--aumid", AUMID, "--config", str(config)], registry=windows.registry) == 0
    async with ResilientNotificationClient(hub.address, agent_id="deployer", retry=RETRY) as deployer:
        published = await deployer.publish(DEPLOY.to_proto())
        waiting = asyncio.ensure_future(deployer.wait_for_answer(published.notification_id, timeout=30))
        toast = await asyncio.to_thread(windows.wait_for_toast, AUMID)
        shown_by = hub.proc.pid if hub.proc is not None else None
        hub.kill()
        hub.start()
        assert toast.pid == shown_by != hub.proc.pid  # the process that showed it, and could hear it, is gone

        typed = {"reason": "ship it: 'v1.2' \\ \"now\"", "env": "prod"}
        activation = await asyncio.to_thread(windows.click, toast, "Approve", typed)
        assert (activation.outcome, activation.hresult) == ("activated", S_OK), activation.detail + activation.output
        answer = await asyncio.wait_for(waiting, 15)
    assert (answer.button_id, answer.inputs) == ("approve", typed)
    assert answer.backend == "terminal"  # through the Answer RPC: no in-process event could have answered
    clsid = activator_clsid(AUMID)
    assert activation.command[-6:] == ["toast-activated", "--clsid", clsid, "--config", str(config), "-Embedding"]
    assert windows.close() == [0]  # the activator exited cleanly after its call


async def test_without_registration_a_click_after_a_restart_reaches_nobody(
    hub: WindowsHub, windows: FakeWindows
) -> None:
    reg = windows.registry
    async with ResilientNotificationClient(hub.address, agent_id="deployer", retry=RETRY) as deployer:
        published = await deployer.publish(DEPLOY.to_proto())
        toast = await asyncio.to_thread(windows.wait_for_toast, AUMID)
        activation = await asyncio.to_thread(windows.click, toast, "Approve", {"env": "prod"})
        assert activation.outcome == "no activator"
        # an AUMID naming a class that was never registered (or was unregistered since)
        with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, rf"Software\Classes\AppUserModelId\{AUMID}") as key:
            reg.SetValueEx(key, "CustomActivator", 0, reg.REG_SZ, activator_clsid(AUMID))
        activation = await asyncio.to_thread(windows.click, toast, "Approve", {"env": "prod"})
        assert (activation.outcome, activation.hresult) == ("class not registered", REGDB_E_CLASSNOTREG)
        [question] = await deployer.open_questions()  # still open: nothing answered it
        assert question.notification_id == f"deployer~{published.notification_id}"


def test_forged_arguments_reach_no_hub_and_are_logged_escaped(
    windows: FakeWindows, config: Path, tmp_path: Path
) -> None:
    """Any local process may ask COM for the activator with arguments of its choosing: the activator
    answers nothing (no hub is even running here: trying would fail the call) and logs what it refused."""
    assert aumid.main(["--aumid", AUMID, "--config", str(config)], registry=windows.registry) == 0
    forged = "toasty:deployer~x%0A2026-01-01%20INFO%20forged%1B%5B2J:approve"
    activation = windows.activate(AUMID, forged, [("reason", "s3cret typed text")])
    assert (activation.outcome, activation.hresult) == ("activated", S_OK), activation.detail + activation.output
    assert windows.close() == [0]
    log = (tmp_path / "data" / "activation.log").read_text()
    assert (
        "toast activation for AUMID 'Restart.Toasty' ignored: notification id "
        "'deployer~x\\n2026-01-01 INFO forged\\x1b[2J' has control or space characters"
    ) in log
    assert "\x1b" not in log
    assert len(log.splitlines()) == 1
    assert "s3cret" not in log
