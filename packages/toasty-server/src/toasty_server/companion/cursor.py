"""The companion's resume point on disk: the last sequence it handled, per hub and client id.

The client resumes after the last sequence it saw while the process runs, but forgets it when the process
ends (its `subscribe(after_sequence=...)` is the caller's to persist). Kept here, a companion restarted
(or a laptop that slept and rebooted) receives what was published meanwhile and nothing it showed before.
Written with a rename, so a crash leaves the old point or the new one, never half a file; at worst the
last fraction of a second is shown again (at-least-once, as the hub's delivery).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")


@dataclass(frozen=True, slots=True)
class ResumePoint:
    sequence: int  # the last one handled; 0: none yet
    replay: bool = False  # the hub's log was replaced: read its retained entries from the beginning


class CursorFile:
    """One small JSON file in the state folder, named after the hub and the client id."""

    def __init__(self, state_dir: Path, hub: str, client_id: str) -> None:
        digest = hashlib.sha256(f"{hub}\n{client_id}".encode()).hexdigest()[:12]
        self.path = state_dir / f"{_UNSAFE.sub('_', client_id)}-{digest}.json"
        self._hub = hub
        self._client_id = client_id
        self._saved: ResumePoint | None = None
        self._failure = ""  # the last save's error, logged once

    def load(self) -> ResumePoint | None:
        """The saved point, or None on the first run (or when the file is unreadable: start afresh)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            point = ResumePoint(int(data["sequence"]), bool(data.get("replay", False)))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("resume point %s unreadable (%s): starting at the hub's live edge", self.path, exc)
            return None
        if point.sequence < 0:
            return None
        self._saved = point
        return point

    def save(self, point: ResumePoint) -> None:
        """Write the point if it changed; a failure is logged (the companion goes on showing toasts)."""
        if point == self._saved:
            return
        data = {"hub": self._hub, "client_id": self._client_id, "sequence": point.sequence, "replay": point.replay}
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            if str(exc) != self._failure:  # once per cause, not at every retry
                log.warning("cannot save the resume point in %s: %s", self.path, exc)
                self._failure = str(exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
            return
        self._saved, self._failure = point, ""
