"""Keeps the hubs shape alive: `python -m bench --quick --hubs 2 --store postgres` runs every column (raw
gRPC, SQLite, PostgreSQL with one hub and with two) and writes its report. No timing is asserted: only
that each column published, that every delivery arrived (across hubs with two), and that the report
carries the ratios and the PostgreSQL settings it ran with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.hubs import postgres_available
from tests.requires import missing

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["raw-grpc", "toasty-sqlite", "postgres-1", "postgres-2"]


@pytest.mark.timeout(150)
def test_quick_hubs_shape_completes_and_writes_its_report(tmp_path: Path) -> None:
    why = postgres_available()
    if why:
        missing(why, "TOASTY_REQUIRE_POSTGRES")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--hubs", "2", "--store", "postgres", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"

    (json_path,) = tmp_path.glob("bench-*-quick.json")
    (md_path,) = tmp_path.glob("bench-*-quick.md")
    hubs = json.loads(json_path.read_text())["hubs"]
    assert hubs["columns"] == COLUMNS
    assert hubs["postgres"]["fsync"] == "on"  # measured with the durability settings as shipped
    for column in COLUMNS:
        for load in ("floor", "saturated"):
            (run,) = hubs["runs"][column][load]
            assert run["published"] > 0, (column, load, run["errors"])
            assert run["delivered"] == run["expected"], (column, load, run["errors"])
    assert hubs["runs"]["postgres-2"]["saturated"][0]["hubs"] == 2
    markdown = md_path.read_text()
    assert "Several hubs on one PostgreSQL database" in markdown
    assert "\u00d7raw" in markdown
    assert "2 hubs \u00f7 1 hub" in markdown


def test_hubs_is_asked_for_by_name_and_fails_at_once_without_postgresql(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--hubs N --store postgres` runs the shape alone (with --only, beside those sections); a plain run
    leaves it out. Without PostgreSQL it stops before anything runs, non-zero, and says why."""
    from bench import cli

    assert cli.parse_args(["--hubs", "2", "--store", "postgres"]).only == ["hubs"]
    assert cli.parse_args(["--only", "latency", "--hubs", "3"]).only == ["hubs", "latency"]
    assert (cli.parse_args(["--only", "hubs"]).hubs, cli.parse_args(["--only", "hubs"]).store) == (2, "postgres")
    assert cli.parse_args([]).only is None
    assert "hubs" not in cli.DEFAULT_SECTIONS

    monkeypatch.setattr(cli, "postgres_available", lambda: "PostgreSQL is not installed (no initdb)")
    assert cli.main(["--hubs", "2", "--store", "postgres", "--out", "/nonexistent"]) == 2
    assert "cannot run: PostgreSQL is not installed (no initdb)" in capsys.readouterr().err
