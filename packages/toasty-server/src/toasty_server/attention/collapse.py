"""Grouping and de-duplication: many toasts of one kind become one toast that counts them.

`group`: toasts of one group from one agent collapse into one ("Build farm: 5 new — latest: job 42
failed"); `dedupe_key`: the same event repeated within the window updates one toast with a repeat count
("Disk almost full (x3)"). The toast is replaced in place (its replace key), so the desktop shows one.
A window of quiet (TOASTY_COLLAPSE_WINDOW_SECONDS) starts the count over.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

from toasty_server.render.spec import ToastSpec

MAX_TRACKED = 10_000  # groups and dedupe keys counted at once; the least recently seen are forgotten


@dataclass(slots=True)
class _Count:
    count: int
    last_at: float


class Collapser:
    """Counts grouped and repeated toasts and rewrites their title; remembers a bounded number of keys."""

    def __init__(self, window_seconds: float) -> None:
        self._window = window_seconds
        self._counts: OrderedDict[tuple[str, str], _Count] = OrderedDict()

    def collapse(self, toast: ToastSpec, now: float) -> tuple[ToastSpec, bool]:
        """The toast to show, and whether it folds into one already shown (the count went past one)."""
        if not (toast.group or toast.dedupe_key) or toast.progress is not None or toast.buttons:
            return toast, False
        key = toast.replace_key
        assert key is not None
        found = self._counts.get(key)
        if found is None or now - found.last_at > self._window:
            found = _Count(0, now)
        found.count += 1
        found.last_at = now
        self._counts[key] = found
        self._counts.move_to_end(key)
        if len(self._counts) > MAX_TRACKED:
            self._counts.popitem(last=False)
        if found.count == 1:
            return toast, False
        if toast.dedupe_key:
            title = f"{toast.title} (x{found.count})"
        else:
            title = f"{toast.group}: {found.count} new — latest: {toast.title}"
        return dataclasses.replace(toast, title=title), True
