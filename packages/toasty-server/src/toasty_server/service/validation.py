"""Input validation with messages that name the field and say what to fix.

Runs before anything is stored, so a refused request changes nothing. Limits come from the settings.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import betterproto2

from toasty_proto import v1
from toasty_server.config import Settings
from toasty_server.errors import InvalidArgument
from toasty_server.service.ids import SEPARATOR

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]*")


def agent_id_problem(agent: str, max_chars: int) -> str | None:
    """What is wrong with an x-agent-id (None when fine): its length, or characters outside those of ids
    (so that `<agent>~<id>` names one notification only, and no control character reaches a log)."""
    if len(agent) > max_chars:
        return f"is {len(agent)} characters; the limit is {max_chars} (TOASTY_MAX_ID_CHARS)"
    if agent and not _ID.fullmatch(agent):
        return f"{agent[:40]!r} has characters outside letters, digits and . _ : @ / - (start alphanumeric)"
    return None


_PATH_SEPARATORS = re.compile(r"[\\/]")
_URGENCIES = frozenset(
    {v1.UrgencyLevel.UNSPECIFIED, v1.UrgencyLevel.INFO, v1.UrgencyLevel.WARNING, v1.UrgencyLevel.CRITICAL}
)
_PLACEMENTS = frozenset(v1.ImagePlacement)
_STATES = frozenset(v1.ProgressState)
MAX_DISPLAY_SECONDS = 24 * 3600
MAX_URL_CHARS = 2048


@dataclass(frozen=True, slots=True)
class Limits:
    """The validation limits, taken from Settings (each one is a documented setting)."""

    title_chars: int = 256
    text_chars: int = 2048
    id_chars: int = 128
    buttons: int = 5
    inputs: int = 5
    choices: int = 20
    launch_url_schemes: frozenset[str] = frozenset({"http", "https"})
    await_seconds: float = 300.0
    open_questions: int = 100  # per agent, and as many AwaitInteraction calls waiting at once
    max_schedule_seconds: float = 7 * 24 * 3600  # deliver_at / expires_at at most this far ahead

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            title_chars=settings.max_title_chars,
            text_chars=settings.max_text_chars,
            id_chars=settings.max_id_chars,
            buttons=settings.max_buttons,
            inputs=settings.max_inputs,
            choices=settings.max_choices,
            launch_url_schemes=frozenset(s.lower() for s in settings.launch_url_schemes),
            await_seconds=settings.max_await_seconds,
            open_questions=settings.max_open_questions_per_agent,
            max_schedule_seconds=settings.max_schedule_seconds,
        )


class Validator:
    """Checks requests against Limits; raises InvalidArgument on the first problem."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    # -- identifiers -----------------------------------------------------------------------------------

    def identifier(self, field: str, value: str, *, required: bool = False) -> None:
        if not value:
            if required:
                raise InvalidArgument(field, "is required")
            return
        if len(value) > self.limits.id_chars:
            raise InvalidArgument(field, f"is {len(value)} characters long; the limit is {self.limits.id_chars}")
        if not _ID.fullmatch(value):
            raise InvalidArgument(
                field, f"{value[:40]!r} has characters outside letters, digits and . _ : @ / - (start alphanumeric)"
            )

    def wait_seconds(self, field: str, value: float, default: float | None) -> float:
        """A caller's wait: finite and not negative (0 = `default`), capped at the await limit."""
        if not math.isfinite(value) or value < 0:
            raise InvalidArgument(field, f"{value!r} is not a number of seconds >= 0 (0 = the call's deadline)")
        if value:
            return min(value, self.limits.await_seconds)
        return self.limits.await_seconds if default is None else min(max(default, 0.0), self.limits.await_seconds)

    def notification_ref(self, field: str, value: str) -> None:
        """A notification named in a call: a local id, or a global `<agent>~<local id>` (service.ids)."""
        if not value:
            raise InvalidArgument(field, "is required")
        owner, separator, local = value.rpartition(SEPARATOR)
        if separator:
            self.identifier(f"{field} (the agent before {SEPARATOR})", owner, required=True)
        self.identifier(field, local, required=True)

    def client_id(self, field: str, value: str) -> None:
        self.identifier(field, value)

    # -- notifications ---------------------------------------------------------------------------------

    def publish(self, request: v1.PublishRequest) -> v1.Notification:
        self.identifier("target_client_id", request.target_client_id)
        if request.notification is None:
            raise InvalidArgument("notification", "is required")
        self.notification("notification", request.notification)
        return request.notification

    def _schedule(self, field: str, n: v1.Notification) -> None:
        """deliver_at within the schedule horizon; expires_at still to come and after deliver_at."""
        now_ms = time.time() * 1000
        horizon_ms = now_ms + self.limits.max_schedule_seconds * 1000
        if n.deliver_at_unix_ms > horizon_ms:
            raise InvalidArgument(
                f"{field}.deliver_at_unix_ms",
                f"is more than {self.limits.max_schedule_seconds:.0f} s ahead (TOASTY_MAX_SCHEDULE_SECONDS)",
            )
        if n.expires_at_unix_ms:
            if n.expires_at_unix_ms <= now_ms:
                raise InvalidArgument(f"{field}.expires_at_unix_ms", "is in the past: give a time still to come")
            if n.expires_at_unix_ms <= n.deliver_at_unix_ms:
                raise InvalidArgument(f"{field}.expires_at_unix_ms", "must come after deliver_at_unix_ms")
            if n.expires_at_unix_ms > horizon_ms:
                raise InvalidArgument(
                    f"{field}.expires_at_unix_ms",
                    f"is more than {self.limits.max_schedule_seconds:.0f} s ahead (TOASTY_MAX_SCHEDULE_SECONDS)",
                )

    def notification(self, field: str, n: v1.Notification) -> None:
        self.identifier(f"{field}.id", n.id)
        self.identifier(f"{field}.idempotency_key", n.idempotency_key)
        self.urgency(f"{field}.urgency", n.urgency)
        if n.display_seconds > MAX_DISPLAY_SECONDS:
            raise InvalidArgument(f"{field}.display_seconds", f"must be at most {MAX_DISPLAY_SECONDS}")
        if n.launch_url:
            self.url(f"{field}.launch_url", n.launch_url, schemes=self.limits.launch_url_schemes, host=False)
        self._schedule(field, n)
        self.text(f"{field}.group", n.group, limit=self.limits.title_chars)
        self.identifier(f"{field}.dedupe_key", n.dedupe_key)
        kind, payload = betterproto2.which_one_of(n, "payload")
        if payload is None:
            raise InvalidArgument(f"{field}.payload", "set one of text_message, image_text, interactive, progress")
        where = f"{field}.{kind}"
        if isinstance(payload, v1.TextMessage):
            self._header_and_body(where, payload.header, payload.body_text_line1, payload.body_text_line2)
        elif isinstance(payload, v1.ImageTextMessage):
            self._header_and_body(where, payload.header, payload.body_text_line1, payload.body_text_line2)
            if payload.image is None:
                raise InvalidArgument(f"{where}.image", "is required for an image_text notification")
            self.image(f"{where}.image", payload.image)
        elif isinstance(payload, v1.Interactive):
            self.interactive(where, payload)
        elif isinstance(payload, v1.Progress):
            self.progress(where, payload)

    def urgency(self, field: str, value: v1.UrgencyLevel) -> None:
        if value not in _URGENCIES:
            raise InvalidArgument(field, f"unknown value {int(value)}; use INFO (1), WARNING (2) or CRITICAL (3)")

    def text(self, field: str, value: str, *, required: bool = False, limit: int | None = None) -> None:
        limit = limit or self.limits.text_chars
        if required and not value.strip():
            raise InvalidArgument(field, "is required and must not be blank")
        if len(value) > limit:
            raise InvalidArgument(field, f"is {len(value)} characters long; the limit is {limit}")

    def _header_and_body(self, where: str, header: v1.Header | None, line1: str, line2: str) -> None:
        if header is None:
            raise InvalidArgument(f"{where}.header.title", "is required")
        self.text(f"{where}.header.title", header.title, required=True, limit=self.limits.title_chars)
        self.text(f"{where}.header.attribution", header.attribution, limit=self.limits.title_chars)
        self.text(f"{where}.body_text_line1", line1)
        self.text(f"{where}.body_text_line2", line2)

    def url(self, field: str, value: str, *, schemes: frozenset[str] | None, host: bool = True) -> None:
        if len(value) > MAX_URL_CHARS:
            raise InvalidArgument(field, f"is longer than {MAX_URL_CHARS} characters")
        parts = urlsplit(value)
        if not parts.scheme or (schemes is not None and parts.scheme.lower() not in schemes):
            allowed = " or ".join(sorted(schemes)) if schemes else "a scheme"
            setting = " (TOASTY_LAUNCH_URL_SCHEMES lists the allowed ones)" if not host else ""
            raise InvalidArgument(field, f"{value[:60]!r} must be a URL with {allowed}{setting}")
        if host and schemes and not parts.netloc:
            raise InvalidArgument(field, f"{value[:60]!r} has no host")

    def image(self, field: str, image: v1.Image) -> None:
        source, _ = betterproto2.which_one_of(image, "source")
        if source == "path":
            path = image.path or ""
            if "\x00" in path or (not path.startswith("/") and not _is_windows_absolute(path)):
                raise InvalidArgument(f"{field}.path", f"{path[:60]!r} must be an absolute path")
            if ".." in _PATH_SEPARATORS.split(path):
                raise InvalidArgument(f"{field}.path", f"{path[:60]!r} climbs with '..'; give the image's own path")
            self.text(f"{field}.path", path, limit=4096)
        elif source == "url":
            self.url(f"{field}.url", image.url or "", schemes=frozenset({"http", "https"}))
        else:
            raise InvalidArgument(f"{field}", "set path (a local file) or url (http or https)")
        if image.placement not in _PLACEMENTS:
            raise InvalidArgument(f"{field}.placement", f"unknown value {int(image.placement)}")
        self.text(f"{field}.alt_text", image.alt_text)

    def interactive(self, where: str, payload: v1.Interactive) -> None:
        self._header_and_body(where, payload.header, payload.body_text_line1, payload.body_text_line2)
        if payload.image is not None:
            self.image(f"{where}.image", payload.image)
        if not payload.buttons:
            raise InvalidArgument(f"{where}.buttons", "add at least one button: it is how the user answers")
        if len(payload.buttons) > self.limits.buttons:
            raise InvalidArgument(
                f"{where}.buttons", f"has {len(payload.buttons)} buttons; the limit is {self.limits.buttons}"
            )
        inputs = len(payload.text_inputs) + len(payload.selection_inputs)
        if inputs > self.limits.inputs:
            raise InvalidArgument(
                f"{where}.text_inputs/selection_inputs", f"has {inputs} inputs; the limit is {self.limits.inputs}"
            )
        self._unique_ids(f"{where}.buttons", [b.id for b in payload.buttons])
        for i, button in enumerate(payload.buttons):
            self.text(f"{where}.buttons[{i}].label", button.label, required=True, limit=self.limits.title_chars)
        input_ids = [t.id for t in payload.text_inputs] + [s.id for s in payload.selection_inputs]
        self._unique_ids(f"{where}.inputs", input_ids)
        for i, text_input in enumerate(payload.text_inputs):
            self.text(f"{where}.text_inputs[{i}].title", text_input.title, limit=self.limits.title_chars)
            self.text(f"{where}.text_inputs[{i}].placeholder", text_input.placeholder, limit=self.limits.title_chars)
        for i, selection in enumerate(payload.selection_inputs):
            field = f"{where}.selection_inputs[{i}]"
            self.text(f"{field}.title", selection.title, limit=self.limits.title_chars)
            if not selection.choices:
                raise InvalidArgument(f"{field}.choices", "add at least one choice")
            if len(selection.choices) > self.limits.choices:
                raise InvalidArgument(
                    f"{field}.choices", f"has {len(selection.choices)} choices; the limit is {self.limits.choices}"
                )
            choice_ids = [c.id for c in selection.choices]
            self._unique_ids(f"{field}.choices", choice_ids)
            for j, choice in enumerate(selection.choices):
                self.text(f"{field}.choices[{j}].label", choice.label, required=True, limit=self.limits.title_chars)
            if selection.default_choice_id and selection.default_choice_id not in choice_ids:
                raise InvalidArgument(
                    f"{field}.default_choice_id", f"{selection.default_choice_id!r} is not one of the choice ids"
                )

    def progress(self, where: str, payload: v1.Progress) -> None:
        if payload.header is None:
            raise InvalidArgument(f"{where}.header.title", "is required")
        self.text(f"{where}.header.title", payload.header.title, required=True, limit=self.limits.title_chars)
        self.identifier(f"{where}.progress_key", payload.progress_key, required=True)
        if not payload.indeterminate and not (math.isfinite(payload.value) and 0.0 <= payload.value <= 1.0):
            raise InvalidArgument(f"{where}.value", f"{payload.value} must be between 0.0 and 1.0 (or indeterminate)")
        for name in ("status", "caption", "value_override"):
            self.text(f"{where}.{name}", getattr(payload, name), limit=self.limits.title_chars)
        if payload.state not in _STATES:
            raise InvalidArgument(f"{where}.state", f"unknown value {int(payload.state)}")

    def _unique_ids(self, field: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for i, value in enumerate(ids):
            self.identifier(f"{field}[{i}].id", value, required=True)
            if value in seen:
                raise InvalidArgument(f"{field}[{i}].id", f"{value!r} is used twice; ids must be unique")
            seen.add(value)

    # -- legacy --------------------------------------------------------------------------------------

    def send_notification(self, request: v1.SendNotificationRequest) -> None:
        self.text("title", request.title, required=True, limit=self.limits.title_chars)
        self.text("message", request.message)
        self.urgency("level", request.level)


def _is_windows_absolute(path: str) -> bool:
    return len(path) > 2 and path[1] == ":" and path[2] in "\\/"
