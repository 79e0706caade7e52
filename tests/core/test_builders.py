"""Client builders refuse what the server would refuse, before anything is sent."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from toasty_client import (
    Button,
    Choice,
    Image,
    ImageTextNotification,
    InteractiveNotification,
    Placement,
    ProgressNotification,
    SelectionInput,
    TextInput,
    TextNotification,
    Urgency,
)
from toasty_proto import v1


def test_text_builder_maps_every_field() -> None:
    n = TextNotification(title="Build", line1="passed", line2="main", urgency=Urgency.CRITICAL).to_proto()
    assert n.urgency == v1.UrgencyLevel.CRITICAL
    assert n.text_message is not None
    assert n.text_message.header is not None
    assert (n.text_message.header.title, n.text_message.body_text_line1, n.text_message.body_text_line2) == (
        "Build",
        "passed",
        "main",
    )


def test_image_builder_resolves_paths_and_keeps_urls(tmp_path: object) -> None:
    local = ImageTextNotification(title="t", image=Image(source="cat.png", placement=Placement.HERO)).to_proto()
    assert local.image_text is not None
    assert local.image_text.image is not None
    assert local.image_text.image.path
    assert local.image_text.image.path.startswith("/")
    assert local.image_text.image.placement == v1.ImagePlacement.HERO
    remote = ImageTextNotification(title="t", image=Image(source="https://example.org/a.png")).to_proto()
    assert remote.image_text is not None
    assert remote.image_text.image is not None
    assert remote.image_text.image.url == "https://example.org/a.png"


def test_interactive_builder_maps_buttons_and_inputs() -> None:
    n = InteractiveNotification(
        title="Deploy?",
        buttons=[Button(id="approve", label="Approve"), Button(id="reject", label="Reject")],
        inputs=[
            TextInput(id="reason", placeholder="why"),
            SelectionInput(
                id="env", choices=[Choice(id="prod", label="Prod"), Choice(id="dev", label="Dev")], default="dev"
            ),
        ],
    ).to_proto()
    assert n.interactive is not None
    assert [b.id for b in n.interactive.buttons] == ["approve", "reject"]
    assert n.interactive.text_inputs[0].placeholder == "why"
    assert n.interactive.selection_inputs[0].default_choice_id == "dev"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TextNotification(title=""), "title"),
        (lambda: TextNotification(title="x" * 300), "at most 256"),
        (lambda: InteractiveNotification(title="q", buttons=[]), "buttons"),
        (
            lambda: InteractiveNotification(title="q", buttons=[Button(id=f"b{i}", label="L") for i in range(6)]),
            "at most 5",
        ),
        (
            lambda: InteractiveNotification(title="q", buttons=[Button(id="a", label="A")] * 2),
            "button ids must be unique",
        ),
        (lambda: Button(id="has space", label="x"), "pattern"),
        (lambda: SelectionInput(id="s", choices=[Choice(id="a", label="A")], default="b"), "not one of the choice ids"),
        (lambda: ProgressNotification(title="p", key="k", value=1.2), "less than or equal to 1"),
        (lambda: ProgressNotification(title="p", key="k", value=float("nan")), "finite"),
        (lambda: TextNotification(title="t", surprise=1), "Extra inputs"),
    ],
)
def test_builders_refuse_invalid_input(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()  # type: ignore[operator]


def test_progress_builder() -> None:
    n = ProgressNotification(title="Upload", key="up-1", value=0.25, status="1/4", value_override="25 %").to_proto()
    assert n.progress is not None
    assert (n.progress.progress_key, n.progress.value, n.progress.value_override) == ("up-1", 0.25, "25 %")
