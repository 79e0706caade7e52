"""`hatch run bench --profile`: where the Toasty server's CPU goes per publish, under saturated targeted load.

py-spy samples the real `toasty-server` process (SQLite store, console renderer to /dev/null) in
non-blocking mode (it does not pause the server: throughput stays within a few % of an unprofiled run)
while the saturated workload runs. Each sample's stack is put in one bucket, deepest Toasty frame
first (betterproto2 frames are charged to the Toasty code that called them). Time in grpc's Cython/C
core shows as a sample whose deepest Python frame is the event loop's `Handle._run`.

Writes bench/results/profile-<stamp>.{md,json} and the collapsed stacks (for any flame-graph tool).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import upb
from bench.procs import RawServer, Server, ToastyServer
from bench.scenarios import FULL, QUICK, Context, Shape, run_shape

MAIN = "event-loop thread"
SERVER_COMMANDS = {
    "toasty-sqlite": "`toasty-server --store sqlite --renderer console`",
    "toasty-memory": "`toasty-server --store memory --renderer console`",
    "raw-grpc": "the raw baseline server (`bench.raw_server`, upb)",
}

# Buckets, in the order the table lists them.
BUCKETS = [
    "decode PublishRequest (upb check + betterproto2 parse)",
    "validate",
    "serialize Delivery (betterproto2)",
    "serialize PublishResponse (betterproto2)",
    "betterproto2: build messages, read fields",
    "broker: sequence, batch, fan-out",
    "store, event-loop side (executor hand-off)",
    "render: toast mapping + console line",
    "interceptors + metrics",
    "logging",
    "uuid",
    "service glue (servicer, api, errors)",
    "grpc Python layer",
    "grpc Cython/C core (no Python frame under Handle._run)",
    "event loop (asyncio, selectors)",
    "other",
]


def frame_parts(frame: str) -> tuple[str, str]:
    """'func (path/file.py:12)' -> ('func', 'path/file.py')."""
    func, _, rest = frame.rpartition(" (")
    return func, rest.rsplit(":", 1)[0]


def bucket(frames: list[str]) -> str:
    """The bucket of one main-thread stack (root first)."""
    # Only what runs below the loop's dispatch counts (above it sit runpy, cli.main, asyncio.run).
    start = 0
    for i, frame in enumerate(frames):
        if frame_parts(frame)[0] in ("Handle._run", "BaseEventLoop._run_once"):
            start = i + 1
    if frames and start == len(frames) and frame_parts(frames[-1])[0] == "Handle._run":
        return BUCKETS[13]
    saw_bp2 = False
    for frame in reversed(frames[start:]):
        func, path = frame_parts(frame)
        if "betterproto2/" in path:
            saw_bp2 = True
            continue
        if "service/decoding.py" in path or func.endswith("deserialize_request"):
            return BUCKETS[0]
        if "service/validation.py" in path:
            return BUCKETS[1]
        if "toasty_server/service/" in path and ".encode" in func:
            return BUCKETS[2]
        if "toasty_proto/method.py" in path and func.endswith("serialize"):
            return BUCKETS[3]
        if saw_bp2:
            return BUCKETS[4]
        if "toasty_server/broker/" in path:
            return BUCKETS[5]
        if "toasty_server/store/" in path or "concurrent/futures" in path or func.endswith("run_in_executor"):
            return BUCKETS[6]
        if "toasty_server/render/" in path:
            return BUCKETS[7]
        if any(
            p in path for p in ("toasty_server/interceptors/", "toasty_server/observability/", "prometheus_client/")
        ):
            return BUCKETS[8]
        if path.startswith("logging/") or "/logging/" in path or "toasty_server/logs.py" in path:
            return BUCKETS[9]
        if path.endswith("uuid.py"):
            return BUCKETS[10]
        if "toasty_server/" in path or "toasty_proto/" in path:
            return BUCKETS[11]
        if path.startswith("grpc/") or "/grpc/" in path:
            return BUCKETS[12]
    leaf_func, leaf_path = frame_parts(frames[-1]) if frames else ("", "")
    if leaf_func == "Handle._run" or "cygrpc" in leaf_path:
        return BUCKETS[13]
    if "asyncio/" in leaf_path or "selectors.py" in leaf_path:
        return BUCKETS[14]
    return BUCKETS[15]


def thread_kind(name: str) -> str:
    if "MainThread" in name:
        return MAIN
    if "sqlite-write" in name:
        return "SQLite writer thread"
    if "sqlite-read" in name:
        return "SQLite reader thread"
    if "_poll_wrapper" in name:
        return "grpc poller thread"
    if "metrics" in name:
        return "metrics HTTP thread"
    return "other threads"


def analyse(raw: str) -> dict[str, Any]:
    main: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        kind = thread_kind(frames[0])
        threads[kind] += int(count)
        if kind == MAIN:
            main[bucket(frames[1:])] += int(count)
    return {"main": dict(main), "threads": dict(threads)}


def render(result: dict[str, Any]) -> str:
    m = result["measure"]
    total = sum(result["threads"].values())
    main_total = sum(result["main"].values())
    cpu_us = m["server_cpu_us_per_publish"]
    lines = [
        f"# Toasty server profile — {result['started']} ({result['mode']})",
        "",
        f"Workload: saturated targeted publishes over {result.get('rpc', 'unary')} calls "
        f"({result['count']:,}, {result['agents']} agents, "
        f"{result['concurrency']} in flight, 4 subscribers) against {SERVER_COMMANDS[result['server']]}; "
        f"py-spy {result['py_spy']} at {result['rate']} Hz, non-blocking. Under the profiler: "
        f"{m['publish_per_s']:.0f} publishes/s, server CPU {cpu_us:.0f} µs per publish "
        f"(all threads); {total:,} samples.",
        "",
        "| thread | share of server CPU | µs per publish |",
        "|---|---|---|",
    ]
    for kind, n in sorted(result["threads"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {kind} | {100 * n / total:.1f} % | {cpu_us * n / total:.0f} |")
    lines += [
        "",
        "Event-loop thread (the one that limits throughput: every publish passes through it):",
        "",
        "| where | share of event-loop CPU | µs per publish |",
        "|---|---|---|",
    ]
    main_us = cpu_us * main_total / total if total else 0.0
    for name in BUCKETS:
        n = result["main"].get(name, 0)
        if n:
            lines.append(f"| {name} | {100 * n / main_total:.1f} % | {main_us * n / main_total:.0f} |")
    return "\n".join(lines) + "\n"


def run_profile(args: argparse.Namespace) -> int:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy is not installed: use `hatch run bench --profile` (the bench env has it)")
        return 2
    sizes = QUICK if args.quick else FULL
    count = 300 if args.quick else 5000
    agents, concurrency, rate = sizes.saturated_agents, sizes.saturated_concurrency, 250
    tmp = Path(tempfile.mkdtemp(prefix="toasty-profile-"))
    try:
        ctx = Context(tmp, upb.generate(tmp / "pb"), args.client_loop, sizes)
        target = args.profile_server
        server: Server
        if target == "raw-grpc":
            server = RawServer("profile", tmp, ctx.pb_dir)
        else:
            server = ToastyServer("profile", tmp, ctx.pb_dir, store=target.split("-", 1)[1])
        server.start()
        stacks = tmp / "stacks.txt"
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(server.pid), "--rate", str(rate), "--format", "raw",
             "--output", str(stacks), "--threads", "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            time.sleep(1.0)
            ids = [f"prof-s{i}" for i in range(4)]
            shape = Shape(
                "saturated",
                [ids],
                {"mode": "saturated", "count": count, "agents": agents, "concurrency": concurrency, "rpc": args.rpc},
                False,
            )
            measure = run_shape(server, shape, ctx, "prof")
        finally:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
            server.stop()
        if not stacks.exists():
            err = spy.stderr.read().decode(errors="replace") if spy.stderr else ""
            print(f"py-spy wrote no profile:\n{err}")
            return 1
        raw = stacks.read_text()
        version = subprocess.run([py_spy, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        result = {
            "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "quick" if args.quick else "full",
            "server": target,
            "rpc": args.rpc,
            "count": count,
            "agents": agents,
            "concurrency": concurrency,
            "rate": rate,
            "py_spy": version.removeprefix("py-spy "),
            "measure": {k: v for k, v in measure.items() if not isinstance(v, dict)},
            **analyse(raw),
        }
        args.out.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        base = args.out / f"profile-{stamp}-{target}-{args.rpc}-{result['mode']}"
        base.with_suffix(".json").write_text(json.dumps(result, indent=1))
        base.with_suffix(".md").write_text(render(result))
        base.with_suffix(".stacks.txt").write_text(raw)
        print(render(result))
        print(f"wrote {base}.md, .json and .stacks.txt (collapsed stacks)")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- ablation: the same saturated workload with parts of Toasty switched off by its own settings ---------

ABLATIONS: list[tuple[str, str, str, dict[str, str]]] = [
    ("as shipped (SQLite, console renderer, metrics, rate limiter)", "sqlite", "console", {}),
    ("renderer none", "sqlite", "none", {}),
    ("metrics off", "sqlite", "console", {"TOASTY_METRICS_ENABLED": "false"}),
    ("rate limiter off (interceptor removed)", "sqlite", "console", {"TOASTY_RATE_LIMIT": "0"}),
    ("memory store", "memory", "console", {}),
    (
        "all four off",
        "memory",
        "none",
        {"TOASTY_METRICS_ENABLED": "false", "TOASTY_RATE_LIMIT": "0"},
    ),
]


def run_ablation(args: argparse.Namespace) -> int:
    from bench.stats import DASH, fmt_summary, summary

    sizes = QUICK if args.quick else FULL
    repeats = args.repeats or (1 if args.quick else 3)
    count = 200 if args.quick else 2000
    tmp = Path(tempfile.mkdtemp(prefix="toasty-ablation-"))
    rows: dict[str, list[dict[str, Any]]] = {}
    try:
        ctx = Context(tmp, upb.generate(tmp / "pb"), args.client_loop, sizes)
        for rep in range(repeats):
            variants: list[tuple[str, Server]] = [
                ("raw gRPC (reference)", RawServer(f"abl-raw-{rep}", tmp, ctx.pb_dir))
            ]
            for i, (label, store, renderer, env) in enumerate(ABLATIONS):
                toasty = ToastyServer(f"abl{i}-{rep}", tmp, ctx.pb_dir, store=store, renderer=renderer, extra_env=env)
                variants.append((label, toasty))
            for label, server in variants:
                server.start()
                try:
                    ids = [f"abl{rep}-s{i}" for i in range(4)]
                    pub = {
                        "mode": "saturated",
                        "count": count,
                        "agents": sizes.saturated_agents,
                        "concurrency": sizes.saturated_concurrency,
                    }
                    m = run_shape(server, Shape("saturated", [ids], pub, False), ctx, f"abl{rep}")
                finally:
                    server.stop()
                rows.setdefault(label, []).append(m)
                print(f"{label:62} {m['publish_per_s']:7.0f} pub/s  {m['server_cpu_us_per_publish']:6.0f} µs/pub")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shipped = ABLATIONS[0][0]
    base = summary(r["server_cpu_us_per_publish"] for r in rows[shipped])
    lines = [
        f"# Toasty ablation — {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"Saturated targeted publishes ({count:,}, {sizes.saturated_agents} agents, "
        f"{sizes.saturated_concurrency} in flight, 4 subscribers); median (min{DASH}max) of {repeats} runs.",
        "",
        "| server | publishes/s | server CPU per publish (µs) | CPU saved vs as shipped |",
        "|---|---|---|---|",
    ]
    for label, ms in rows.items():
        cpu = summary(r["server_cpu_us_per_publish"] for r in ms)
        saved = f"{100 * (1 - cpu['median'] / base['median']):.0f} %" if cpu and base and label != shipped else ""
        lines.append(
            f"| {label} | {fmt_summary(summary(r['publish_per_s'] for r in ms))} | {fmt_summary(cpu)} | {saved} |"
        )
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    base_path = args.out / f"ablation-{stamp}"
    base_path.with_suffix(".md").write_text(text)
    base_path.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str))
    print(text)
    print(f"wrote {base_path}.md and .json")
    return 0
