"""A logging filter that stamps each record with the current call's trace id, agent and notification."""

from __future__ import annotations

import logging

from toasty_server.observability.context import current_call

CONTEXT_FIELDS = ("trace_id", "agent_id", "notification_id")


class CallContextFilter(logging.Filter):
    """Adds `trace_id`, `agent_id`, `notification_id` to records logged during an RPC, when known.

    Installed on the handler (not a logger) so it sees records from every module. A value passed by
    the call site with `extra=` wins.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        info = current_call()
        if info is None:
            return True
        for name in CONTEXT_FIELDS:
            value = getattr(info, name)
            if value and not hasattr(record, name):
                setattr(record, name, value)
        return True


def context_suffix(record: logging.LogRecord) -> str:
    """` [trace_id=… agent_id=…]` for the text format; empty outside of a call."""
    parts = [f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if getattr(record, name, "")]
    return f" [{' '.join(parts)}]" if parts else ""
