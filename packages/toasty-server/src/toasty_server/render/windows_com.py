"""A COM local server for Windows' toast activator contract, in plain ctypes (no pywin32, no comtypes).

When a toast of an AUMID whose registration names a `CustomActivator` CLSID is clicked, Windows asks COM
for that class: COM starts the CLSID's LocalServer32 command line (appending `-Embedding`), waits for the
process to register a class object for the CLSID (CoRegisterClassObject), asks that IClassFactory for an
INotificationActivationCallback and calls its Activate(appUserModelId, invokedArgs, data, count), `data`
holding the typed-in inputs as key/value pairs. This module is that class object: two static COM objects
(the factory and the callback it hands out), their vtables built from ctypes callbacks.

`serve` runs the server in a multithreaded apartment: COM calls Activate on its own RPC threads while the
calling thread waits; it returns once no call came for a while. ole32 is injectable, so the tests drive
these vtables off Windows through a fake that calls them exactly as COM would (tests/fakes/winrt/com.py).
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def _hresult(code: int) -> int:
    """An HRESULT as the signed 32-bit value a ctypes c_long holds."""
    return code - (1 << 32) if code & 0x80000000 else code


S_OK = 0
E_NOINTERFACE = _hresult(0x80004002)
E_POINTER = _hresult(0x80004003)
E_FAIL = _hresult(0x80004005)
E_INVALIDARG = _hresult(0x80070057)
CLASS_E_NOAGGREGATION = _hresult(0x80040110)

COINIT_MULTITHREADED = 0x0
CLSCTX_LOCAL_SERVER = 0x4
REGCLS_MULTIPLEUSE = 0x1

IID_IUNKNOWN = "{00000000-0000-0000-C000-000000000046}"
IID_ICLASSFACTORY = "{00000001-0000-0000-C000-000000000046}"
IID_INOTIFICATIONACTIVATIONCALLBACK = "{53E31837-6600-4A81-9395-75CFFE746F94}"

MAX_INPUT_PAIRS = 256  # COM marshals `count` pairs; more than any toast has is refused, never walked

ActivateHandler = Callable[[str, str, dict[str, str]], int]
"""(app user model id, invoked arguments, inputs) → HRESULT; runs on a COM thread."""


class ComUnavailable(OSError):
    """No COM here (not Windows)."""


class ComError(OSError):
    """A COM call failed; the message names it and its HRESULT."""

    def __init__(self, call: str, hresult: int) -> None:
        super().__init__(f"{call} failed: HRESULT 0x{hresult & 0xFFFFFFFF:08X}")
        self.hresult = hresult


class GUID(ctypes.Structure):
    _fields_ = [
        ("Data1", ctypes.c_uint32),
        ("Data2", ctypes.c_uint16),
        ("Data3", ctypes.c_uint16),
        ("Data4", ctypes.c_ubyte * 8),
    ]

    @classmethod
    def of(cls, text: str) -> GUID:
        return cls.from_buffer_copy(uuid.UUID(text).bytes_le)

    def __str__(self) -> str:
        return "{" + str(uuid.UUID(bytes_le=bytes(self))).upper() + "}"


class NOTIFICATION_USER_INPUT_DATA(ctypes.Structure):  # the SDK's name
    _fields_ = [("Key", ctypes.c_wchar_p), ("Value", ctypes.c_wchar_p)]


# Windows' COM methods are __stdcall (the one convention on x64); off Windows (the fake) cdecl is the only one.
if sys.platform == "win32":
    _FUNCTYPE = ctypes.WINFUNCTYPE
else:
    _FUNCTYPE = ctypes.CFUNCTYPE

_HRESULT = ctypes.c_long
_QueryInterface = _FUNCTYPE(_HRESULT, ctypes.c_void_p, ctypes.POINTER(GUID), ctypes.POINTER(ctypes.c_void_p))
_AddRef = _FUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)
_Release = _FUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)
_CreateInstance = _FUNCTYPE(
    _HRESULT, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(GUID), ctypes.POINTER(ctypes.c_void_p)
)
_LockServer = _FUNCTYPE(_HRESULT, ctypes.c_void_p, ctypes.c_int)
_Activate = _FUNCTYPE(
    _HRESULT,
    ctypes.c_void_p,
    ctypes.c_wchar_p,
    ctypes.c_wchar_p,
    ctypes.POINTER(NOTIFICATION_USER_INPUT_DATA),
    ctypes.c_ulong,
)


class _ClassFactoryVtbl(ctypes.Structure):
    _fields_ = [
        ("QueryInterface", _QueryInterface),
        ("AddRef", _AddRef),
        ("Release", _Release),
        ("CreateInstance", _CreateInstance),
        ("LockServer", _LockServer),
    ]


class _CallbackVtbl(ctypes.Structure):
    _fields_ = [
        ("QueryInterface", _QueryInterface),
        ("AddRef", _AddRef),
        ("Release", _Release),
        ("Activate", _Activate),
    ]


class _ComObject(ctypes.Structure):
    """A COM object's memory as a caller sees it: a pointer to its vtable."""

    _fields_ = [("lpVtbl", ctypes.c_void_p)]


_FACTORY_IIDS = frozenset({IID_IUNKNOWN, IID_ICLASSFACTORY})
_CALLBACK_IIDS = frozenset({IID_IUNKNOWN, IID_INOTIFICATIONACTIVATIONCALLBACK})


class ToastActivator:
    """The class object of one CLSID and the INotificationActivationCallback it creates.

    Both objects live as long as this instance (the server's whole run), so AddRef/Release only count;
    `serve` waits for every call in progress before it lets go of them.
    """

    def __init__(self, clsid: str, on_activate: ActivateHandler) -> None:
        self.clsid = GUID.of(clsid)
        self._on_activate = on_activate
        self._lock = threading.Condition()
        self.references = 0
        self.activations = 0
        self._busy = 0
        self._last_done = time.monotonic()
        # The vtables keep their ctypes callbacks alive (a Structure holds what is stored in it).
        self._factory_vtbl = _ClassFactoryVtbl(
            _QueryInterface(self._factory_query),
            _AddRef(self._add_ref),
            _Release(self._release),
            _CreateInstance(self._create_instance),
            _LockServer(self._lock_server),
        )
        self._callback_vtbl = _CallbackVtbl(
            _QueryInterface(self._callback_query),
            _AddRef(self._add_ref),
            _Release(self._release),
            _Activate(self._activate),
        )
        self.factory = _ComObject(ctypes.addressof(self._factory_vtbl))
        self.callback = _ComObject(ctypes.addressof(self._callback_vtbl))

    @property
    def factory_pointer(self) -> ctypes.c_void_p:
        """The IUnknown* of the class object, as CoRegisterClassObject takes it."""
        return ctypes.c_void_p(ctypes.addressof(self.factory))

    def wait_until_idle(self, first_call_seconds: float, idle_seconds: float) -> None:
        """Return when no call is in progress and none came for `idle_seconds` (`first_call_seconds` before
        the first one: COM calls right after the registration, so a long silence means nobody will)."""
        started = time.monotonic()
        with self._lock:
            while True:
                if self.activations == 0 and self._busy == 0:
                    deadline = started + first_call_seconds
                else:
                    deadline = self._last_done + idle_seconds
                remaining = deadline - time.monotonic()
                if self._busy == 0 and remaining <= 0:
                    return
                self._lock.wait(max(remaining, 0.05))

    # IUnknown ------------------------------------------------------------------------------------

    def _query(self, this: int | None, riid: Any, ppv: Any, iids: frozenset[str]) -> int:
        if not ppv:
            return E_POINTER
        if riid and str(riid.contents) in iids:
            ppv[0] = this
            self._add_ref(this)
            return S_OK
        ppv[0] = None
        return E_NOINTERFACE

    def _factory_query(self, this: int | None, riid: Any, ppv: Any) -> int:
        return self._query(this, riid, ppv, _FACTORY_IIDS)

    def _callback_query(self, this: int | None, riid: Any, ppv: Any) -> int:
        return self._query(this, riid, ppv, _CALLBACK_IIDS)

    def _add_ref(self, this: int | None) -> int:
        with self._lock:
            self.references += 1
            return max(self.references, 1)

    def _release(self, this: int | None) -> int:
        with self._lock:
            self.references = max(self.references - 1, 0)
            return max(self.references, 1)  # static objects: never reported freed

    # IClassFactory -------------------------------------------------------------------------------

    def _create_instance(self, this: int | None, outer: int | None, riid: Any, ppv: Any) -> int:
        if outer:
            if ppv:
                ppv[0] = None
            return CLASS_E_NOAGGREGATION
        return self._query(ctypes.addressof(self.callback), riid, ppv, _CALLBACK_IIDS)

    def _lock_server(self, this: int | None, lock: int) -> int:
        return S_OK  # the server's life is its idle timer, not lock counts

    # INotificationActivationCallback ---------------------------------------------------------------

    def _activate(self, this: int | None, aumid: str | None, arguments: str | None, data: Any, count: int) -> int:
        with self._lock:
            self._busy += 1
        try:
            if count > MAX_INPUT_PAIRS or (count and not data):
                log.warning("toast activation refused: %d input pairs", count)
                return E_INVALIDARG
            inputs = {data[i].Key or "": data[i].Value or "" for i in range(count)}
            return self._on_activate(aumid or "", arguments or "", inputs)
        except Exception:  # an exception must not unwind into COM
            log.exception("toast activation failed")
            return E_FAIL
        finally:
            with self._lock:
                self._busy -= 1
                self.activations += 1
                self._last_done = time.monotonic()
                self._lock.notify_all()


def load_ole32() -> Any:
    """ole32.dll, or ComUnavailable off Windows."""
    loader = getattr(ctypes, "WinDLL", None)
    if loader is None:
        raise ComUnavailable(f"a COM server needs Windows (this is {sys.platform})")
    ole32 = loader("ole32")
    ole32.CoInitializeEx.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    ole32.CoInitializeEx.restype = _HRESULT
    ole32.CoRegisterClassObject.argtypes = [
        ctypes.POINTER(GUID),
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_ulong),
    ]
    ole32.CoRegisterClassObject.restype = _HRESULT
    ole32.CoRevokeClassObject.argtypes = [ctypes.c_ulong]
    ole32.CoRevokeClassObject.restype = _HRESULT
    ole32.CoUninitialize.argtypes = []
    ole32.CoUninitialize.restype = None
    return ole32


def serve(
    clsid: str,
    on_activate: ActivateHandler,
    *,
    first_call_seconds: float,
    idle_seconds: float,
    ole32: Any = None,
) -> int:
    """Be the class object of `clsid` until idle; the number of Activate calls answered."""
    com = ole32 if ole32 is not None else load_ole32()
    hr = com.CoInitializeEx(None, COINIT_MULTITHREADED)
    if hr < 0:
        raise ComError("CoInitializeEx", hr)
    try:
        activator = ToastActivator(clsid, on_activate)
        cookie = ctypes.c_ulong(0)
        hr = com.CoRegisterClassObject(
            ctypes.pointer(activator.clsid),
            activator.factory_pointer,
            CLSCTX_LOCAL_SERVER,
            REGCLS_MULTIPLEUSE,
            ctypes.pointer(cookie),
        )
        if hr < 0:
            raise ComError(f"CoRegisterClassObject({activator.clsid})", hr)
        log.debug("class object %s registered", activator.clsid)
        try:
            activator.wait_until_idle(first_call_seconds, idle_seconds)
        finally:
            com.CoRevokeClassObject(cookie)
        return activator.activations
    finally:
        com.CoUninitialize()
