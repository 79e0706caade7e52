"""Logging set-up: readable text by default, one JSON object per line with TOASTY_LOG_FORMAT=json.

Either way, a line logged while handling an RPC carries that call's trace id, agent id and (when known)
notification id: the handler's CallContextFilter stamps them on the record.

Log lines quote what callers send (paths, ids, agent ids, refusals that name a bad value), so neither
format lets a control character through raw: the text format shows each as an escape (`\\x1b`, `\\u202e`)
and keeps a record on one line (a traceback keeps its own line breaks only); the JSON format is all ASCII.
"""

from __future__ import annotations

import json
import logging
import sys
import unicodedata
from types import TracebackType
from typing import Any, TypeAlias

from toasty_server.observability.log_context import CallContextFilter, context_suffix

ROOT_LOGGER = "toasty_server"

_ESCAPED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})  # control, format (bidi), surrogate, line separators
_ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def escape_controls(text: str, keep: str = "") -> str:
    """`text` with control, bidi and line-separator characters (but those in `keep`) as escapes: `\\x1b`,
    `\\n`, `\\u202e`. Raw, they could forge log lines or drive the terminal of whoever reads the log."""
    if text.isprintable():  # the common case; False for every character escaped here
        return text
    return "".join(repr(ch)[1:-1] if ch not in keep and unicodedata.category(ch) in _ESCAPED else ch for ch in text)


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
        return json.dumps(out, default=str, ensure_ascii=True)


class TextFormatter(logging.Formatter):
    """The readable format, with ` [trace_id=… agent_id=…]` appended inside a call; one line a record
    (plus its traceback, if any), control characters escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record) + context_suffix(record))

    def formatException(self, ei: _ExcInfo) -> str:
        return escape_controls(super().formatException(ei), keep="\n")

    def formatStack(self, stack_info: str) -> str:
        return escape_controls(super().formatStack(stack_info), keep="\n")


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
