"""Logging set-up: readable text by default, one JSON object per line with TOASTY_LOG_FORMAT=json.

Either way, a line logged while handling an RPC carries that call's trace id, agent id and (when known)
notification id: the handler's CallContextFilter stamps them on the record.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from toasty_server.observability.log_context import CallContextFilter, context_suffix

ROOT_LOGGER = "toasty_server"


class JsonFormatter(logging.Formatter):
    """One JSON object a line, with any `extra=` fields the call site attached."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """The readable format, with ` [trace_id=… agent_id=…]` appended inside a call."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record) + context_suffix(record)


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = __import__("time").gmtime
    else:
        formatter = TextFormatter()
    handler.setFormatter(formatter)
    handler.addFilter(CallContextFilter())
    logger = logging.getLogger(ROOT_LOGGER)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
