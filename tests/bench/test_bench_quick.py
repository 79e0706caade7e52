"""Keeps the benchmark harness alive: `python -m bench --quick` runs end to end and writes its report.

No timing is asserted: on a shared 2-core CI machine timings mean nothing; only that every workload ran.
The desktop section (publish → toast displayed on a real dunst) runs when Xvfb, dbus-daemon and dunst are
installed (CI installs them and sets TOASTY_REQUIRE_DESKTOP, so there it must run); else the report says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.desktop import desktop_available

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_quick_bench_completes_and_writes_its_report(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"

    (json_path,) = tmp_path.glob("bench-*-quick.json")
    (md_path,) = tmp_path.glob("bench-*-quick.md")
    result = json.loads(json_path.read_text())
    assert {"meta", "summary", "success", "memory_summary", "slow_summary", "storm_summary", "codec"} <= set(result)
    assert {"cores", "python", "grpcio", "protobuf"} <= set(result["meta"]["machine"])
    assert {"raw-grpc", "toasty-sqlite", "toasty-memory"} <= set(result["summary"])
    for server in ("raw-grpc", "toasty-sqlite"):
        assert {"floor", "saturated"} <= set(result["summary"][server])
        assert result["success"][server]["published"] > 0
    assert "\u00d7raw" in md_path.read_text()  # the ratio columns
    check_desktop(result, md_path.read_text())


def check_desktop(result: dict[str, Any], markdown: str) -> None:
    """Both columns ran both shapes and put toasts on screen; or the section was skipped, with a reason."""
    why = desktop_available()
    if why and os.environ.get("TOASTY_REQUIRE_DESKTOP"):
        pytest.fail(f"TOASTY_REQUIRE_DESKTOP is set but the desktop workload cannot run: {why}")
    if why:
        assert result["skipped"]["desktop"] == why
        assert not result["desktop"]
        return
    desktop = result["desktop"]
    assert {"sizes", "shapes", "success", "versions", "loadavg", "duration_s"} <= set(desktop)
    assert {"burst-20", "paced-20"} <= set(desktop["shapes"])
    for shape in desktop["shapes"].values():
        assert {"toasty", "direct", "ratio"} <= set(shape)
        for column in (shape["toasty"], shape["direct"]):
            keys = {"sent", "acked", "displayed", "success_pct", "latency_p50_ms", "latency_p99_ms", "latency_max_ms"}
            assert keys <= set(column)
            assert column["sent"] > 0
            assert column["displayed"] > 0, column["errors"]  # the path works; how fast is not asserted
    for column in ("toasty", "direct"):
        assert desktop["success"][column]["sent"] > 0
    assert "toast displayed on a real dunst" in markdown
    assert "\u00d7direct" in markdown
