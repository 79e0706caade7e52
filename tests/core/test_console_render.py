"""The console backend (headless fallback): every payload type and urgency, from a real Notification."""

from __future__ import annotations

import io

import pytest

from toasty_proto import v1
from toasty_server.render.console import ConsoleBackend
from toasty_server.render.mapping import toast_from_notification

HEADER = v1.Header(title="Title", attribution="via ci")
CASES = {
    "text": (
        v1.Notification(
            id="n1", text_message=v1.TextMessage(header=HEADER, body_text_line1="one", body_text_line2="two")
        ),
        "[toast i info] Title — one / two (from agent, id n1)",
    ),
    "image": (
        v1.Notification(
            id="n2",
            urgency=v1.UrgencyLevel.WARNING,
            image_text=v1.ImageTextMessage(
                header=HEADER, image=v1.Image(path="/tmp/cat.png", placement=v1.ImagePlacement.HERO)
            ),
        ),
        "[toast ! warning] Title [image hero: /tmp/cat.png] (from agent, id n2)",
    ),
    "interactive": (
        v1.Notification(
            id="n3",
            urgency=v1.UrgencyLevel.CRITICAL,
            interactive=v1.Interactive(
                header=HEADER,
                buttons=[v1.Button(id="ok", label="OK"), v1.Button(id="no", label="No")],
                text_inputs=[v1.TextInput(id="why")],
                selection_inputs=[v1.SelectionInput(id="env", choices=[v1.SelectionChoice(id="p", label="P")])],
            ),
        ),
        "[toast !! critical] Title [OK (ok) | No (no)] [inputs: why, env] (from agent, id n3)",
    ),
    "progress": (
        v1.Notification(
            id="n4",
            progress=v1.Progress(header=HEADER, progress_key="k", value=0.25, status="copying"),
        ),
        "[toast i info] Title — copying [k: 25% running — copying] (from agent, id n4)",
    ),
    "progress override and state": (
        v1.Notification(
            id="n5",
            progress=v1.Progress(header=HEADER, progress_key="k", value_override="3/10", state=v1.ProgressState.FAILED),
        ),
        "[toast i info] Title [k: 3/10 failed] (from agent, id n5)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_console_line_per_payload(case: str) -> None:
    notification, expected = CASES[case]
    out = io.StringIO()
    await ConsoleBackend(out).show(toast_from_notification(notification, "agent"))
    assert out.getvalue() == expected + "\n"
