"""What `ask()` returns: the user's answer to an Interactive notification, in plain Python."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from toasty_proto import v1


class Outcome(enum.Enum):
    BUTTON = "button"  # a button was clicked: button_id and inputs are set
    ACTIVATED = "activated"  # the toast body was clicked
    DISMISSED = "dismissed"
    TIMED_OUT = "timed_out"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"  # no desktop could show it
    UNSUPPORTED = "unsupported"
    EXPIRED = "expired"  # its expires_at came before an answer


_FROM_PROTO = {
    v1.InteractionKind.BUTTON: Outcome.BUTTON,
    v1.InteractionKind.ACTIVATED: Outcome.ACTIVATED,
    v1.InteractionKind.DISMISSED: Outcome.DISMISSED,
    v1.InteractionKind.TIMED_OUT: Outcome.TIMED_OUT,
    v1.InteractionKind.WITHDRAWN: Outcome.WITHDRAWN,
    v1.InteractionKind.FAILED: Outcome.FAILED,
    v1.InteractionKind.UNSUPPORTED: Outcome.UNSUPPORTED,
    v1.InteractionKind.EXPIRED: Outcome.EXPIRED,
}


@dataclass(frozen=True)
class Answer:
    """The one outcome of an Interactive notification."""

    notification_id: str
    outcome: Outcome
    button_id: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    backend: str = ""
    detail: str = ""

    @property
    def answered(self) -> bool:
        return self.outcome is Outcome.BUTTON

    @property
    def dismissed(self) -> bool:
        return self.outcome is Outcome.DISMISSED

    @property
    def timed_out(self) -> bool:
        return self.outcome is Outcome.TIMED_OUT

    @classmethod
    def from_proto(cls, event: v1.InteractionEvent) -> Answer:
        return cls(
            notification_id=event.notification_id,
            outcome=_FROM_PROTO.get(event.kind, Outcome.FAILED),
            button_id=event.button_id,
            inputs=dict(event.inputs),
            backend=event.backend,
            detail=event.detail,
        )
