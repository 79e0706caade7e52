"""Typed builders for Toasty's four templates. They validate before anything is sent.

    TextNotification(title="Build passed", line1="main @ 4f2a9c").to_proto()

Limits mirror the server's defaults (5 buttons, 5 inputs, 256-character titles); the server checks
again with its configured limits.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from toasty_proto import v1

MAX_TITLE = 256
MAX_TEXT = 2048
MAX_BUTTONS = 5
MAX_INPUTS = 5

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")]
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE, strip_whitespace=True)]
Line = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
Label = Annotated[str, StringConstraints(max_length=MAX_TITLE)]


class Urgency(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    def to_proto(self) -> v1.UrgencyLevel:
        return {"info": v1.UrgencyLevel.INFO, "warning": v1.UrgencyLevel.WARNING}.get(
            self.value, v1.UrgencyLevel.CRITICAL
        )


class Placement(enum.Enum):
    HERO = "hero"
    INLINE = "inline"
    APP_LOGO = "app_logo"


class _Builder(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: Title
    urgency: Urgency = Urgency.INFO
    attribution: Label = ""
    id: Identifier | None = Field(None, description="Leave empty to let the client assign one.")
    idempotency_key: Identifier | None = None
    launch_url: str = ""
    display_seconds: int = Field(0, ge=0, le=86_400)

    def _header(self) -> v1.Header:
        return v1.Header(title=self.title, attribution=self.attribution)

    def _envelope(self) -> v1.Notification:
        return v1.Notification(
            id=self.id or "",
            urgency=self.urgency.to_proto(),
            idempotency_key=self.idempotency_key or "",
            launch_url=self.launch_url,
            display_seconds=self.display_seconds,
        )

    def to_proto(self) -> v1.Notification:
        raise NotImplementedError


class TextNotification(_Builder):
    """Title and up to two lines."""

    line1: Line = ""
    line2: Line = ""

    def to_proto(self) -> v1.Notification:
        n = self._envelope()
        n.text_message = v1.TextMessage(header=self._header(), body_text_line1=self.line1, body_text_line2=self.line2)
        return n


class Image(BaseModel):
    """A local file (absolute path) or an http(s) URL the server downloads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    placement: Placement = Placement.INLINE
    alt_text: Label = ""
    crop_circle: bool = False

    @field_validator("source")
    @classmethod
    def _absolute_or_url(cls, value: str) -> str:
        if value.startswith(("http://", "https://")):
            return value
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = path.resolve()
        return str(path)

    def to_proto(self) -> v1.Image:
        placement = {
            Placement.HERO: v1.ImagePlacement.HERO,
            Placement.INLINE: v1.ImagePlacement.INLINE,
            Placement.APP_LOGO: v1.ImagePlacement.APP_LOGO,
        }[self.placement]
        image = v1.Image(placement=placement, alt_text=self.alt_text, crop_circle=self.crop_circle)
        if self.source.startswith(("http://", "https://")):
            image.url = self.source
        else:
            image.path = self.source
        return image


class ImageTextNotification(TextNotification):
    """Text plus an image: hero banner, inline picture or app logo."""

    image: Image

    def to_proto(self) -> v1.Notification:
        n = self._envelope()
        n.image_text = v1.ImageTextMessage(
            header=self._header(), body_text_line1=self.line1, body_text_line2=self.line2, image=self.image.to_proto()
        )
        return n


class Button(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    label: Title


class TextInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    title: Label = ""
    placeholder: Label = ""


class Choice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    label: Title


class SelectionInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    title: Label = ""
    choices: list[Choice] = Field(min_length=1, max_length=20)
    default: str = ""

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> Self:
        if self.default and self.default not in {c.id for c in self.choices}:
            raise ValueError(f"default {self.default!r} is not one of the choice ids")
        _unique([c.id for c in self.choices], "choice ids")
        return self


class InteractiveNotification(TextNotification):
    """Buttons (at least one) and up to five text or selection inputs; the answer comes back to you."""

    buttons: list[Button] = Field(min_length=1, max_length=MAX_BUTTONS)
    inputs: list[TextInput | SelectionInput] = Field(default_factory=list, max_length=MAX_INPUTS)
    image: Image | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        _unique([b.id for b in self.buttons], "button ids")
        _unique([i.id for i in self.inputs], "input ids")
        return self

    def to_proto(self) -> v1.Notification:
        n = self._envelope()
        n.interactive = v1.Interactive(
            header=self._header(),
            body_text_line1=self.line1,
            body_text_line2=self.line2,
            buttons=[v1.Button(id=b.id, label=b.label) for b in self.buttons],
            text_inputs=[
                v1.TextInput(id=i.id, title=i.title, placeholder=i.placeholder)
                for i in self.inputs
                if isinstance(i, TextInput)
            ],
            selection_inputs=[
                v1.SelectionInput(
                    id=i.id,
                    title=i.title,
                    choices=[v1.SelectionChoice(id=c.id, label=c.label) for c in i.choices],
                    default_choice_id=i.default,
                )
                for i in self.inputs
                if isinstance(i, SelectionInput)
            ],
            image=self.image.to_proto() if self.image else None,
        )
        return n


class ProgressState(enum.Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProgressNotification(_Builder):
    """A progress bar; publishing again with the same `key` updates the same toast in place."""

    key: Identifier
    value: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False)
    indeterminate: bool = False
    status: Label = ""
    caption: Label = ""
    value_override: Label = ""
    state: ProgressState = ProgressState.RUNNING

    def to_proto(self) -> v1.Notification:
        n = self._envelope()
        n.progress = v1.Progress(
            header=self._header(),
            progress_key=self.key,
            value=self.value,
            indeterminate=self.indeterminate,
            status=self.status,
            caption=self.caption,
            value_override=self.value_override,
            state={
                ProgressState.RUNNING: v1.ProgressState.RUNNING,
                ProgressState.SUCCEEDED: v1.ProgressState.SUCCEEDED,
                ProgressState.FAILED: v1.ProgressState.FAILED,
            }[self.state],
        )
        return n


NotificationBuilder = TextNotification | ImageTextNotification | InteractiveNotification | ProgressNotification


def _unique(ids: list[str], what: str) -> None:
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(duplicates)}")
