"""`POST /v1/notify`: a plain-text body as a Text toast, for cron jobs and shell scripts that will never
write protobuf JSON (`curl -d "Backup done" localhost:8053/v1/notify`).

The body is UTF-8 text whatever its Content-Type (`curl -d` sends a form type: the body is taken as sent,
not form-decoded). Lines are split on LF, CRLF or CR; trailing whitespace and blank lines are dropped.
With a title (`X-Title` header, else `?title=`) the first line is body line 1 and the rest, joined with
LF, line 2; without one the first line (stripped) is the title, the second line 1 and the rest line 2. `X-Urgency` /
`?urgency=` is info, warning or critical (any case; default info). `X-Tags` / `?tags=` is a comma
separated list shown as the toast's attribution (the proto has no tags field). A header wins over its
query parameter. Lengths are the validator's (`ToastyApi`); `renamed` names what the caller sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from toasty_proto import v1
from toasty_server.errors import InvalidArgument

URGENCIES = {
    "info": v1.UrgencyLevel.INFO,
    "warning": v1.UrgencyLevel.WARNING,
    "critical": v1.UrgencyLevel.CRITICAL,
}
_TEXT = "notification.text_message"
_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class PlainNotice:
    """The publish a plain-text request stands for, and where each of its fields came from."""

    request: v1.PublishRequest
    sources: Mapping[str, str]  # the validator's field name → what the caller sent it as

    def renamed(self, exc: InvalidArgument) -> InvalidArgument:
        """The validator's refusal, naming the header, parameter or body part instead of the proto field."""
        source = self.sources.get(exc.field)
        if source is None:
            return exc
        problem = str(exc).removeprefix(f"{exc.field}: ")
        return InvalidArgument(source, problem)


def read_notice(raw: bytes, headers: Mapping[str, str], query: Mapping[str, str]) -> PlainNotice:
    """The notification of a plain-text request, or InvalidArgument saying what to send instead."""
    try:
        body = raw.decode("utf-8").removeprefix("\ufeff")  # a byte order mark is not text
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            "body", f"is not UTF-8 text (byte {exc.start} is invalid); send the message as UTF-8"
        ) from None
    lines = [line.rstrip() for line in _LINE_END.split(body)]
    lines = [line for line in lines if line]
    title, title_source = _option(headers, query, "title")
    sources: dict[str, str] = {}
    if title:
        sources[f"{_TEXT}.header.title"] = title_source
        first, rest = "body (its first line)", "body (its lines after the first)"
    elif lines:
        title = lines.pop(0).strip()
        sources[f"{_TEXT}.header.title"] = "body (its first line, the title)"
        first, rest = "body (its second line)", "body (its lines after the second)"
    else:
        raise InvalidArgument(
            "body",
            "is empty; send the message as the request body (curl -d 'Backup done' …/v1/notify), "
            "or a title in the X-Title header or ?title=",
        )
    sources[f"{_TEXT}.body_text_line1"] = first
    sources[f"{_TEXT}.body_text_line2"] = rest
    urgency, urgency_source = _option(headers, query, "urgency")
    level = URGENCIES.get(urgency.lower()) if urgency else v1.UrgencyLevel.INFO
    if level is None:
        raise InvalidArgument(urgency_source, f"{urgency[:40]!r} is not one of {', '.join(URGENCIES)}")
    tags_text, tags_source = _option(headers, query, "tags")
    tags = [tag.strip() for tag in tags_text.split(",")]
    sources[f"{_TEXT}.header.attribution"] = f"{tags_source} (the tags, shown as the attribution)"
    notification = v1.Notification(
        urgency=level,
        text_message=v1.TextMessage(
            header=v1.Header(title=title, attribution=", ".join(tag for tag in tags if tag)),
            body_text_line1=lines[0] if lines else "",
            body_text_line2="\n".join(lines[1:]),
        ),
    )
    return PlainNotice(v1.PublishRequest(notification=notification), sources)


def _option(headers: Mapping[str, str], query: Mapping[str, str], name: str) -> tuple[str, str]:
    """The value of `X-<Name>`, else of `?<name>=` (stripped), and how to name it in an error."""
    header = f"X-{name.capitalize()}"
    value, source = headers.get(header), f"{header} header"
    if value is None or not value.strip():
        value, source = query.get(name), f"{name} parameter"
    value = (value or "").strip()
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # aiohttp keeps header bytes that are not UTF-8 as lone surrogates
        raise InvalidArgument(source, "is not UTF-8 text") from None
    return value, source
