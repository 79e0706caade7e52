"""Generated reference tables (settings, errors) in README.md and docs/ match the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from toasty_server.generated_docs import documents, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", documents(ROOT), ids=lambda p: p.name)
def test_generated_blocks_are_current(path: Path) -> None:
    text = path.read_text()
    assert render(text) == text, f"{path.name} has a stale generated table: run `hatch run docs`"


def test_readme_has_the_settings_table() -> None:
    assert "<!-- settings:start" in (ROOT / "README.md").read_text()
