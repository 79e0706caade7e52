"""The activation arguments Toasty's Windows toasts carry, written and read in this one place.

Both ways a click comes back read them here: the in-process Activated event of the hub that showed the
toast (render.windows) and the COM activator Windows starts after that hub is gone
(render.windows_activation). The second gets them from whatever called the activator, so `read_click`
treats them as untrusted: it refuses, with a reason fit for a log line, anything a Toasty toast cannot
have produced.

Format: a button is `toasty:<notification id>:<button id>`, the body `toasty:<notification id>`, both ids
percent-encoded so ':' cannot be ambiguous.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from toasty_server.logs import escape_controls

ARGUMENT_PREFIX = "toasty:"

# Bounds of what a Toasty toast can carry (ids are at most TOASTY_MAX_ID_CHARS = 128 each, a global
# notification id is `<agent>~<id>`; at most 5 inputs), generous so a changed limit does not break clicks.
MAX_ARGUMENT_CHARS = 2048
MAX_ID_CHARS = 512
MAX_INPUTS = 16
MAX_INPUT_VALUE_CHARS = 16 * 1024
SHOWN_CHARS = 80  # of an untrusted value quoted in a log line


class BadActivation(ValueError):
    """Activation arguments no Toasty toast produced; the message is safe to log (values escaped)."""


@dataclass(frozen=True, slots=True)
class ToastClick:
    """A click on a Toasty toast: a button (button_id) or its body (button_id "")."""

    notification_id: str
    button_id: str
    inputs: dict[str, str] = field(default_factory=dict)


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def launch_arguments(notification_id: str) -> str:
    """What a click on the toast's body reports: the notification id."""
    return f"{ARGUMENT_PREFIX}{_quote(notification_id)}"


def button_arguments(notification_id: str, button_id: str) -> str:
    """What a click on a button reports: the notification id and the button id."""
    return f"{ARGUMENT_PREFIX}{_quote(notification_id)}:{_quote(button_id)}"


def parse_arguments(arguments: str) -> tuple[str, str] | None:
    """(notification id, button id) from activation arguments; button id "" for a body click; None if not ours."""
    if not arguments.startswith(ARGUMENT_PREFIX):
        return None
    parts = arguments[len(ARGUMENT_PREFIX) :].split(":")
    if len(parts) == 1 and parts[0]:
        return urllib.parse.unquote(parts[0]), ""
    if len(parts) == 2 and parts[0] and parts[1]:
        return urllib.parse.unquote(parts[0]), urllib.parse.unquote(parts[1])
    return None


def shown(value: str) -> str:
    """An untrusted value as a log line may quote it: cut short, control and bidi characters escaped."""
    cut = value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…"
    return f"'{escape_controls(cut)}'"


def _check_id(what: str, value: str) -> None:
    if len(value) > MAX_ID_CHARS:
        raise BadActivation(f"{what} is {len(value)} characters long (at most {MAX_ID_CHARS})")
    if not value.isprintable() or any(ch.isspace() for ch in value):
        raise BadActivation(f"{what} {shown(value)} has control or space characters")


def read_click(arguments: str | None, inputs: Mapping[str, str] | None = None) -> ToastClick:
    """The click that activation arguments and typed-in inputs stand for; BadActivation if no Toasty toast
    could have sent them (not ours, malformed, oversized, control characters in an id)."""
    if arguments is None or not arguments:
        raise BadActivation("no activation arguments (not a Toasty toast, or one showing a launch URL)")
    if len(arguments) > MAX_ARGUMENT_CHARS:
        raise BadActivation(f"activation arguments are {len(arguments)} characters long (at most {MAX_ARGUMENT_CHARS})")
    parsed = parse_arguments(arguments)
    if parsed is None:
        raise BadActivation(f"activation arguments {shown(arguments)} are not `toasty:<notification>[:<button>]`")
    notification_id, button_id = parsed
    _check_id("notification id", notification_id)
    if button_id:
        _check_id("button id", button_id)
    given = dict(inputs or {})
    if len(given) > MAX_INPUTS:
        raise BadActivation(f"{len(given)} inputs (a Toasty toast has at most {MAX_INPUTS})")
    for key, value in given.items():
        _check_id("input id", key)
        if len(value) > MAX_INPUT_VALUE_CHARS:
            raise BadActivation(f"input {shown(key)} is {len(value)} characters long (at most {MAX_INPUT_VALUE_CHARS})")
    return ToastClick(notification_id, button_id, given)
