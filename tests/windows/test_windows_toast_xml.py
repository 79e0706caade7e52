"""The toast XML Windows would receive for every payload type and urgency (real windows-toasts, fake WinRT)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from xml.etree.ElementTree import canonicalize

import pytest

from toasty_server.render.spec import (
    ButtonSpec,
    ChoiceSpec,
    ImageSpec,
    Kind,
    Placement,
    ProgressSpec,
    SelectionSpec,
    TextInputSpec,
    ToastSpec,
    Urgency,
)
from toasty_server.render.windows import MAX_TAG_CHARS, WindowsBackend, parse_arguments

TEXTS = '<text id="1">{text1}</text><text id="2">{text2}</text><text id="3">{text3}</text>'


def same_xml(actual: str, expected: str) -> bool:
    """Equal as XML (attribute order aside)."""
    return canonicalize(xml_data=actual) == canonicalize(xml_data=expected)


def generic(body: str, tail: str = "", toast_attrs: str = 'launch="toasty:n1"') -> str:
    return (
        f'<toast {toast_attrs} useButtonStyle="true"><visual><binding template="ToastGeneric">{body}</binding>'
        f"</visual>{tail}</toast>"
    )


async def shown_one(backend: WindowsBackend, fake: ModuleType, spec: ToastSpec) -> object:
    await backend.show(spec)
    shown = fake.notifier_for(backend.aumid).shown
    assert len(shown) == 1
    return shown[0]


async def test_text_title_and_two_lines(backend: WindowsBackend, fake: ModuleType) -> None:
    spec = ToastSpec("n1", "agent", Kind.TEXT, "Build done", lines=("main is green", "12 tests"))
    toast = await shown_one(backend, fake, spec)
    assert same_xml(toast.xml, generic(TEXTS))
    assert dict(toast.data.values) == {"text1": "Build done", "text2": "main is green", "text3": "12 tests"}
    assert same_xml(
        toast.rendered_xml,
        generic('<text id="1">Build done</text><text id="2">main is green</text><text id="3">12 tests</text>'),
    )
    assert (toast.tag, toast.group) == ("toasty:n1", "toasty")


async def test_text_with_one_line_and_attribution(backend: WindowsBackend, fake: ModuleType) -> None:
    spec = ToastSpec("n1", "agent", Kind.TEXT, "Title", lines=("only line",), attribution="via CI")
    toast = await shown_one(backend, fake, spec)
    body = '<text id="1">{text1}</text><text id="2">{text2}</text><text placement="attribution">via CI</text>'
    assert same_xml(toast.xml, generic(body))


@pytest.mark.parametrize(
    ("placement", "crop", "attrs"),
    [
        (Placement.HERO, True, 'placement="hero"'),  # Windows cannot crop a hero image: not asked
        (Placement.INLINE, False, 'placement=""'),
        (Placement.APP_LOGO, True, 'placement="appLogoOverride" hint-crop="circle"'),
    ],
)
async def test_image_text_placements(
    backend: WindowsBackend, fake: ModuleType, image: Path, placement: Placement, crop: bool, attrs: str
) -> None:
    spec = ToastSpec(
        "n1",
        "agent",
        Kind.IMAGE_TEXT,
        "Screenshot",
        lines=("of the failing page",),
        image=ImageSpec(image, placement=placement, alt_text="the page", crop_circle=crop),
    )
    toast = await shown_one(backend, fake, spec)
    img = f'<image src="{image.as_uri()}" id="1" alt="the page" {attrs}/>'
    assert same_xml(toast.xml, generic('<text id="1">{text1}</text><text id="2">{text2}</text>' + img))


async def test_missing_image_file_shows_the_toast_without_it(
    backend: WindowsBackend, fake: ModuleType, tmp_path: Path
) -> None:
    spec = ToastSpec("n1", "a", Kind.IMAGE_TEXT, "T", image=ImageSpec(tmp_path / "gone.png"))
    toast = await shown_one(backend, fake, spec)
    assert same_xml(toast.xml, generic('<text id="1">{text1}</text>'))


async def test_url_image_not_downloaded_is_left_out(backend: WindowsBackend, fake: ModuleType) -> None:
    spec = ToastSpec("n1", "a", Kind.IMAGE_TEXT, "T", image=ImageSpec(None, url="https://example.com/a.png"))
    toast = await shown_one(backend, fake, spec)
    assert "<image" not in toast.xml


INTERACTIVE = ToastSpec(
    "n1",
    "agent",
    Kind.INTERACTIVE,
    "Deploy to prod?",
    lines=("build 42",),
    buttons=(ButtonSpec("approve", "Approve"), ButtonSpec("reject", "Reject")),
    text_inputs=(TextInputSpec("reason", "Reason", "why?"),),
    selections=(
        SelectionSpec("env", "Environment", (ChoiceSpec("prod", "Production"), ChoiceSpec("stg", "Staging")), "stg"),
    ),
)


async def test_interactive_buttons_and_inputs(backend: WindowsBackend, fake: ModuleType) -> None:
    toast = await shown_one(backend, fake, INTERACTIVE)
    actions = (
        "<actions>"
        '<input id="reason" title="Reason" type="text" placeHolderContent="why?"/>'
        '<input id="env" title="Environment" type="selection" defaultInput="stg">'
        '<selection id="prod" content="Production"/><selection id="stg" content="Staging"/></input>'
        '<action content="Approve" arguments="toasty:n1:approve"/>'
        '<action content="Reject" arguments="toasty:n1:reject"/>'
        "</actions>"
    )
    expected = generic(
        '<text id="1">{text1}</text><text id="2">{text2}</text>', actions, 'launch="toasty:n1" duration="long"'
    )
    assert same_xml(toast.xml, expected)
    assert parse_arguments("toasty:n1:approve") == ("n1", "approve")


async def test_interactive_without_default_selection(backend: WindowsBackend, fake: ModuleType) -> None:
    sel = SelectionSpec("env", "Env", (ChoiceSpec("a", "A"),))
    spec = ToastSpec("n1", "a", Kind.INTERACTIVE, "T", buttons=(ButtonSpec("ok", "OK"),), selections=(sel,))
    toast = await shown_one(backend, fake, spec)
    assert '<input id="env" title="Env" type="selection"><selection id="a" content="A"/></input>' in toast.xml


async def test_five_buttons_and_five_inputs_all_rendered(backend: WindowsBackend, fake: ModuleType) -> None:
    # windows-toasts' AddAction/AddInput would stop at 5 actions + inputs together; Windows allows 5 + 5.
    spec = ToastSpec(
        "n1",
        "a",
        Kind.INTERACTIVE,
        "T",
        buttons=tuple(ButtonSpec(f"b{i}", f"B{i}") for i in range(5)),
        text_inputs=tuple(TextInputSpec(f"t{i}") for i in range(3)),
        selections=tuple(SelectionSpec(f"s{i}", "S", (ChoiceSpec("x", "X"),)) for i in range(2)),
    )
    toast = await shown_one(backend, fake, spec)
    assert toast.xml.count("<action ") == 5
    assert toast.xml.count("<input ") == 5


async def test_progress_bar_bound_to_data(backend: WindowsBackend, fake: ModuleType) -> None:
    spec = ToastSpec(
        "n1",
        "agent",
        Kind.PROGRESS,
        "Uploading",
        lines=("3 of 12 files",),
        progress=ProgressSpec("upload", 0.25, status="3 of 12 files", caption="dataset.zip"),
    )
    toast = await shown_one(backend, fake, spec)
    progress = (
        '<progress status="{status}" value="{progress}" valueStringOverride="{progress_override}" title="{caption}"/>'
    )
    assert same_xml(toast.xml, generic('<text id="1">{text1}</text>' + progress, toast_attrs=f'launch="{toast.tag}"'))
    assert toast.tag.startswith("toasty-p:")
    assert dict(toast.data.values) == {
        "text1": "Uploading",
        "status": "3 of 12 files",
        "progress": "0.25",
        "progress_override": "25%",
        "caption": "dataset.zip",
    }


async def test_indeterminate_progress_with_override(backend: WindowsBackend, fake: ModuleType) -> None:
    progress = ProgressSpec("k", 0.0, indeterminate=True, status="waiting")
    toast = await shown_one(backend, fake, ToastSpec("n1", "a", Kind.PROGRESS, "T", progress=progress))
    assert toast.data.values["progress"] == "indeterminate"
    assert toast.data.values["progress_override"] == ""
    toast2_spec = ToastSpec("n2", "a", Kind.PROGRESS, "T", progress=ProgressSpec("k2", 0.3, value_override="3/10"))
    await backend.show(toast2_spec)
    assert fake.notifier_for(backend.aumid).shown[1].data.values["progress_override"] == "3/10"


@pytest.mark.parametrize(
    ("urgency", "toast_attrs", "tail"),
    [
        (Urgency.INFO, 'launch="toasty:n1"', ""),
        (
            Urgency.WARNING,
            'launch="toasty:n1" duration="long"',
            '<audio src="ms-winsoundevent:Notification.Reminder"/>',
        ),
        (
            Urgency.CRITICAL,
            'launch="toasty:n1" duration="long" scenario="alarm"',
            '<audio src="ms-winsoundevent:Notification.Looping.Alarm" loop="true"/>'
            '<actions><action content="" activationType="system" arguments="dismiss"/></actions>',
        ),
    ],
)
async def test_urgency_of_a_text_toast(
    backend: WindowsBackend, fake: ModuleType, urgency: Urgency, toast_attrs: str, tail: str
) -> None:
    spec = ToastSpec("n1", "a", Kind.TEXT, "Disk", lines=("90% full", "on /"), urgency=urgency)
    toast = await shown_one(backend, fake, spec)
    assert same_xml(toast.xml, generic(TEXTS, tail, toast_attrs))


@pytest.mark.parametrize(
    ("urgency", "scenario", "audio"),
    [
        (Urgency.INFO, None, None),
        (Urgency.WARNING, "reminder", '<audio src="ms-winsoundevent:Notification.Reminder"/>'),
        (Urgency.CRITICAL, "alarm", '<audio src="ms-winsoundevent:Notification.Looping.Alarm" loop="true"/>'),
    ],
)
async def test_urgency_of_an_interactive_toast(
    backend: WindowsBackend, fake: ModuleType, urgency: Urgency, scenario: str | None, audio: str | None
) -> None:
    spec = ToastSpec("n1", "a", Kind.INTERACTIVE, "T", buttons=(ButtonSpec("ok", "OK"),), urgency=urgency)
    toast = await shown_one(backend, fake, spec)
    scenario_attr = f' scenario="{scenario}"' if scenario else ""
    tail = (audio or "") + '<actions><action content="OK" arguments="toasty:n1:ok"/></actions>'
    expected = generic('<text id="1">{text1}</text>', tail, f'launch="toasty:n1" duration="long"{scenario_attr}')
    assert same_xml(toast.xml, expected)  # no extra system button: the toast has one of its own


async def test_critical_progress_toast(backend: WindowsBackend, fake: ModuleType) -> None:
    spec = ToastSpec("n1", "a", Kind.PROGRESS, "T", urgency=Urgency.CRITICAL, progress=ProgressSpec("k", 0.5))
    toast = await shown_one(backend, fake, spec)
    assert 'scenario="alarm"' in toast.xml
    assert '<audio src="ms-winsoundevent:Notification.Looping.Alarm" loop="true"/>' in toast.xml


@pytest.mark.parametrize(("seconds", "duration"), [(5, "short"), (10, "short"), (11, "long"), (60, "long")])
async def test_display_seconds(backend: WindowsBackend, fake: ModuleType, seconds: int, duration: str) -> None:
    toast = await shown_one(backend, fake, ToastSpec("n1", "a", Kind.TEXT, "T", display_seconds=seconds))
    assert f'duration="{duration}"' in toast.xml


async def test_launch_url_opens_on_body_click(backend: WindowsBackend, fake: ModuleType) -> None:
    spec = ToastSpec("n1", "a", Kind.TEXT, "PR ready", launch_url="https://example.com/pr/1")
    toast = await shown_one(backend, fake, spec)
    expected = generic(
        '<text id="1">{text1}</text>', toast_attrs='launch="https://example.com/pr/1" activationType="protocol"'
    )
    assert same_xml(toast.xml, expected)


async def test_long_notification_id_gets_a_hashed_tag(backend: WindowsBackend, fake: ModuleType) -> None:
    long_id = "x" * 100
    spec = ToastSpec(long_id, "a", Kind.INTERACTIVE, "T", buttons=(ButtonSpec("ok", "OK"),))
    toast = await shown_one(backend, fake, spec)  # the fake, like Windows, refuses tags over 64 characters
    assert len(toast.tag) <= MAX_TAG_CHARS
    assert toast.tag.startswith("toasty-h:")
    assert f'arguments="toasty:{long_id}:ok"' in toast.xml


async def test_ids_with_colons_survive_the_arguments(backend: WindowsBackend, fake: ModuleType) -> None:
    spec = ToastSpec("a:b", "a", Kind.INTERACTIVE, "T", buttons=(ButtonSpec("c:d", "OK"),))
    toast = await shown_one(backend, fake, spec)
    assert 'arguments="toasty:a%3Ab:c%3Ad"' in toast.xml
    assert parse_arguments("toasty:a%3Ab:c%3Ad") == ("a:b", "c:d")
    assert parse_arguments(toast.tag) == ("a:b", "")
    assert parse_arguments("somebody-else") is None
