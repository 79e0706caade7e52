"""`hatch run soak [--quick] [--only NAME ...] [--seed N]`: the reliability scenarios at full size.

The same scenarios as tests/reliability (real `toasty-server` processes, kill -9, a full tmpfs, a
frozen subscriber, a TCP proxy that resets connections, a reconnect storm, hostile bodies on every
method path), bigger and longer, plus a load run and a time-boxed fuzzing run over the request decoder
and validator. Prints one table: faults injected, publishes acknowledged, delivered, lost (must be 0),
duplicates (must be 0), crashes (must be 0), peak RSS of the server. Exits 1 if any promise broke.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from tests.reliability import fuzz, scenarios
from tests.reliability.scenarios import Report


@dataclass(frozen=True)
class Size:
    agents: int
    subscribers: int
    kills: int
    disk_cycles: int
    frozen_broadcasts: int
    resets: int
    refuse_seconds: float
    storm: int
    load_agents: int
    load_seconds: float
    hostile_examples: int
    fuzz_seconds: float


FULL = Size(
    agents=20,
    subscribers=20,
    kills=10,
    disk_cycles=5,
    frozen_broadcasts=20_000,
    resets=10,
    refuse_seconds=5.0,
    storm=5_000,
    load_agents=100,
    load_seconds=60.0,
    hostile_examples=1_500,
    fuzz_seconds=120.0,
)
QUICK = Size(
    agents=8,
    subscribers=8,
    kills=3,
    disk_cycles=1,
    frozen_broadcasts=3_000,
    resets=3,
    refuse_seconds=2.0,
    storm=500,
    load_agents=20,
    load_seconds=10.0,
    hostile_examples=150,
    fuzz_seconds=15.0,
)


def scenario_table(size: Size, seed: int) -> dict[str, Callable[[Path], Awaitable[Report]]]:
    """Every scenario as a coroutine, all run on one event loop (grpc.aio binds itself to the first)."""
    return {
        "kill9": lambda d: scenarios.kill9(
            d, agents=size.agents, subscribers=size.subscribers, kills=size.kills, seed=seed
        ),
        "disk": lambda d: scenarios.disk_full(d, cycles=size.disk_cycles),
        "frozen": lambda d: scenarios.stalled_subscriber(d, broadcasts=size.frozen_broadcasts),
        "network": lambda d: scenarios.network_cut(
            d, resets=size.resets, refuse_seconds=size.refuse_seconds, seed=seed
        ),
        "storm": lambda d: scenarios.reconnect_storm(d, subscribers=size.storm, timeout=300),
        "load": lambda d: scenarios.load(d, agents=size.load_agents, seconds=size.load_seconds),
        # these two are synchronous (plain grpcio, hypothesis): a worker thread keeps the loop free
        "hostile": lambda d: asyncio.to_thread(scenarios.hostile_barrage, d, examples_per_method=size.hostile_examples),
        "fuzz": lambda d: asyncio.to_thread(fuzz_report, size.fuzz_seconds),
    }


def fuzz_report(seconds: float) -> Report:
    started = time.monotonic()
    stats = fuzz.fuzz_for(seconds)
    rounds = fuzz.memory_check()
    rss_now = rounds[-1]
    report = Report("fuzz decoder+validator")
    report.faults = sum(s.runs for s in stats.values())
    report.failures = [f"{name}: {failure}" for name, s in stats.items() for failure in s.failures[:2]]
    report.peak_rss = rss_now  # in-process: this process runs the decoder and validator under test
    slowest = max(s.slowest for s in stats.values())
    report.notes.append(
        f"{report.faults} inputs over {len(stats)} RPCs: "
        + ", ".join(f"{n} {s.runs} ({s.undecodable} undecodable, {s.invalid} invalid)" for n, s in stats.items())
        + f"; slowest decode+validate {slowest * 1000:.1f} ms; then {len(rounds)} x 30,000 mutated Publish bodies "
        f"without hypothesis: RSS after each round {[round(r / 2**20, 1) for r in rounds]} MiB"
    )
    if rounds[-1] - rounds[1] > 8 * 2**20:
        report.failures.append(f"decode + validate leaks: RSS {rounds[1] / 2**20:.0f} -> {rounds[-1] / 2**20:.0f} MiB")
    report.seconds = time.monotonic() - started
    return report


def table(reports: list[Report]) -> str:
    head = ("scenario", "faults", "acked", "delivered", "lost", "dups", "crashes", "peak RSS", "time", "result")
    rows = [head]
    for r in reports:
        v = r.verdict
        rows.append(
            (
                r.name,
                f"{r.faults:,}",
                f"{v.acknowledged:,}",
                f"{v.delivered:,}/{v.expected:,}",
                str(v.lost),
                str(v.duplicates),
                str(r.crashes),
                f"{r.peak_rss / 2**20:.0f} MiB",
                f"{r.seconds:.0f}s",
                "ok" if r.ok else "FAILED",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


async def run_all(chosen: dict[str, Callable[[Path], Awaitable[Report]]], names: list[str], seed: int) -> list[Report]:
    reports: list[Report] = []
    with tempfile.TemporaryDirectory(prefix="toasty-soak-") as tmp:
        for name in names:
            workdir = Path(tmp) / name
            workdir.mkdir()
            print(f"\n== {name} ...", flush=True)
            try:
                report = await chosen[name](workdir)
            except Exception as exc:
                report = Report(name, seed=seed)
                report.failures.append(f"{type(exc).__name__}: {exc}"[:3000])
                traceback.print_exc()
            reports.append(report)
            print(report.describe(), flush=True)
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (about 3 minutes)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    parser.add_argument("--seed", type=int, help="seed of the random fault points (printed; default random)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    size = QUICK if args.quick else FULL
    chosen = scenario_table(size, seed)
    unknown = set(args.only or ()) - set(chosen)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(chosen)}")
    names = args.only or list(chosen)
    scenarios.quiet_grpc_logs()
    print(f"soak ({'quick' if args.quick else 'full'}), seed {seed}: {', '.join(names)}", flush=True)
    started = time.monotonic()
    reports = asyncio.run(run_all(chosen, names, seed))
    print(f"\nsoak ({'quick' if args.quick else 'full'}), seed {seed}, {time.monotonic() - started:.0f}s\n")
    print(table(reports))
    failed = [r for r in reports if not r.ok]
    for r in failed:
        print(f"\nFAILED {r.describe()}")
    if failed:
        print(
            f"\nreplay: hatch run soak {'--quick ' if args.quick else ''}--seed {seed} --only "
            + " ".join(n for n, r in zip(names, reports, strict=True) if not r.ok)
        )
    return 1 if failed else 0
