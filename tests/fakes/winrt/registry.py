"""A fake of the stdlib `winreg` calls Toasty makes (aumid.Registry), and the lookups Windows makes.

Like the real registry, key paths and value names compare case-insensitively, creating a key creates the
keys above it, and a key with subkeys cannot be deleted. With a `path`, every write is saved to that JSON
file and every read loads it: the processes of a test (the one that registers, the fake Windows that
reads the registration when a toast is clicked) share one registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class FakeKey:
    """An open key handle; a context manager like winreg's PyHKEY."""

    def __init__(self, registry: FakeRegistry, path: str) -> None:
        self.registry = registry
        self.path = path

    def __enter__(self) -> FakeKey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.registry.closed.append(self.path)


class FakeRegistry:
    """HKEY_CURRENT_USER (and any other root by name) as {key path: {value name: (type, value)}}."""

    HKEY_CURRENT_USER = "HKEY_CURRENT_USER"
    KEY_WRITE = 0x20006
    KEY_READ = 0x20019
    REG_SZ = 1

    def __init__(self, path: Path | None = None, error: OSError | None = None) -> None:
        self.path = path
        self.error = error  # raised by every call, like a locked-down HKCU
        self.closed: list[str] = []  # key handles closed, by full path
        self._keys: dict[str, tuple[str, dict[str, tuple[str, int, str]]]] = {}  # folded path → (path, values)
        if path is not None and path.exists():
            self._load()

    # --- winreg ----------------------------------------------------------------------------------

    def CreateKeyEx(self, key: Any, sub_key: str, reserved: int = 0, access: int = KEY_WRITE) -> FakeKey:
        assert reserved == 0, reserved
        assert access & self.KEY_WRITE == self.KEY_WRITE, access
        self._refuse()
        self._load()
        full = self._join(key, sub_key)
        parts = full.split("\\")
        for i in range(2, len(parts) + 1):  # the root alone is not a key of ours
            partial = "\\".join(parts[:i])
            self._keys.setdefault(partial.casefold(), (partial, {}))
        self._save()
        return FakeKey(self, full)

    def OpenKey(self, key: Any, sub_key: str, reserved: int = 0, access: int = KEY_READ) -> FakeKey:
        self._refuse()
        self._load()
        full = self._join(key, sub_key)
        if full.casefold() not in self._keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return FakeKey(self, full)

    def SetValueEx(self, key: FakeKey, value_name: str | None, reserved: int, type_: int, value: str) -> None:
        self._refuse()
        assert type_ == self.REG_SZ, type_
        assert isinstance(value, str), value
        self._load()
        name = value_name or ""
        self._keys[key.path.casefold()][1][name.casefold()] = (name, type_, value)
        self._save()

    def QueryValueEx(self, key: FakeKey, value_name: str | None) -> tuple[str, int]:
        self._refuse()
        self._load()
        found = self._keys.get(key.path.casefold(), ("", {}))[1].get((value_name or "").casefold())
        if found is None:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return found[2], found[1]

    def DeleteKey(self, key: Any, sub_key: str) -> None:
        self._refuse()
        self._load()
        full = self._join(key, sub_key).casefold()
        if full not in self._keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        if any(other.startswith(full + "\\") for other in self._keys):
            raise PermissionError(5, "Access is denied")  # winreg.DeleteKey refuses a key with subkeys
        del self._keys[full]
        self._save()

    # --- what tests and the fake Windows read ---------------------------------------------------------

    def value(self, key_path: str, name: str = "") -> str | None:
        """The string value `name` ("" = the key's default) of HKCU\\<key_path>, None when absent."""
        try:
            with self.OpenKey(self.HKEY_CURRENT_USER, key_path) as key:
                return self.QueryValueEx(key, name)[0]
        except FileNotFoundError:
            return None

    @property
    def values(self) -> dict[tuple[str, str, str], tuple[int, str]]:
        """Every value as {(root, key below it, value name): (type, value)}."""
        self._load()
        out = {}
        for path, values in self._keys.values():
            root, _, sub = path.partition("\\")
            for name, type_, value in values.values():
                out[(root, sub, name)] = (type_, value)
        return out

    @property
    def keys(self) -> list[str]:
        """Every key, as its full path (with the root)."""
        self._load()
        return sorted(path for path, _ in self._keys.values())

    # --- helpers -------------------------------------------------------------------------------------

    def _join(self, key: Any, sub_key: str) -> str:
        base = key.path if isinstance(key, FakeKey) else str(key)
        return f"{base}\\{sub_key}" if sub_key else base

    def _refuse(self) -> None:
        if self.error is not None:
            raise self.error

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        self._keys = {
            path.casefold(): (path, {n.casefold(): (n, t, v) for n, t, v in values}) for path, values in raw.items()
        }

    def _save(self) -> None:
        if self.path is None:
            return
        raw = {path: [list(v) for v in values.values()] for path, values in self._keys.values()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(raw, indent=1), encoding="utf-8")
        tmp.replace(self.path)
