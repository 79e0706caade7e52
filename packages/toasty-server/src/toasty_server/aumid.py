"""`toasty-server register-aumid`: make Toasty's AppUserModelID known to Windows.

An unpackaged app's toasts show a name and icon, and its buttons and inputs report back, only when its
AUMID is registered under HKCU\\Software\\Classes\\AppUserModelId\\<aumid> (no administrator rights needed).
The registry module is injectable, so the writing logic is tested off Windows.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from toasty_server.config import Settings

KEY_ROOT = r"Software\Classes\AppUserModelId"
DEFAULT_DISPLAY_NAME = "Toasty"


class RegistryKey(Protocol):
    def __enter__(self) -> RegistryKey: ...
    def __exit__(self, *exc: object) -> None: ...


class Registry(Protocol):
    """The part of the stdlib `winreg` module used here."""

    HKEY_CURRENT_USER: Any
    KEY_WRITE: int
    REG_SZ: int

    def CreateKeyEx(self, key: Any, sub_key: str, reserved: int, access: int) -> RegistryKey: ...
    def SetValueEx(self, key: Any, value_name: str, reserved: int, type_: int, value: str) -> None: ...


class AumidError(Exception):
    """Registration is impossible here; the message says why. exit_code: 1 for the machine, 2 for the input."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class Registration:
    key: str  # below HKEY_CURRENT_USER
    values: dict[str, str]


def load_registry() -> Registry:
    """The real `winreg`, or AumidError off Windows."""
    try:
        return cast(Registry, importlib.import_module("winreg"))
    except ImportError:
        raise AumidError(f"registering an AUMID needs Windows (this is {sys.platform})") from None


def register_aumid(
    aumid: str, display_name: str, icon: Path | None = None, *, registry: Registry | None = None
) -> Registration:
    """Write DisplayName (and IconUri) under HKCU\\Software\\Classes\\AppUserModelId\\<aumid>."""
    if not aumid or "\\" in aumid or len(aumid) > 129:
        raise AumidError(f"invalid AUMID {aumid!r}: up to 129 characters, no backslash", exit_code=2)
    values = {"DisplayName": display_name}
    if icon is not None:
        icon = icon.expanduser().resolve()
        if not icon.is_file():
            raise AumidError(f"icon file {icon} does not exist", exit_code=2)
        values["IconUri"] = str(icon)
    reg = registry if registry is not None else load_registry()
    key_path = f"{KEY_ROOT}\\{aumid}"
    try:
        with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, key_path, 0, reg.KEY_WRITE) as key:
            for name, value in values.items():
                reg.SetValueEx(key, name, 0, reg.REG_SZ, value)
    except PermissionError as exc:
        raise AumidError(f"no permission to write HKEY_CURRENT_USER\\{key_path}: {exc}") from exc
    except OSError as exc:
        raise AumidError(f"cannot write HKEY_CURRENT_USER\\{key_path}: {exc}") from exc
    return Registration(key_path, values)


def _default_aumid() -> str:
    default = Settings.model_fields["aumid"].default
    return os.environ.get("TOASTY_AUMID") or str(default)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="toasty-server register-aumid",
        description="Register Toasty's AppUserModelID under HKEY_CURRENT_USER (Windows), so its toasts show "
        "a name and an icon and their buttons report back.",
    )
    p.add_argument("--aumid", default=_default_aumid(), help="AppUserModelID (default TOASTY_AUMID or %(default)s)")
    p.add_argument("--display-name", default=DEFAULT_DISPLAY_NAME, help="name shown on the toasts (default Toasty)")
    p.add_argument("--icon", type=Path, help="image file shown as the app's icon on the toasts")
    return p


def main(argv: list[str] | None = None, *, registry: Registry | None = None) -> int:
    """Exit status: 0 registered, 1 impossible here (not Windows, no permission), 2 bad arguments."""
    args = _parser().parse_args(argv)
    try:
        done = register_aumid(args.aumid, args.display_name, args.icon, registry=registry)
    except AumidError as exc:
        sys.stderr.write(f"toasty-server register-aumid: {exc}\n")
        return exc.exit_code
    sys.stdout.write(f"registered HKEY_CURRENT_USER\\{done.key}\n")
    for name, value in done.values.items():
        sys.stdout.write(f"  {name} = {value}\n")
    if args.aumid != Settings.model_fields["aumid"].default:
        sys.stdout.write(f"run the server with TOASTY_AUMID={args.aumid} to use it\n")
    return 0
