"""Headless backend: one readable line per toast on a text stream (stderr by default)."""

from __future__ import annotations

import sys
from typing import TextIO

from toasty_server.render.backend import BackendStatus, InteractionSink
from toasty_server.render.spec import Kind, ToastSpec

_MARK = {"info": "i", "warning": "!", "critical": "!!"}


class ConsoleBackend:
    """Always available; also the last fallback when a desktop backend fails."""

    name = "console"
    available = True

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def start(self, sink: InteractionSink) -> None:
        return None

    def status(self) -> BackendStatus:
        return BackendStatus(self.name, True, "one line per toast on the server's standard error")

    async def show(self, toast: ToastSpec) -> None:
        stream = self._stream or sys.stderr
        stream.write(format_toast(toast) + "\n")
        stream.flush()

    async def withdraw(self, notification_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


def format_toast(toast: ToastSpec) -> str:
    """`[toast !! critical] Title — line1 / line2 (from agent, id)` plus what the kind adds."""
    parts = [f"[toast {_MARK[toast.urgency.value]} {toast.urgency.value}] {toast.title}"]
    body = " / ".join(line for line in toast.lines if line)
    if body:
        parts.append(f"— {body}")
    if toast.kind is Kind.IMAGE_TEXT and toast.image is not None:
        parts.append(f"[image {toast.image.placement.value}: {toast.image.path}]")
    if toast.kind is Kind.INTERACTIVE:
        parts.append("[" + " | ".join(f"{b.label} ({b.id})" for b in toast.buttons) + "]")
        inputs = [i.id for i in toast.text_inputs] + [s.id for s in toast.selections]
        if inputs:
            parts.append(f"[inputs: {', '.join(inputs)}]")
    if toast.progress is not None:
        p = toast.progress
        shown = p.value_override or ("…" if p.indeterminate else f"{p.value:.0%}")
        parts.append(f"[{p.key}: {shown} {p.state.value}{' — ' + p.status if p.status else ''}]")
    parts.append(f"(from {toast.publisher}, id {toast.notification_id})")
    return _one_printable_line(" ".join(parts))


def _one_printable_line(text: str) -> str:
    """Agents choose the text: show control characters (newlines, terminal escapes, bidi overrides)
    escaped, so a toast can neither forge console lines nor drive the operator's terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
