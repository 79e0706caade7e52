"""Platform-neutral description of a toast, built from a Notification by `mapping`.

Backends only ever see these frozen dataclasses: no protobuf, no gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class Urgency(Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Kind(Enum):
    TEXT = "text"
    IMAGE_TEXT = "image_text"
    INTERACTIVE = "interactive"
    PROGRESS = "progress"


class Placement(Enum):
    HERO = "hero"
    INLINE = "inline"
    APP_LOGO = "app_logo"


class ProgressState(Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ImageSpec:
    path: Path | None  # local file; the dispatcher downloads `url` into the image cache and sets it
    url: str = ""
    placement: Placement = Placement.INLINE
    alt_text: str = ""
    crop_circle: bool = False


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class TextInputSpec:
    id: str
    title: str = ""
    placeholder: str = ""


@dataclass(frozen=True, slots=True)
class ChoiceSpec:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class SelectionSpec:
    id: str
    title: str
    choices: tuple[ChoiceSpec, ...]
    default_choice_id: str = ""


@dataclass(frozen=True, slots=True)
class ProgressSpec:
    key: str  # with the publisher, identifies the toast updated in place
    value: float  # 0..1
    indeterminate: bool = False
    status: str = ""
    caption: str = ""
    value_override: str = ""
    state: ProgressState = ProgressState.RUNNING


@dataclass(frozen=True, slots=True)
class ToastSpec:
    """Everything a backend needs to show (or update) one toast."""

    notification_id: str
    publisher: str  # agent id of the publisher
    kind: Kind
    title: str
    urgency: Urgency = Urgency.INFO
    lines: tuple[str, ...] = ()
    attribution: str = ""
    image: ImageSpec | None = None
    buttons: tuple[ButtonSpec, ...] = ()
    text_inputs: tuple[TextInputSpec, ...] = ()
    selections: tuple[SelectionSpec, ...] = ()
    progress: ProgressSpec | None = None
    launch_url: str = ""
    display_seconds: int = 0  # 0: the desktop's default
    deliver_at: float = 0.0  # unix seconds: not shown before (0: at once)
    expires_at: float = 0.0  # unix seconds: taken down then (0: never)
    group: str = ""  # toasts of one group from one publisher share one toast (attention.gate counts them)
    dedupe_key: str = ""  # the same event repeated: one toast with a repeat count
    actions: tuple[ButtonSpec, ...] = ()  # the hub's own actions (mute, snooze), after the publisher's buttons
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def replace_key(self) -> tuple[str, str] | None:
        """(publisher, key) for toasts updated in place (a progress key, a group, a dedupe key); None for
        one-off toasts. Group and dedupe keys are marked so they never meet a progress key."""
        if self.progress is not None:
            return (self.publisher, self.progress.key)
        if self.dedupe_key:
            return (self.publisher, f"\x00dedupe:{self.dedupe_key}")
        if self.group:
            return (self.publisher, f"\x00group:{self.group}")
        return None

    @property
    def has_inputs(self) -> bool:
        return bool(self.text_inputs or self.selections)
