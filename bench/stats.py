"""Percentiles of one run, and median (min-max) across repeated runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

DASH = "\u2013"  # en dash, for ranges and empty cells
TIMES = "\u00d7"  # multiplication sign, for ratios


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def summary(values: Iterable[float | None]) -> dict[str, float] | None:
    """{'median', 'min', 'max', 'n'} over the repeats that produced a number."""
    clean = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not clean:
        return None
    return {"median": statistics.median(clean), "min": min(clean), "max": max(clean), "n": len(clean)}


def fmt_number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_summary(s: dict[str, float] | None) -> str:
    if s is None:
        return DASH
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt_number(s["median"])
    return f"{fmt_number(s['median'])} ({fmt_number(s['min'])}{DASH}{fmt_number(s['max'])})"
