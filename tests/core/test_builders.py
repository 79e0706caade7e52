"""Client builders refuse what the server would refuse, before anything is sent."""

from __future__ import annotations

import re

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


def _ask(*inputs: TextInput | SelectionInput, buttons: list[Button] | None = None) -> InteractiveNotification:
    return InteractiveNotification(title="q", buttons=buttons or [Button(id="ok", label="OK")], inputs=list(inputs))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        # a default that is not a choice names the default and lists the choices
        (
            lambda: SelectionInput(id="s", choices=[Choice(id="a", label="A"), Choice(id="c", label="C")], default="b"),
            "default 'b' is not one of the choice ids ('a', 'c'); set default to one of them",
        ),
        # required text must say something
        (lambda: Button(id="ok", label=""), "label\n  must not be empty or only spaces"),
        (lambda: Button(id="ok", label="   "), "label\n  must not be empty or only spaces"),
        (lambda: Choice(id="a", label=" \t"), "label\n  must not be empty or only spaces"),
        (lambda: TextNotification(title="  "), "title\n  must not be empty or only spaces"),
        # duplicate ids name the id
        (
            lambda: _ask(buttons=[Button(id="go", label="Go"), Button(id="go", label="Go now")]),
            "button ids must be unique: 'go' is used 2 times; give each button its own id",
        ),
        (
            lambda: _ask(TextInput(id="env"), SelectionInput(id="env", choices=[Choice(id="p", label="P")])),
            "input ids must be unique across text and selection inputs: 'env' is used 2 times",
        ),
        (
            lambda: _ask(TextInput(id="why"), TextInput(id="why")),
            "input ids must be unique across text and selection inputs: 'why' is used 2 times",
        ),
        (
            lambda: SelectionInput(id="s", choices=[Choice(id="a", label="A"), Choice(id="a", label="B")]),
            "choice ids must be unique within a selection: 'a' is used 2 times; give each choice its own id",
        ),
        # the id rule, with the offending character named
        (
            lambda: Button(id="has space", label="x"),
            "id 'has space' does not match the id pattern: it contains a space",
        ),
        (lambda: Choice(id="a~b", label="x"), "it contains '~' (reserved"),
        (lambda: TextInput(id="-x"), "it starts with '-'; use only letters, digits and . _ : @ / -"),
        (lambda: SelectionInput(id="s!", choices=[Choice(id="a", label="A")]), "it contains '!'"),
        (lambda: TextNotification(title="t", id="agent~1"), "it contains '~'"),
        (lambda: ProgressNotification(title="p", key=""), "key\n  is empty; give an id"),
        (lambda: Button(id="a" * 129, label="x"), "is 129 characters long; the limit is 128"),
        # the server's limits
        (
            lambda: InteractiveNotification(title="q", buttons=[]),
            "add at least one button: it is how the person answers",
        ),
        (lambda: _ask(buttons=[Button(id=f"b{i}", label="L") for i in range(6)]), "has 6 buttons; at most 5"),
        (lambda: _ask(*[TextInput(id=f"i{i}") for i in range(6)]), "has 6 inputs; at most 5 are allowed"),
        (
            lambda: SelectionInput(id="s", choices=[Choice(id=f"c{i}", label="C") for i in range(21)]),
            "has 21 choices; at most 20 are allowed",
        ),
        (lambda: SelectionInput(id="s", choices=[]), "add at least 1 choice"),
    ],
)
def test_refusals_say_what_to_fix(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        build()  # type: ignore[operator]


def test_a_nested_refusal_points_at_the_field_without_pydantic_prefixes() -> None:
    with pytest.raises(ValidationError) as refused:
        InteractiveNotification.model_validate(
            {"title": "q", "buttons": [{"id": "ok", "label": "OK"}, {"id": "no", "label": " "}]}
        )
    [error] = refused.value.errors()
    assert error["loc"] == ("buttons", 1, "label")
    assert error["msg"] == "must not be empty or only spaces; write the text the person reads"


def test_progress_builder() -> None:
    n = ProgressNotification(title="Upload", key="up-1", value=0.25, status="1/4", value_override="25 %").to_proto()
    assert n.progress is not None
    assert (n.progress.progress_key, n.progress.value, n.progress.value_override) == ("up-1", 0.25, "25 %")
