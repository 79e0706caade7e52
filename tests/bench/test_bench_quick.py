"""Keeps the benchmark harness alive: `python -m bench --quick` runs end to end and writes its report.

No timing is asserted: on a shared 2-core CI machine timings mean nothing; only that every workload ran.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
