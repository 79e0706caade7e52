"""`toasty-server register-aumid` / `unregister-aumid`: make Toasty's AppUserModelID known to Windows.

An unpackaged app's toasts show a name and icon, and its buttons and inputs report back, only when its
AUMID is registered under HKCU\\Software\\Classes\\AppUserModelId\\<aumid> (no administrator rights needed).
A click after the hub that showed the toast is gone reaches Toasty only through a COM activator, as for a
packaged app: the AUMID's `CustomActivator` names a CLSID whose LocalServer32 command line starts
`toasty-server toast-activated` (render.windows_activation; docs/windows.md). Registering writes both, the
class first, so Windows never sees an activator that is not there; writing again writes the same values.
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
from toasty_server.render.windows_activation import activator_clsid, activator_command

KEY_ROOT = r"Software\Classes\AppUserModelId"
CLSID_ROOT = r"Software\Classes\CLSID"
DEFAULT_DISPLAY_NAME = "Toasty"
ACTIVATOR_NAME = "Toasty toast activator"  # the CLSID key's default value: what a registry reader sees


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
    def DeleteKey(self, key: Any, sub_key: str) -> None: ...


class AumidError(Exception):
    """Registration is impossible here; the message says why. exit_code: 1 for the machine, 2 for the input."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class Registration:
    key: str  # the AUMID's, below HKEY_CURRENT_USER
    values: dict[str, str]  # written under `key`
    clsid: str  # the activator's class
    server_key: str  # its LocalServer32 key, below HKEY_CURRENT_USER
    command: str  # the LocalServer32 command line (the key's default value)

    @property
    def class_key(self) -> str:
        return f"{CLSID_ROOT}\\{self.clsid}"

    def writes(self) -> dict[str, dict[str, str]]:
        """Every key written (below HKEY_CURRENT_USER) with its values, "" naming a key's default value,
        in the order they are written."""
        return {
            self.class_key: {"": ACTIVATOR_NAME},
            self.server_key: {"": self.command},
            self.key: self.values,
        }


def load_registry() -> Registry:
    """The real `winreg`, or AumidError off Windows."""
    try:
        return cast(Registry, importlib.import_module("winreg"))
    except ImportError:
        raise AumidError(f"registering an AUMID needs Windows (this is {sys.platform})") from None


def _check_aumid(aumid: str) -> None:
    if not aumid or "\\" in aumid or len(aumid) > 129:
        raise AumidError(f"invalid AUMID {aumid!r}: up to 129 characters, no backslash", exit_code=2)


def register_aumid(
    aumid: str,
    display_name: str,
    icon: Path | None = None,
    *,
    registry: Registry | None = None,
    config: Path | None = None,
    python: str | None = None,
) -> Registration:
    """Write the activator class (CLSID\\{clsid}\\LocalServer32) and then DisplayName, IconUri and
    CustomActivator under HKCU\\Software\\Classes\\AppUserModelId\\<aumid>.

    `config` is the hub's settings file, passed on to the activator so that it finds the hub; `python` the
    interpreter COM starts (default: pythonw.exe beside this one)."""
    _check_aumid(aumid)
    clsid = activator_clsid(aumid)
    values = {"DisplayName": display_name}
    if icon is not None:
        icon = icon.expanduser().resolve()
        if not icon.is_file():
            raise AumidError(f"icon file {icon} does not exist", exit_code=2)
        values["IconUri"] = str(icon)
    values["CustomActivator"] = clsid
    if config is not None:
        config = config.expanduser().resolve()
        if not config.is_file():
            raise AumidError(f"config file {config} does not exist", exit_code=2)
    done = Registration(
        key=f"{KEY_ROOT}\\{aumid}",
        values=values,
        clsid=clsid,
        server_key=f"{CLSID_ROOT}\\{clsid}\\LocalServer32",
        command=activator_command(clsid, config=config, python=python),
    )
    reg = registry if registry is not None else load_registry()
    for key_path, key_values in done.writes().items():
        try:
            with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, key_path, 0, reg.KEY_WRITE) as key:
                for name, value in key_values.items():
                    reg.SetValueEx(key, name, 0, reg.REG_SZ, value)
        except PermissionError as exc:
            raise AumidError(f"no permission to write HKEY_CURRENT_USER\\{key_path}: {exc}") from exc
        except OSError as exc:
            raise AumidError(f"cannot write HKEY_CURRENT_USER\\{key_path}: {exc}") from exc
    return done


def unregister_aumid(aumid: str, *, registry: Registry | None = None) -> list[str]:
    """Delete what register_aumid wrote, the AUMID first (so Windows stops naming the class); the keys that
    were there. Keys already gone are skipped: running it twice is fine."""
    _check_aumid(aumid)
    clsid = activator_clsid(aumid)
    reg = registry if registry is not None else load_registry()
    removed = []
    for key_path in (f"{KEY_ROOT}\\{aumid}", f"{CLSID_ROOT}\\{clsid}\\LocalServer32", f"{CLSID_ROOT}\\{clsid}"):
        try:
            reg.DeleteKey(reg.HKEY_CURRENT_USER, key_path)
        except FileNotFoundError:
            continue
        except PermissionError as exc:
            raise AumidError(f"no permission to delete HKEY_CURRENT_USER\\{key_path}: {exc}") from exc
        except OSError as exc:
            raise AumidError(f"cannot delete HKEY_CURRENT_USER\\{key_path}: {exc}") from exc
        removed.append(key_path)
    return removed


def _default_aumid() -> str:
    default = Settings.model_fields["aumid"].default
    return os.environ.get("TOASTY_AUMID") or str(default)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="toasty-server register-aumid",
        description="Register Toasty's AppUserModelID and its toast activator under HKEY_CURRENT_USER "
        "(Windows), so its toasts show a name and an icon and their buttons report back, also after the "
        "server restarted.",
    )
    p.add_argument("--aumid", default=_default_aumid(), help="AppUserModelID (default TOASTY_AUMID or %(default)s)")
    p.add_argument("--display-name", default=DEFAULT_DISPLAY_NAME, help="name shown on the toasts (default Toasty)")
    p.add_argument("--icon", type=Path, help="image file shown as the app's icon on the toasts")
    p.add_argument(
        "--config",
        type=Path,
        help="the server's TOML settings file (when it runs with one): the activator reads it to find the server",
    )
    return p


def main(argv: list[str] | None = None, *, registry: Registry | None = None) -> int:
    """Exit status: 0 registered, 1 impossible here (not Windows, no permission), 2 bad arguments."""
    args = _parser().parse_args(argv)
    try:
        done = register_aumid(args.aumid, args.display_name, args.icon, registry=registry, config=args.config)
    except AumidError as exc:
        sys.stderr.write(f"toasty-server register-aumid: {exc}\n")
        return exc.exit_code
    for key, values in done.writes().items():
        sys.stdout.write(f"registered HKEY_CURRENT_USER\\{key}\n")
        for name, value in values.items():
            sys.stdout.write(f"  {name or '(default)'} = {value}\n")
    if args.aumid != Settings.model_fields["aumid"].default:
        sys.stdout.write(f"run the server with TOASTY_AUMID={args.aumid} to use it\n")
    return 0


def unregister_main(argv: list[str] | None = None, *, registry: Registry | None = None) -> int:
    """`toasty-server unregister-aumid`. Exit status: 0 done (also when nothing was registered), 1
    impossible here, 2 bad arguments."""
    p = argparse.ArgumentParser(
        prog="toasty-server unregister-aumid",
        description="Remove what register-aumid wrote under HKEY_CURRENT_USER (the AUMID and its toast activator).",
    )
    p.add_argument("--aumid", default=_default_aumid(), help="AppUserModelID (default TOASTY_AUMID or %(default)s)")
    args = p.parse_args(argv)
    try:
        removed = unregister_aumid(args.aumid, registry=registry)
    except AumidError as exc:
        sys.stderr.write(f"toasty-server unregister-aumid: {exc}\n")
        return exc.exit_code
    for key in removed:
        sys.stdout.write(f"removed HKEY_CURRENT_USER\\{key}\n")
    if not removed:
        sys.stdout.write(f"nothing registered for {args.aumid}\n")
    return 0
