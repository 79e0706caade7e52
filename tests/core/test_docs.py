"""The README's settings table is the one generated from the Settings model."""

from __future__ import annotations

from pathlib import Path

from toasty_server.settings_docs import END, START, render

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_settings_table_is_current() -> None:
    text = README.read_text()
    assert START in text
    assert END in text
    assert render(text) == text, "README settings table is stale: run `hatch run docs`"
