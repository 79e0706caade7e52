"""When the person is not to be interrupted: do-not-disturb they turned on, and recurring quiet hours.

Do-not-disturb, the toasts held under it and the toasts waiting for their time (scheduled, expiring)
survive a restart of the hub: they are kept in a small JSON file beside the database (0600, rewritten
atomically), so a hub restarted at night does not start showing toasts, the digest at the end still
counts what was held before the restart, and a toast scheduled for 9:00 is shown at 9:00.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DND = "do-not-disturb"
QUIET_HOURS = "quiet hours"
MUTED = "muted"
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Daily ranges of local time, e.g. "22:00-07:00" (across midnight) or "12:00-13:00,22:00-07:00"."""

    ranges: tuple[tuple[dt.time, dt.time], ...] = ()
    spec: str = ""

    @classmethod
    def parse(cls, spec: str) -> QuietHours:
        """ValueError with what to fix for anything but comma-separated HH:MM-HH:MM ranges."""
        ranges = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            found = _RANGE.match(part)
            if found is None:
                raise ValueError(f"quiet hours {part!r}: write them as HH:MM-HH:MM, e.g. 22:00-07:00")
            h1, m1, h2, m2 = (int(g) for g in found.groups())
            if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
                raise ValueError(f"quiet hours {part!r}: hours go 00-23 and minutes 00-59")
            ranges.append((dt.time(h1, m1), dt.time(h2, m2)))
        return cls(tuple(ranges), ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in ranges))

    def contains(self, moment: dt.datetime) -> bool:
        now = moment.time()
        for start, end in self.ranges:
            if start <= end and start <= now < end:
                return True
            if start > end and (now >= start or now < end):  # across midnight
                return True
        return False


@dataclass(slots=True)
class Held:
    """A toast held back, as remembered across restarts (the digest and the page list these)."""

    notification_id: str
    agent: str
    title: str
    held_at: float
    reason: str
    question: bool = False


@dataclass(slots=True)
class Timed:
    """A toast waiting for its time: to be shown (deliver_at) or taken down (expires_at)."""

    notification_id: str
    at: float  # unix seconds
    agent: str = ""


@dataclass(slots=True)
class AttentionState:
    """What the person turned on, what was held while it was on, and what waits for its time."""

    dnd: bool = False
    dnd_until: float = 0.0  # unix seconds; 0: until turned off
    held: list[Held] = field(default_factory=list)
    scheduled: list[Timed] = field(default_factory=list)  # shown at their time
    expiring: list[Timed] = field(default_factory=list)  # taken down at their time
    muted: dict[str, float] = field(default_factory=dict)  # agent → unix seconds the mute ends


class AttentionFile:
    """The state in a JSON file; a damaged file is set aside (renamed) and the state starts empty."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> AttentionState:
        if self.path is None or not self.path.exists():
            return AttentionState()
        try:
            raw = json.loads(self.path.read_text())
            return AttentionState(
                bool(raw.get("dnd", False)),
                float(raw.get("dnd_until", 0.0)),
                [Held(**h) for h in raw.get("held", [])],
                [Timed(**t) for t in raw.get("scheduled", [])],
                [Timed(**t) for t in raw.get("expiring", [])],
                {str(agent): float(until) for agent, until in raw.get("muted", {}).items()},
            )
        except (OSError, ValueError, TypeError) as exc:
            aside = self.path.with_suffix(".damaged")
            with contextlib.suppress(OSError):
                self.path.replace(aside)
            log.warning("attention state %s unreadable (%s): set aside as %s, starting afresh", self.path, exc, aside)
            return AttentionState()

    def save(self, state: AttentionState) -> None:
        if self.path is None:
            return
        data = json.dumps(
            {
                "dnd": state.dnd,
                "dnd_until": state.dnd_until,
                "held": [asdict(h) for h in state.held],
                "scheduled": [asdict(t) for t in state.scheduled],
                "expiring": [asdict(t) for t in state.expiring],
                "muted": state.muted,
            }
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".attention-", dir=self.path.parent)
            with os.fdopen(fd, "w") as f:
                f.write(data)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:  # the hub goes on; only a restart would forget the state
            log.warning("cannot save the attention state to %s: %s", self.path, exc)
