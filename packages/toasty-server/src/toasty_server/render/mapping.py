"""Notification (protobuf) → ToastSpec (platform-neutral). The one place that reads payload fields."""

from __future__ import annotations

from pathlib import Path
from typing import Required, TypedDict

import betterproto2

from toasty_proto import v1
from toasty_server.render.spec import (
    ButtonSpec,
    ChoiceSpec,
    ImageSpec,
    Kind,
    Placement,
    ProgressSpec,
    ProgressState,
    SelectionSpec,
    TextInputSpec,
    ToastSpec,
    Urgency,
)

_URGENCY = {
    v1.UrgencyLevel.UNSPECIFIED: Urgency.INFO,
    v1.UrgencyLevel.INFO: Urgency.INFO,
    v1.UrgencyLevel.WARNING: Urgency.WARNING,
    v1.UrgencyLevel.CRITICAL: Urgency.CRITICAL,
}
_PLACEMENT = {
    v1.ImagePlacement.UNSPECIFIED: Placement.INLINE,
    v1.ImagePlacement.HERO: Placement.HERO,
    v1.ImagePlacement.INLINE: Placement.INLINE,
    v1.ImagePlacement.APP_LOGO: Placement.APP_LOGO,
}
_STATE = {
    v1.ProgressState.UNSPECIFIED: ProgressState.RUNNING,
    v1.ProgressState.RUNNING: ProgressState.RUNNING,
    v1.ProgressState.SUCCEEDED: ProgressState.SUCCEEDED,
    v1.ProgressState.FAILED: ProgressState.FAILED,
}


def toast_from_notification(n: v1.Notification, publisher: str, *, toast_id: str = "") -> ToastSpec:
    """Map a validated notification; unknown enum values were refused by validation already. `toast_id`:
    the server's global id of the notification (service.ids), else its own id."""
    _, payload = betterproto2.which_one_of(n, "payload")
    header = getattr(payload, "header", None)
    if header is None:  # (not `or`: a betterproto2 message's truth walks all its fields)
        header = v1.Header()
    return ToastSpec(
        notification_id=toast_id or n.id,
        publisher=publisher,
        title=header.title,
        attribution=header.attribution,
        urgency=_URGENCY.get(n.urgency, Urgency.INFO),
        launch_url=n.launch_url,
        display_seconds=n.display_seconds,
        deliver_at=n.deliver_at_unix_ms / 1000,
        expires_at=n.expires_at_unix_ms / 1000,
        group=n.group if n.interactive is None else "",  # questions stay one by one, each answerable
        dedupe_key=n.dedupe_key if n.interactive is None else "",
        **_payload_fields(n.id, payload),
    )


class _PayloadFields(TypedDict, total=False):
    """The ToastSpec fields that depend on the payload type (typed, so mypy checks them against ToastSpec)."""

    kind: Required[Kind]
    lines: tuple[str, ...]
    image: ImageSpec | None
    buttons: tuple[ButtonSpec, ...]
    text_inputs: tuple[TextInputSpec, ...]
    selections: tuple[SelectionSpec, ...]
    progress: ProgressSpec


def _payload_fields(notification_id: str, payload: object) -> _PayloadFields:
    """The kind and the ToastSpec fields of one payload type (one ToastSpec is built: this runs on every
    publish)."""
    if isinstance(payload, v1.TextMessage):
        return {"kind": Kind.TEXT, "lines": _lines(payload)}
    if isinstance(payload, v1.ImageTextMessage):
        return {"kind": Kind.IMAGE_TEXT, "lines": _lines(payload), "image": _image(payload.image)}
    if isinstance(payload, v1.Interactive):
        return {
            "kind": Kind.INTERACTIVE,
            "lines": _lines(payload),
            "image": _image(payload.image),
            "buttons": tuple(ButtonSpec(b.id, b.label) for b in payload.buttons),
            "text_inputs": tuple(TextInputSpec(t.id, t.title, t.placeholder) for t in payload.text_inputs),
            "selections": tuple(
                SelectionSpec(s.id, s.title, tuple(ChoiceSpec(c.id, c.label) for c in s.choices), s.default_choice_id)
                for s in payload.selection_inputs
            ),
        }
    if isinstance(payload, v1.Progress):
        return {
            "kind": Kind.PROGRESS,
            "lines": (payload.status,) if payload.status else (),
            "progress": ProgressSpec(
                key=payload.progress_key,
                value=payload.value,
                indeterminate=payload.indeterminate,
                status=payload.status,
                caption=payload.caption,
                value_override=payload.value_override,
                state=_STATE.get(payload.state, ProgressState.RUNNING),
            ),
        }
    raise ValueError(f"notification {notification_id} has no payload")  # validation makes this unreachable


def _lines(payload: v1.TextMessage | v1.ImageTextMessage | v1.Interactive) -> tuple[str, ...]:
    return tuple(line for line in (payload.body_text_line1, payload.body_text_line2) if line)


def _image(image: v1.Image | None) -> ImageSpec | None:
    if image is None:
        return None
    source, _ = betterproto2.which_one_of(image, "source")
    return ImageSpec(
        path=Path(image.path) if source == "path" and image.path else None,
        url=image.url or "" if source == "url" else "",
        placement=_PLACEMENT.get(image.placement, Placement.INLINE),
        alt_text=image.alt_text,
        crop_circle=image.crop_circle,
    )
