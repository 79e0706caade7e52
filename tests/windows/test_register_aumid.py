"""`toasty-server register-aumid`: the registry writes (through an injected winreg) and the clear refusals."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from toasty_server import aumid, cli


class FakeKey:
    def __init__(self, registry: FakeWinreg, path: str) -> None:
        self.registry = registry
        self.path = path

    def __enter__(self) -> FakeKey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.registry.closed.append(self.path)


class FakeWinreg:
    """The winreg calls register_aumid makes, recorded; optionally refusing like a locked-down HKCU."""

    HKEY_CURRENT_USER = "HKCU"
    KEY_WRITE = 0x20006
    REG_SZ = 1

    def __init__(self, error: OSError | None = None) -> None:
        self.values: dict[tuple[str, str, str], tuple[int, str]] = {}
        self.closed: list[str] = []
        self.error = error

    def CreateKeyEx(self, key: Any, sub_key: str, reserved: int, access: int) -> FakeKey:
        assert (reserved, access) == (0, self.KEY_WRITE)
        if self.error is not None:
            raise self.error
        return FakeKey(self, f"{key}\\{sub_key}")

    def SetValueEx(self, key: FakeKey, value_name: str, reserved: int, type_: int, value: str) -> None:
        root, _, sub = key.path.partition("\\")
        self.values[(root, sub, value_name)] = (type_, value)


def test_writes_display_name_and_icon(tmp_path: Path) -> None:
    icon = tmp_path / "toasty.png"
    icon.write_bytes(b"\x89PNG")
    reg = FakeWinreg()
    done = aumid.register_aumid("SAM.Toasty.NotificationService", "Toasty", icon, registry=reg)
    key = r"Software\Classes\AppUserModelId\SAM.Toasty.NotificationService"
    assert done.key == key
    assert reg.values == {
        ("HKCU", key, "DisplayName"): (reg.REG_SZ, "Toasty"),
        ("HKCU", key, "IconUri"): (reg.REG_SZ, str(icon)),
    }
    assert reg.closed == [f"HKCU\\{key}"]


def test_main_with_defaults(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOASTY_AUMID", raising=False)
    reg = FakeWinreg()
    assert aumid.main([], registry=reg) == 0
    key = r"Software\Classes\AppUserModelId\SAM.Toasty.NotificationService"
    assert reg.values == {("HKCU", key, "DisplayName"): (reg.REG_SZ, "Toasty")}
    assert f"registered HKEY_CURRENT_USER\\{key}" in capsys.readouterr().out


def test_main_takes_the_aumid_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOASTY_AUMID", "My.Aumid")
    reg = FakeWinreg()
    assert aumid.main(["--display-name", "Agents"], registry=reg) == 0
    assert reg.values == {("HKCU", r"Software\Classes\AppUserModelId\My.Aumid", "DisplayName"): (1, "Agents")}


def test_permission_error_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    reg = FakeWinreg(PermissionError(13, "Access is denied"))
    assert aumid.main(["--aumid", "X.Y"], registry=reg) == 1
    err = capsys.readouterr().err
    assert "no permission to write HKEY_CURRENT_USER\\Software\\Classes\\AppUserModelId\\X.Y" in err
    assert "Access is denied" in err


def test_missing_icon_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert aumid.main(["--icon", str(tmp_path / "nope.ico")], registry=FakeWinreg()) == 2
    assert "icon file" in capsys.readouterr().err


def test_bad_aumid_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert aumid.main(["--aumid", "a\\b"], registry=FakeWinreg()) == 2
    assert "invalid AUMID" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="checks the refusal off Windows")
def test_cli_subcommand_off_windows(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["register-aumid", "--display-name", "Toasty"]) == 1
    err = capsys.readouterr().err
    assert err == f"toasty-server register-aumid: registering an AUMID needs Windows (this is {sys.platform})\n"


def test_cli_help_mentions_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "register-aumid" in capsys.readouterr().out
