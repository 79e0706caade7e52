"""`toasty-server register-aumid` / `unregister-aumid`: the registry writes (through an injected winreg, the
fake registry the fake Windows reads too) and the clear refusals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.fakes.winrt.registry import FakeRegistry
from tests.fakes.winrt.shell import split_command_line
from toasty_server import aumid, cli
from toasty_server.render.windows_activation import ACTIVATOR_CLSID, activator_clsid, activator_command

DEFAULT = "SAM.Toasty.NotificationService"
KEY = rf"Software\Classes\AppUserModelId\{DEFAULT}"
CLASS_KEY = rf"Software\Classes\CLSID\{ACTIVATOR_CLSID}"
SERVER_KEY = rf"{CLASS_KEY}\LocalServer32"
HKCU = FakeRegistry.HKEY_CURRENT_USER


def test_writes_display_name_icon_and_the_activator(tmp_path: Path) -> None:
    icon = tmp_path / "toasty.png"
    icon.write_bytes(b"\x89PNG")
    reg = FakeRegistry()
    done = aumid.register_aumid(DEFAULT, "Toasty", icon, registry=reg)
    command = activator_command(ACTIVATOR_CLSID)
    assert (done.key, done.clsid, done.server_key, done.command) == (KEY, ACTIVATOR_CLSID, SERVER_KEY, command)
    assert reg.values == {
        (HKCU, KEY, "DisplayName"): (reg.REG_SZ, "Toasty"),
        (HKCU, KEY, "IconUri"): (reg.REG_SZ, str(icon)),
        (HKCU, KEY, "CustomActivator"): (reg.REG_SZ, ACTIVATOR_CLSID),
        (HKCU, CLASS_KEY, ""): (reg.REG_SZ, "Toasty toast activator"),
        (HKCU, SERVER_KEY, ""): (reg.REG_SZ, command),
    }
    # the class is written before the AUMID names it: Windows never sees an activator that is not there
    assert reg.closed == [f"{HKCU}\\{CLASS_KEY}", f"{HKCU}\\{SERVER_KEY}", f"{HKCU}\\{KEY}"]


def test_the_command_line_starts_this_server_as_the_activator(tmp_path: Path) -> None:
    """What COM will run: this interpreter, `-m toasty_server toast-activated`, the class and the config."""
    config = tmp_path / "my settings" / "toasty.toml"
    config.parent.mkdir()
    config.write_text("port = 50099\n")
    reg = FakeRegistry()
    done = aumid.register_aumid(DEFAULT, "Toasty", registry=reg, config=config)
    argv = split_command_line(reg.value(SERVER_KEY) or "")
    assert argv == [
        sys.executable,
        "-m",
        "toasty_server",
        "toast-activated",
        "--clsid",
        done.clsid,
        "--config",
        str(config),
    ]


def test_windows_quoting_of_the_command_line_round_trips() -> None:
    python = r"C:\Program Files\Python 3.11\pythonw.exe"
    config = Path(r"C:\Users\A B\toasty\"quoted\".toml")
    argv = split_command_line(activator_command(ACTIVATOR_CLSID, config=config, python=python))
    assert argv == [
        python,
        "-m",
        "toasty_server",
        "toast-activated",
        "--clsid",
        ACTIVATOR_CLSID,
        "--config",
        str(config),
    ]


def test_registering_twice_writes_the_same(tmp_path: Path) -> None:
    reg = FakeRegistry(tmp_path / "registry.json")
    aumid.register_aumid(DEFAULT, "Toasty", registry=reg)
    first, keys = reg.values, reg.keys
    aumid.register_aumid(DEFAULT, "Toasty", registry=FakeRegistry(tmp_path / "registry.json"))
    assert (reg.values, reg.keys) == (first, keys)


def test_another_aumid_gets_its_own_stable_activator() -> None:
    mine = activator_clsid("My.Aumid")
    assert mine != ACTIVATOR_CLSID
    assert mine == activator_clsid("My.Aumid") != activator_clsid("Other.Aumid")
    assert activator_clsid(DEFAULT) == ACTIVATOR_CLSID
    reg = FakeRegistry()
    aumid.register_aumid(DEFAULT, "Toasty", registry=reg)
    aumid.register_aumid("My.Aumid", "Mine", registry=reg)
    assert reg.value(r"Software\Classes\AppUserModelId\My.Aumid", "CustomActivator") == mine
    assert f"--clsid {mine}" in (reg.value(rf"Software\Classes\CLSID\{mine}\LocalServer32") or "")
    assert reg.value(SERVER_KEY) == activator_command(ACTIVATOR_CLSID)  # the first one is untouched


def test_unregister_removes_everything_and_twice_is_fine(capsys: pytest.CaptureFixture[str]) -> None:
    reg = FakeRegistry()
    aumid.register_aumid("Keep.Me", "Other", registry=reg)
    kept = reg.values
    assert aumid.main([], registry=reg) == 0
    assert aumid.unregister_main([], registry=reg) == 0
    assert reg.values == kept
    assert capsys.readouterr().out.endswith(
        f"removed HKEY_CURRENT_USER\\{KEY}\nremoved HKEY_CURRENT_USER\\{SERVER_KEY}\n"
        f"removed HKEY_CURRENT_USER\\{CLASS_KEY}\n"
    )
    assert aumid.unregister_main([], registry=reg) == 0
    assert capsys.readouterr().out == f"nothing registered for {DEFAULT}\n"


def test_main_with_defaults(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOASTY_AUMID", raising=False)
    reg = FakeRegistry()
    assert aumid.main([], registry=reg) == 0
    assert reg.value(KEY, "DisplayName") == "Toasty"
    assert reg.value(KEY, "CustomActivator") == ACTIVATOR_CLSID
    out = capsys.readouterr().out
    assert f"registered HKEY_CURRENT_USER\\{KEY}\n" in out
    assert f"registered HKEY_CURRENT_USER\\{SERVER_KEY}\n  (default) = {activator_command(ACTIVATOR_CLSID)}\n" in out


def test_main_takes_the_aumid_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOASTY_AUMID", "My.Aumid")
    reg = FakeRegistry()
    assert aumid.main(["--display-name", "Agents"], registry=reg) == 0
    assert reg.value(r"Software\Classes\AppUserModelId\My.Aumid", "DisplayName") == "Agents"
    assert reg.value(KEY, "DisplayName") is None


def test_permission_error_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    reg = FakeRegistry(error=PermissionError(13, "Access is denied"))
    assert aumid.main(["--aumid", "X.Y"], registry=reg) == 1
    err = capsys.readouterr().err
    assert "no permission to write HKEY_CURRENT_USER\\Software\\Classes\\CLSID\\{" in err
    assert "Access is denied" in err
    assert aumid.unregister_main(["--aumid", "X.Y"], registry=reg) == 1
    assert (
        "no permission to delete HKEY_CURRENT_USER\\Software\\Classes\\AppUserModelId\\X.Y" in capsys.readouterr().err
    )


def test_missing_icon_or_config_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    reg = FakeRegistry()
    assert aumid.main(["--icon", str(tmp_path / "nope.ico")], registry=reg) == 2
    assert "icon file" in capsys.readouterr().err
    assert aumid.main(["--config", str(tmp_path / "nope.toml")], registry=reg) == 2
    assert "config file" in capsys.readouterr().err
    assert reg.values == {}


def test_bad_aumid_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert aumid.main(["--aumid", "a\\b"], registry=FakeRegistry()) == 2
    assert "invalid AUMID" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="checks the refusal off Windows")
def test_cli_subcommands_off_windows(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["register-aumid", "--display-name", "Toasty"]) == 1
    err = capsys.readouterr().err
    assert err == f"toasty-server register-aumid: registering an AUMID needs Windows (this is {sys.platform})\n"
    assert cli.main(["unregister-aumid"]) == 1
    assert "needs Windows" in capsys.readouterr().err


def test_cli_help_mentions_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "register-aumid" in out
    assert "unregister-aumid" in out
