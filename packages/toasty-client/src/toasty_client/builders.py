"""Typed builders for Toasty's four templates. They validate before anything is sent.

    TextNotification(title="Build passed", line1="main @ 4f2a9c").to_proto()

The rules mirror the server's (toasty_server.service.validation) with its default limits: 5 buttons,
5 inputs, 20 choices, 256-character titles and labels, 128-character ids. They live in the "Rules"
section below, and a refusal is a pydantic ValidationError that says what to fix. The server checks
again with its configured limits.
"""

from __future__ import annotations

import datetime
import enum
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, NoReturn, Protocol, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from toasty_proto import v1

MAX_TITLE = 256
MAX_TEXT = 2048
MAX_ID = 128
MAX_BUTTONS = 5
MAX_INPUTS = 5
MAX_CHOICES = 20

# -- Rules -------------------------------------------------------------------------------------------------

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]*")  # as toasty_server.service.validation
_ALNUM = frozenset(string.ascii_letters + string.digits)
_ID_RULE = "use only letters, digits and . _ : @ / -, starting with a letter or digit"


def _refuse(kind: str, problem: str) -> NoReturn:
    """Raise the ValidationError entry for `problem`, worded as given (no "Value error," prefix)."""
    raise PydanticCustomError(f"toasty_{kind}", "{problem}", {"problem": problem})


def _id_rule(value: str) -> str:
    """An id follows the server's rule: answers, URLs and logs carry it as is, and the server joins an
    agent's name to its ids with `~` (so `~` is never allowed)."""
    if not value:
        _refuse("id", f"is empty; give an id ({_ID_RULE})")
    if len(value) > MAX_ID:
        _refuse("id", f"id {value[:40]!r}... is {len(value)} characters long; the limit is {MAX_ID}")
    if not _ID.fullmatch(value):
        if value[0] not in _ALNUM:
            why = f"it starts with {_character(value[0])}"
        else:
            bad = next(c for c in value if c not in _ALNUM and c not in "._:@/-")
            why = f"it contains {_character(bad)}"
            if bad == "~":
                why += " (reserved: the server joins an agent's name to its ids with ~)"
        _refuse("id", f"id {value[:40]!r} does not match the id pattern: {why}; {_ID_RULE}")
    return value


def _character(c: str) -> str:
    """A character as a message shows it (a bare space would be easy to miss)."""
    return "a space" if c == " " else repr(c)


def _not_blank(value: str) -> str:
    """A title or a button or choice label is what the person reads (or clicks): it must say something."""
    if not value.strip():
        _refuse("blank", "must not be empty or only spaces; write the text the person reads")
    return value


class _HasId(Protocol):
    """A Button, TextInput, SelectionInput or Choice: what an answer names by id."""

    @property
    def id(self) -> str: ...


_T = TypeVar("_T", bound=_HasId)


def _id_list(what: str, low: int, high: int, *, none: str = "", shared: str = "") -> Callable[[list[_T]], list[_T]]:
    """A list of buttons, inputs or choices: between `low` and `high` of them (`none` says why at least one),
    and no id twice, since the answer names the button clicked and each input's value by id."""

    def check(items: list[_T]) -> list[_T]:
        if len(items) < low:
            _refuse("too_few", none or f"add at least {low} {what}")
        if len(items) > high:
            _refuse("too_many", f"has {len(items)} {what}s; at most {high} are allowed")
        _unique([item.id for item in items], what, shared)
        return items

    return check


def _unique(ids: Sequence[str], what: str, shared: str = "") -> None:
    repeated = [f"{i!r} is used {n} times" for i, n in Counter(ids).items() if n > 1]
    if repeated:
        _refuse(
            "duplicate_id", f"{what} ids must be unique{shared}: {', '.join(repeated)}; give each {what} its own id"
        )


Identifier = Annotated[str, AfterValidator(_id_rule)]  # ids of notifications, progress bars, buttons, inputs
# a notification title, a button or choice label: required; surrounding spaces are dropped
Title = Annotated[str, StringConstraints(max_length=MAX_TITLE, strip_whitespace=True), AfterValidator(_not_blank)]
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


def _unix_ms(moment: datetime.datetime | None) -> int:
    return 0 if moment is None else max(0, int(moment.timestamp() * 1000))


class _Builder(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: Title
    urgency: Urgency = Urgency.INFO
    attribution: Label = ""
    id: Identifier | None = Field(None, description="Leave empty to let the client assign one.")
    idempotency_key: Identifier | None = None
    launch_url: str = ""
    display_seconds: int = Field(0, ge=0, le=86_400)
    deliver_at: datetime.datetime | None = Field(
        None, description="Shown on the desktop at this time, not before (subscribers get it at once)."
    )
    expires_at: datetime.datetime | None = Field(
        None, description="Taken down at this time; a question still open then ends EXPIRED."
    )
    group: Label = Field("", description="Toasts of one group collapse into one that counts them (its name shows).")
    dedupe_key: Identifier | None = Field(None, description="The same event repeated updates one toast (x3).")

    @field_validator("deliver_at", "expires_at")
    @classmethod
    def _aware(cls, value: datetime.datetime | None) -> datetime.datetime | None:
        """A time without a zone is local time (as a person means it)."""
        return value.astimezone() if value is not None and value.tzinfo is None else value

    def _header(self) -> v1.Header:
        return v1.Header(title=self.title, attribution=self.attribution)

    def _envelope(self) -> v1.Notification:
        return v1.Notification(
            id=self.id or "",
            urgency=self.urgency.to_proto(),
            idempotency_key=self.idempotency_key or "",
            launch_url=self.launch_url,
            display_seconds=self.display_seconds,
            deliver_at_unix_ms=_unix_ms(self.deliver_at),
            expires_at_unix_ms=_unix_ms(self.expires_at),
            group=self.group,
            dedupe_key=self.dedupe_key or "",
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
    """A button on the toast; the answer names the one clicked by its `id`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    label: Title


class TextInput(BaseModel):
    """A text box; its `title` (shown above it) and `placeholder` are optional, as on the server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    title: Label = ""
    placeholder: Label = ""


class Choice(BaseModel):
    """One entry of a SelectionInput; the answer carries the chosen `id`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    label: Title


class SelectionInput(BaseModel):
    """A drop-down of 1 to 20 choices; `default` (a choice id, or empty for none) is preselected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    title: Label = ""
    choices: Annotated[list[Choice], AfterValidator(_id_list("choice", 1, MAX_CHOICES, shared=" within a selection"))]
    default: str = ""

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> Self:
        """The desktop can only preselect a choice that exists; the server refuses any other default."""
        ids = [c.id for c in self.choices]
        if self.default and self.default not in ids:
            _refuse(
                "default",
                f"default {self.default!r} is not one of the choice ids ({', '.join(map(repr, ids))}); "
                "set default to one of them, or leave it empty to preselect nothing",
            )
        return self


class InteractiveNotification(TextNotification):
    """Buttons (at least one) and up to five text or selection inputs; the answer comes back to you."""

    buttons: Annotated[
        list[Button],
        AfterValidator(
            _id_list("button", 1, MAX_BUTTONS, none="add at least one button: it is how the person answers")
        ),
    ]
    inputs: Annotated[
        list[TextInput | SelectionInput],
        AfterValidator(_id_list("input", 0, MAX_INPUTS, shared=" across text and selection inputs")),
    ] = Field(default_factory=list)
    image: Image | None = None

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
