"""The fake Windows around the toasts, for tests that run the hub (and what Windows starts) as processes.

One folder holds what Windows keeps beyond any one process:
- the registry (HKEY_CURRENT_USER, winrt/registry.py), which `toasty-server register-aumid` writes;
- the Action Center: every toast a process showed over the fake WinRT with FAKE_WINDOWS_DIR set to the
  folder (winrt/windows/ui/notifications.py), and still there.

`click()` is what Windows does when the person clicks a toast whose process is gone: look up the app's
`CustomActivator` CLSID, that class's LocalServer32 command line, start the command (with `-Embedding`, as
COM does) as a real process whose ole32 is the fake COM (winrt/com.py, installed by com_site), hand it
the Activate call (the button's arguments from the toast XML, every input of the toast), and report the
HRESULT. A wrong registration, a command line that does not start the activator, a class object that is
not registered for that CLSID or not reachable through its vtables: each ends in an HRESULT of failure.

Not modelled: the Activated event in a showing process that still runs (in-process tests fire it), COM's
own launch rules (session, security, timeouts) and marshalling, and everything the shell draws.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .registry import FakeRegistry

FAKES = Path(__file__).resolve().parent.parent  # tests/fakes: what a process needs to import the fake WinRT
COM_SITE = Path(__file__).resolve().parent / "com_site"  # sitecustomize installing the fake ole32


def _hresult(code: int) -> int:
    return code - (1 << 32) if code & 0x80000000 else code


S_OK = 0
REGDB_E_CLASSNOTREG = _hresult(0x80040154)
CO_E_CLASSSTRING = _hresult(0x800401F3)
CO_E_SERVER_EXEC_FAILURE = _hresult(0x80080005)


def split_command_line(line: str) -> list[str]:
    """A command line split as CommandLineToArgvW does (the inverse of subprocess.list2cmdline)."""
    args: list[str] = []
    i, n = 0, len(line)
    while i < n and line[i] in " \t":
        i += 1
    if i < n and line[i] == '"':  # the program: up to the next quote, backslashes as they are
        end = line.find('"', i + 1)
        end = n if end < 0 else end
        args.append(line[i + 1 : end])
        i = end + 1
    else:
        end = i
        while end < n and line[end] not in " \t":
            end += 1
        args.append(line[i:end])
        i = end
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        arg: list[str] = []
        quoted = False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                if j < n and line[j] == '"':  # 2k backslashes + quote: k and a quote mark; 2k+1: k and a '"'
                    arg.append("\\" * ((j - i) // 2))
                    if (j - i) % 2:
                        arg.append('"')
                        j += 1
                else:
                    arg.append("\\" * (j - i))
                i = j
            elif line[i] == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    arg.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            else:
                arg.append(line[i])
                i += 1
        args.append("".join(arg))


@dataclass(frozen=True)
class ShownToast:
    """A toast in the Action Center, as the person sees it."""

    app_id: str
    tag: str
    group: str
    xml: str
    pid: int  # of the process that showed it

    @property
    def _root(self) -> ET.Element:
        return ET.fromstring(self.xml)

    def buttons(self) -> dict[str, str]:
        """Label → arguments of the buttons that activate the app (not protocol or system buttons)."""
        return {
            a.get("content", ""): a.get("arguments", "")
            for a in self._root.iter("action")
            if a.get("activationType", "foreground") == "foreground"
        }

    def inputs(self) -> dict[str, tuple[str, list[str], str]]:
        """Input id → (type, selection ids, default)."""
        return {
            i.get("id", ""): (
                i.get("type", ""),
                [s.get("id", "") for s in i.iter("selection")],
                i.get("defaultInput", ""),
            )
            for i in self._root.iter("input")
        }


@dataclass
class Activation:
    """What became of one click on a toast whose process was gone."""

    outcome: str  # "activated", "no activator", "class not registered", "server failed"
    hresult: int | None = None  # what Activate returned (or COM's failure)
    command: list[str] = field(default_factory=list)  # the process started
    detail: str = ""
    log: Path | None = None  # its standard output and error

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log is not None and self.log.exists() else ""


class FakeWindows:
    """The registry, the Action Center and toast activation of one test."""

    def __init__(self, root: Path, activation_timeout: float = 15.0) -> None:
        self.root = root
        (root / "com").mkdir(parents=True, exist_ok=True)
        self.registry = FakeRegistry(root / "registry.json")
        self.activation_timeout = activation_timeout
        self.started: list[subprocess.Popen[bytes]] = []

    def env_for_toasts(self) -> dict[str, str]:
        """Environment of a process that shows toasts over the fake WinRT into this Action Center."""
        return {"PYTHONPATH": str(FAKES), "FAKE_WINDOWS_DIR": str(self.root)}

    # --- the Action Center -------------------------------------------------------------------------

    def action_center(self, app_id: str) -> list[ShownToast]:
        path = self.root / "action-center.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        shown: list[ShownToast] = []
        for line in lines:
            r = json.loads(line)
            if r["app_id"] != app_id:
                continue
            if r["event"] == "shown":
                shown.append(ShownToast(r["app_id"], r["tag"], r["group"], r["xml"], r["pid"]))
            elif r["event"] == "removed":
                shown = [t for t in shown if (t.tag, t.group) != (r["tag"], r["group"])]
            elif r["event"] == "group_removed":
                shown = [t for t in shown if t.group != r["group"]]
            elif r["event"] == "cleared":
                shown = []
        return shown

    def wait_for_toast(self, app_id: str, timeout: float = 10.0) -> ShownToast:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.action_center(app_id)
            if found:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"no toast of {app_id} in the Action Center")

    # --- clicks ------------------------------------------------------------------------------------

    def click(self, toast: ShownToast, button: str | None, inputs: dict[str, str] | None = None) -> Activation:
        """The person clicks the button labelled `button` (None: the toast's body) after typing `inputs`.

        Windows passes every input of the toast: a text box as typed ("" if not), a selection as chosen
        (else its default). An input or a choice the toast does not have cannot be typed: AssertionError.
        """
        if button is None:
            arguments = ET.fromstring(toast.xml).get("launch")
        else:
            buttons = toast.buttons()
            assert button in buttons, f"the toast has no button {button!r} (it has {list(buttons)})"
            arguments = buttons[button]
        given = dict(inputs or {})
        on_toast = toast.inputs()
        assert set(given) <= set(on_toast), f"inputs {set(given) - set(on_toast)} are not on the toast"
        pairs: list[tuple[str, str]] = []
        for input_id, (kind, choices, default) in on_toast.items():
            if kind == "selection":
                value = given.get(input_id, default or (choices[0] if choices else ""))
                assert value in choices, f"{value!r} is not a choice of {input_id!r} ({choices})"
            else:
                value = given.get(input_id, "")
            pairs.append((input_id, value))
        return self.activate(toast.app_id, arguments, pairs)

    def activate(self, app_id: str, arguments: str | None, inputs: list[tuple[str, str]]) -> Activation:
        """COM activation of `app_id`'s toast activator with these arguments, whatever a toast shows (what
        any local process could ask COM for, e.g. with forged arguments)."""
        registered = self.registry.value(rf"Software\Classes\AppUserModelId\{app_id}", "CustomActivator")
        if registered is None:
            return Activation("no activator", detail=f"{app_id} has no CustomActivator: nothing is started")
        try:
            clsid = "{" + str(uuid.UUID(registered)).upper() + "}"
        except ValueError:
            return Activation("class not registered", CO_E_CLASSSTRING, detail=f"CustomActivator {registered!r}")
        command_line = self.registry.value(rf"Software\Classes\CLSID\{clsid}\LocalServer32")
        if not command_line:
            return Activation("class not registered", REGDB_E_CLASSNOTREG, detail=f"no LocalServer32 for {clsid}")
        command = [*split_command_line(command_line), "-Embedding"]
        call_id = uuid.uuid4().hex
        com = self.root / "com"
        queued = {"call_id": call_id, "aumid": app_id, "arguments": arguments, "inputs": inputs}
        (com / f"{clsid.lower()}.queued.json").write_text(json.dumps([queued]), encoding="utf-8")
        log = com / f"{call_id}.log"
        env = {**os.environ, "PYTHONPATH": str(COM_SITE), "FAKE_WINDOWS_DIR": str(self.root)}
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=out, env=env, cwd=self.root)
        self.started.append(process)
        result_path = com / f"{call_id}.result.json"
        deadline = time.monotonic() + self.activation_timeout
        while time.monotonic() < deadline:
            if result_path.exists():
                result = json.loads(result_path.read_text(encoding="utf-8"))["result"]
                if isinstance(result, str):
                    return Activation("server failed", CO_E_SERVER_EXEC_FAILURE, command, result, log)
                return Activation("activated", result, command, log=log)
            if process.poll() is not None:
                detail = f"the server exited with {process.returncode} without serving {clsid}"
                return Activation("server failed", CO_E_SERVER_EXEC_FAILURE, command, detail, log)
            time.sleep(0.02)
        process.kill()
        detail = f"{clsid} was not served within {self.activation_timeout:g} s"
        return Activation("server failed", CO_E_SERVER_EXEC_FAILURE, command, detail, log)

    def close(self, timeout: float = 10.0) -> list[int]:
        """Wait for every server started to exit (killing the late ones); their exit codes."""
        codes = []
        for process in self.started:
            try:
                codes.append(process.wait(timeout))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        self.started.clear()
        return codes
