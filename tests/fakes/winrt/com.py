"""A fake of the ole32 calls of a COM local server, and of COM calling the class object it registers.

On CoRegisterClassObject, COM hands the activations queued for that CLSID to the class object on a thread
of its own, exactly through the object's vtables, as Windows does for a toast's activator: QueryInterface
for IClassFactory, CreateInstance for INotificationActivationCallback, Activate(aumid, arguments, data,
count) with the inputs as an array of NOTIFICATION_USER_INPUT_DATA, then Release. The vtable layouts and
interface ids below are written from the Windows SDK headers, not taken from the code under test, so a
wrong method order, IID or structure there fails here.

`install()` (run by sitecustomize.py in a process the fake Windows starts) makes ctypes.WinDLL("ole32")
return this fake, reading the queued calls from the fake Windows' folder (FAKE_WINDOWS_DIR) and writing
each call's HRESULT back there.
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

S_OK = 0
CO_E_NOTINITIALIZED = -0x7FFBFE10  # 0x800401F0
E_INVALIDARG = -0x7FF8FFA9  # 0x80070057
CLSCTX_LOCAL_SERVER = 0x4
REGCLS_SINGLEUSE = 0x0
REGCLS_MULTIPLEUSE = 0x1

# from Unknwn.h and NotificationActivationCallback.h
IID_ICLASSFACTORY = uuid.UUID("00000001-0000-0000-C000-000000000046")
IID_INOTIFICATIONACTIVATIONCALLBACK = uuid.UUID("53E31837-6600-4A81-9395-75CFFE746F94")


class _IID(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_ubyte * 16)]

    @classmethod
    def of(cls, value: uuid.UUID) -> _IID:
        return cls.from_buffer_copy(value.bytes_le)


class _InputData(ctypes.Structure):  # NOTIFICATION_USER_INPUT_DATA { LPCWSTR Key; LPCWSTR Value; }
    _fields_ = [("Key", ctypes.c_wchar_p), ("Value", ctypes.c_wchar_p)]


_QI = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_void_p, ctypes.POINTER(_IID), ctypes.POINTER(ctypes.c_void_p))
_REF = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)


class _IClassFactoryVtbl(ctypes.Structure):
    _fields_ = [
        ("QueryInterface", _QI),
        ("AddRef", _REF),
        ("Release", _REF),
        (
            "CreateInstance",
            ctypes.CFUNCTYPE(
                ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(_IID), ctypes.POINTER(ctypes.c_void_p)
            ),
        ),
        ("LockServer", ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_void_p, ctypes.c_int)),
    ]


class _ICallbackVtbl(ctypes.Structure):
    _fields_ = [
        ("QueryInterface", _QI),
        ("AddRef", _REF),
        ("Release", _REF),
        (
            "Activate",
            ctypes.CFUNCTYPE(
                ctypes.c_long,
                ctypes.c_void_p,
                ctypes.c_wchar_p,
                ctypes.c_wchar_p,
                ctypes.POINTER(_InputData),
                ctypes.c_ulong,
            ),
        ),
    ]


def _vtable(address: int, layout: type[ctypes.Structure]) -> Any:
    """The vtable of the COM object at `address` (its first pointer-sized field points to it)."""
    return layout.from_address(ctypes.c_void_p.from_address(address).value or 0)


@dataclass(frozen=True)
class ActivateCall:
    """One activation COM has queued for a CLSID."""

    call_id: str
    aumid: str
    arguments: str | None  # None: what Windows passes for a body click without launch arguments
    inputs: list[tuple[str, str]] = field(default_factory=list)


class ComFailure(AssertionError):
    """The class object did not behave as COM requires; the fake reports it instead of an HRESULT."""


def call_activator(factory: int, call: ActivateCall) -> int:
    """Activate one toast click on the class object at `factory`, the way COM does; the HRESULT."""
    factory_vtbl = _vtable(factory, _IClassFactoryVtbl)
    iface = ctypes.c_void_p()
    hr = factory_vtbl.QueryInterface(factory, ctypes.byref(_IID.of(IID_ICLASSFACTORY)), ctypes.byref(iface))
    if hr != S_OK or not iface.value:
        raise ComFailure(f"QueryInterface(IID_IClassFactory) returned {hr:#x}")
    try:
        callback = ctypes.c_void_p()
        iid = _IID.of(IID_INOTIFICATIONACTIVATIONCALLBACK)
        hr = factory_vtbl.CreateInstance(iface, None, ctypes.byref(iid), ctypes.byref(callback))
        if hr != S_OK or not callback.value:
            raise ComFailure(f"CreateInstance(IID_INotificationActivationCallback) returned {hr:#x}")
        try:
            data = (_InputData * max(len(call.inputs), 1))(*call.inputs)
            vtbl = _vtable(callback.value, _ICallbackVtbl)
            return int(vtbl.Activate(callback, call.aumid, call.arguments, data, len(call.inputs)))
        finally:
            _vtable(callback.value, _ICallbackVtbl).Release(callback)
    finally:
        factory_vtbl.Release(iface)


class _Function:
    """An ole32 export: callable, and takes the argtypes/restype a ctypes user declares on it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self.argtypes: list[Any] | None = None
        self.restype: Any = ctypes.c_int

    def __call__(self, *args: Any) -> Any:
        return self._fn(*args)


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


class FakeOle32:
    """ole32 for one process: CoInitializeEx, CoRegisterClassObject, CoRevokeClassObject, CoUninitialize.

    `queued(clsid)` gives the activations waiting for a class ("{...}" upper case) when it registers, and
    `done(call, hresult or failure)` is told how each went.
    """

    def __init__(
        self,
        queued: Callable[[str], list[ActivateCall]],
        done: Callable[[ActivateCall, int | str], None],
    ) -> None:
        self._queued = queued
        self._done = done
        self.initialized = 0
        self.registered: dict[int, str] = {}  # cookie → CLSID
        self.revoked: list[int] = []
        self.threads: list[threading.Thread] = []
        self.CoInitializeEx = _Function(self._initialize)
        self.CoRegisterClassObject = _Function(self._register)
        self.CoRevokeClassObject = _Function(self._revoke)
        self.CoUninitialize = _Function(self._uninitialize)

    def _initialize(self, reserved: Any, flags: Any) -> int:
        assert reserved is None, reserved
        self.initialized += 1
        return S_OK

    def _uninitialize(self) -> None:
        assert self.initialized > 0, "CoUninitialize without CoInitializeEx"
        self.initialized -= 1

    def _register(self, rclsid: Any, unknown: Any, context: Any, flags: Any, cookie: Any) -> int:
        if self.initialized <= 0:
            return CO_E_NOTINITIALIZED
        if _plain(context) != CLSCTX_LOCAL_SERVER or _plain(flags) not in (REGCLS_SINGLEUSE, REGCLS_MULTIPLEUSE):
            return E_INVALIDARG
        clsid = "{" + str(uuid.UUID(bytes_le=bytes(rclsid.contents))).upper() + "}"
        factory = _plain(unknown)
        if not factory:
            return E_INVALIDARG
        number = len(self.registered) + 1
        self.registered[number] = clsid
        cookie.contents.value = number
        calls = self._queued(clsid)
        thread = threading.Thread(target=self._deliver, args=(factory, calls), name="com-rpc", daemon=True)
        self.threads.append(thread)
        thread.start()
        return S_OK

    def _revoke(self, cookie: Any) -> int:
        self.revoked.append(_plain(cookie))
        return S_OK

    def _deliver(self, factory: int, calls: list[ActivateCall]) -> None:
        for call in calls:
            try:
                result: int | str = call_activator(factory, call)
            except ComFailure as exc:
                result = str(exc)
            self._done(call, result)


# --- in a process the fake Windows started ----------------------------------------------------------


def _com_dir() -> Path:
    return Path(os.environ["FAKE_WINDOWS_DIR"]) / "com"


def queued_from_files(clsid: str) -> list[ActivateCall]:
    """The calls the fake Windows queued for `clsid` (taken: each is delivered once)."""
    path = _com_dir() / f"{clsid.lower()}.queued.json"
    try:
        taken = path.rename(path.with_suffix(f".{os.getpid()}.taken"))
    except FileNotFoundError:
        return []
    raw = json.loads(Path(str(taken)).read_text(encoding="utf-8"))
    return [ActivateCall(c["call_id"], c["aumid"], c["arguments"], [tuple(p) for p in c["inputs"]]) for c in raw]


def done_to_file(call: ActivateCall, result: int | str) -> None:
    out = _com_dir() / f"{call.call_id}.result.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"result": result, "pid": os.getpid()}), encoding="utf-8")
    tmp.replace(out)


def install() -> None:
    """Make ctypes.WinDLL("ole32") this fake in this process (which is not on Windows)."""
    ole32 = FakeOle32(queued_from_files, done_to_file)

    def win_dll(name: str, *args: Any, **kwargs: Any) -> FakeOle32:
        if name.lower() not in ("ole32", "ole32.dll"):
            raise OSError(f"{name}: the fake Windows has only ole32")
        return ole32

    ctypes.WinDLL = win_dll  # type: ignore[attr-defined]
