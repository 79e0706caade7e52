"""What every log line of a call should carry: its trace id, the calling agent, the notification.

grpc.aio runs each RPC in its own task, and the interceptors run in that task before the handler, so
a context variable set by an interceptor is seen by the handler and everything it calls, and by no
other call.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toasty_server.access.principal import Principal

TRACEPARENT_KEY = "traceparent"
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_INVALID_TRACE_ID = "0" * 32


@dataclass(slots=True)
class CallInfo:
    """The facts of one RPC that logs and error messages need."""

    method: str
    trace_id: str
    agent_id: str = ""
    notification_id: str = ""
    principal: Principal | None = None  # set by the access check (gRPC interceptor, HTTP middleware)


_CALL: ContextVar[CallInfo | None] = ContextVar("toasty_call", default=None)


def current_call() -> CallInfo | None:
    """The RPC being handled in this task, or None outside of any call."""
    return _CALL.get()


def begin_call(method: str, traceparent: str = "") -> CallInfo:
    """Start the context of one call (its trace id taken from a W3C `traceparent` when valid)."""
    info = CallInfo(method=method, trace_id=trace_id_from(traceparent))
    _CALL.set(info)
    return info


def ensure_call(method: str) -> CallInfo:
    """The current call's context, starting one (with a fresh trace id) when none is set."""
    info = _CALL.get()
    return info if info is not None and info.method == method else begin_call(method)


def set_notification_id(notification_id: str) -> None:
    """Attach a notification id to the current call's log lines (a hook for the servicer)."""
    info = _CALL.get()
    if info is not None and notification_id:
        info.notification_id = notification_id


def begin_item(notification_id: str) -> None:
    """In a task of its own that handles one item of a streaming call (PublishStream): the call's
    context with this item's notification id, without touching the call's or other items'."""
    info = _CALL.get()
    if info is not None:
        printable = notification_id if notification_id.isprintable() else ""
        _CALL.set(CallInfo(info.method, info.trace_id, info.agent_id, printable, info.principal))


def trace_id_from(traceparent: str) -> str:
    """The trace id of a W3C traceparent (`00-<32 hex>-<16 hex>-<2 hex>`), else a new random one."""
    match = _TRACEPARENT.fullmatch(traceparent.strip().lower())
    if match is None or match.group(1) == _INVALID_TRACE_ID or traceparent.startswith("ff"):
        return uuid.uuid4().hex
    return match.group(1)
