"""`python -m bench [--quick] [--only ...] [--hubs N --store postgres] [--profile]`: run the workloads, write
JSON + Markdown."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench import report, upb
from bench.common import install_loop
from bench.desktop import desktop_available, run_desktop
from bench.hubs import postgres_available, run_hubs
from bench.procs import RawServer, RedisServer, Server, ToastyServer, redis_available
from bench.scenarios import (
    FULL,
    QUICK,
    Context,
    Sizes,
    idle_memory,
    reconnect_storm,
    rnc_shapes,
    run_shape,
    shapes_for,
    slow_consumer,
)
from bench.stats import summary

T = TypeVar("T")
RESULTS = upb.REPO / "bench" / "results"
SECTIONS = ("latency", "memory", "slow", "storm", "rnc", "codec", "desktop", "hubs")
# hubs needs a PostgreSQL server and is asked for by name (--hubs / --store / --only hubs)
DEFAULT_SECTIONS = tuple(s for s in SECTIONS if s != "hubs")
SERVERS = ("raw-grpc", "redis", "toasty-sqlite", "toasty-memory")
PER_SERVER = {"latency", "memory", "slow", "rnc"}  # sections that need the servers above started


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hatch run bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny counts, one repeat (CI)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and Markdown (bench/results)")
    p.add_argument("--repeats", type=int, help="override the number of repeats")
    p.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    p.add_argument("--servers", nargs="+", choices=SERVERS, help="run only these servers")
    p.add_argument(
        "--hubs",
        type=int,
        choices=range(1, 9),
        metavar="N",
        help="the hubs shape: Toasty on PostgreSQL with 1 and N hubs on one database, beside raw gRPC and "
        "SQLite (alone unless --only names other sections too)",
    )
    p.add_argument("--store", choices=["postgres"], help="the shared store of the hubs shape (postgres)")
    p.add_argument("--client-loop", choices=["uvloop", "asyncio"], default="uvloop", help="bench clients' loop")
    p.add_argument("--profile", action="store_true", help="only profile Toasty (py-spy) under saturated load")
    p.add_argument("--ablation", action="store_true", help="only: Toasty with parts switched off, saturated load")
    p.add_argument(
        "--profile-server",
        choices=["toasty-sqlite", "toasty-memory", "raw-grpc"],
        default="toasty-sqlite",
        help="server --profile samples (raw-grpc: the same buckets for the baseline)",
    )
    p.add_argument(
        "--rpc", choices=["unary", "stream"], default="unary", help="publish RPC --profile/--ablation load uses"
    )
    p.add_argument("--keep", action="store_true", help="keep the temp folder (worker logs, databases)")
    args = p.parse_args(argv)
    if args.hubs is not None or args.store is not None:
        args.only = sorted({*(args.only or []), "hubs"})
    if args.only and "hubs" in args.only:
        args.hubs = args.hubs or 2
        args.store = args.store or "postgres"
    return args


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "not installed"


def machine() -> dict[str, Any]:
    from google.protobuf.internal import api_implementation

    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    redis_server = "not installed"
    exe = shutil.which("redis-server")
    if exe:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
        redis_server = next((w.split("=")[1] for w in out.split() if w.startswith("v=")), out.strip())
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "grpcio": _version("grpcio"),
        "protobuf": _version("protobuf"),
        "protobuf_impl": api_implementation.Type(),
        "betterproto2": _version("betterproto2"),
        "redis_server": redis_server,
        "redis_py": _version("redis"),
        "uvloop": _version("uvloop"),
    }


def commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=upb.REPO, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=upb.REPO
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def codec_costs(pb_dir: Path, quick: bool) -> dict[str, dict[str, float]]:
    """µs per (de)serialization of the bench message: Toasty's betterproto2 classes vs upb."""
    from bench.common import BODY_LINE1, BODY_LINE2, TITLE

    pb = upb.load(pb_dir)
    from toasty_proto import v1

    n_bp2, n_upb = (200, 2000) if quick else (3000, 100_000)
    upb_req = pb.PublishRequest(
        notification=pb.Notification(
            id="bench-1-1234567890123",
            urgency=pb.URGENCY_LEVEL_INFO,
            text_message=pb.TextMessage(
                header=pb.Header(title=TITLE), body_text_line1=BODY_LINE1, body_text_line2=BODY_LINE2
            ),
        ),
        target_client_id="subscriber-1",
    )
    wire = upb_req.SerializeToString()
    bp2_req = v1.PublishRequest.FromString(wire)
    bp2_delivery = v1.Delivery(
        sequence=123456, published_at_unix_ms=1_790_000_000_000, publisher_agent_id="agent-1",
        target_client_id="subscriber-1", notification=bp2_req.notification,
    )  # fmt: skip
    upb_delivery = pb.Delivery.FromString(bytes(bp2_delivery))
    resp_bp2 = v1.PublishResponse(notification_id="x" * 32, success=True, sequence=123456, queued_subscribers=1)
    resp_upb = pb.PublishResponse.FromString(bytes(resp_bp2))

    def per_op(fn: Callable[[], object], n: int) -> float:
        return min(timeit.repeat(fn, number=n, repeat=3)) / n * 1e6

    return {
        f"parse PublishRequest ({len(wire)} B)": {
            "bp2_us": per_op(lambda: v1.PublishRequest.FromString(wire), n_bp2),
            "upb_us": per_op(lambda: pb.PublishRequest.FromString(wire), n_upb),
        },
        "serialize Delivery": {
            "bp2_us": per_op(lambda: bytes(bp2_delivery), n_bp2),
            "upb_us": per_op(upb_delivery.SerializeToString, n_upb),
        },
        "serialize PublishResponse": {
            "bp2_us": per_op(lambda: bytes(resp_bp2), n_bp2),
            "upb_us": per_op(resp_upb.SerializeToString, n_upb),
        },
    }


def _summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    return {k: summary(r.get(k) for r in runs) for k in keys}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        sizes: Sizes = QUICK if args.quick else FULL
        if args.repeats:
            sizes = dataclasses.replace(sizes, repeats=args.repeats)
        self.sizes = sizes
        self.tmp = Path(tempfile.mkdtemp(prefix="toasty-bench-"))
        self.pb_dir = upb.generate(self.tmp / "pb")
        self.ctx = Context(self.tmp, self.pb_dir, args.client_loop, sizes, log=self.log)
        self.sections = set(args.only or DEFAULT_SECTIONS)
        self.servers = list(args.servers or SERVERS)
        self.skipped: dict[str, str] = {}
        self.failed: list[str] = []
        why = redis_available()
        if why and "redis" in self.servers:
            self.servers.remove("redis")
            self.skipped["Redis"] = why
        why = desktop_available() if "desktop" in self.sections else ""
        if why:
            self.sections.discard("desktop")
            self.skipped["desktop"] = why
        self.started = time.monotonic()

    def log(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def attempt(self, what: str, fn: Callable[..., T], *args: Any) -> T | None:
        """Run one step; a failure (a server that does not start, a worker that dies) is reported in
        the results' "failed" list and the run goes on with the next step."""
        try:
            return fn(*args)
        except Exception as exc:
            self.failed.append(f"{what}: {type(exc).__name__}: {str(exc)[:800]}")
            self.log(f"  FAILED {what}: {type(exc).__name__}: {str(exc)[:300]}")
            return None

    def make_server(self, name: str, rep: int) -> Server:
        workdir = self.tmp
        if name == "raw-grpc":
            return RawServer(f"{name}-r{rep}", workdir, self.pb_dir)
        if name == "redis":
            return RedisServer(f"{name}-r{rep}", workdir, self.pb_dir)
        store = name.split("-", 1)[1]
        return ToastyServer(f"{name}-r{rep}", workdir, self.pb_dir, store=store)

    def run(self) -> dict[str, Any]:
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
        rnc_runs: dict[str, list[dict[str, Any]]] = {}
        memory: dict[str, list[dict[str, Any]]] = {}
        slow: dict[str, list[dict[str, Any]]] = {}
        storm: list[dict[str, Any]] = []
        desktop: dict[str, Any] = {}
        for rep in range(self.sizes.repeats):
            self.log(f"repeat {rep + 1}/{self.sizes.repeats}")
            for name in self.servers if self.sections & PER_SERVER else []:
                server = self.make_server(name, rep)
                if not self.attempt(f"{name}, repeat {rep + 1}: start", _start, server):
                    continue
                try:
                    if "latency" in self.sections:
                        for shape in shapes_for(server, self.sizes, f"r{rep}"):
                            m = self.attempt(
                                f"{name} {shape.key}, repeat {rep + 1}", run_shape, server, shape, self.ctx, f"r{rep}"
                            )
                            if m:
                                runs.setdefault(name, {}).setdefault(shape.key, []).append(m)
                                self.log(f"  {name:14} {shape.key:17} {_brief(m)}")
                    if "rnc" in self.sections and name == "toasty-sqlite":
                        for shape in rnc_shapes(self.sizes, f"r{rep}"):
                            m = self.attempt(
                                f"rnc {shape.key}, repeat {rep + 1}", run_shape, server, shape, self.ctx, f"r{rep}"
                            )
                            if m:
                                rnc_runs.setdefault(shape.key, []).append(m)
                                self.log(f"  {name:14} rnc-{shape.key:13} {_brief(m)}")
                    if "slow" in self.sections and name != "toasty-memory" and rep == 0:
                        m = self.attempt(f"{name} slow consumer", slow_consumer, server, self.ctx, f"r{rep}")
                        if m:
                            slow.setdefault(name, []).append(m)
                            self.log(
                                f"  {name:14} slow consumer: RSS +{m['rss_growth_mib']:.1f} MiB, slow got "
                                f"{m['slow_delivered_pct']:.1f} %"
                            )
                finally:
                    server.stop()
                if "memory" in self.sections and name != "toasty-memory" and rep == 0:
                    fresh = self.make_server(name, rep)
                    if self.attempt(f"{name} idle memory: start", _start, fresh):
                        try:
                            m = self.attempt(f"{name} idle memory", idle_memory, fresh, self.ctx, f"r{rep}m")
                            if m:
                                memory.setdefault(name, []).append(m)
                        finally:
                            fresh.stop()
            if "storm" in self.sections and "toasty-sqlite" in self.servers and rep == 0:
                server = ToastyServer(f"storm-r{rep}", self.tmp, self.pb_dir, store="sqlite")
                if self.attempt("storm: start", _start, server):
                    try:
                        m = self.attempt("reconnect storm", reconnect_storm, server, self.ctx, f"r{rep}")
                    finally:
                        server.stop()
                    if m:
                        storm.append(m)
                        self.log(
                            f"  storm: {m['resumed']}/{m['subscribers']} resumed, last after {m['all_resumed_s']:.2f} s"
                        )
            if "desktop" in self.sections and rep == 0:
                # once per run: its rounds are the repetitions (and a burst of 100 costs dunst ~10 s each)
                self.log("  desktop: Xvfb + D-Bus + dunst, Toasty (freedesktop) vs direct D-Bus Notify")
                d = self.attempt(
                    "desktop", run_desktop, self.tmp, self.pb_dir, self.args.client_loop, self.args.quick, self.log
                )
                desktop = d or {}
        hubs: dict[str, Any] = {}
        if "hubs" in self.sections:
            self.log(f"hubs: Toasty on PostgreSQL with 1 and {self.args.hubs} hubs, SQLite, raw gRPC")
            repeats, quick = self.sizes.repeats, self.args.quick
            h = self.attempt("hubs", run_hubs, self.ctx, self.args.hubs, self.servers, repeats, quick, self.attempt)
            hubs = h or {}
        return self.assemble(runs, rnc_runs, memory, slow, storm, desktop, hubs)

    def assemble(
        self,
        runs: dict[str, dict[str, list[dict[str, Any]]]],
        rnc_runs: dict[str, list[dict[str, Any]]],
        memory: dict[str, list[dict[str, Any]]],
        slow: dict[str, list[dict[str, Any]]],
        storm: list[dict[str, Any]],
        desktop: dict[str, Any],
        hubs: dict[str, Any],
    ) -> dict[str, Any]:
        summ = {name: {key: _summarize_runs(rs) for key, rs in shapes.items()} for name, shapes in runs.items()}
        success: dict[str, dict[str, Any]] = {}
        for name, shapes in runs.items():
            published = sum(r["published"] for rs in shapes.values() for r in rs)
            expected = sum(r["expected"] for rs in shapes.values() for r in rs)
            delivered = sum(r["delivered"] for rs in shapes.values() for r in rs)
            errors = sum(r["publish_errors"] for rs in shapes.values() for r in rs)
            success[name] = {
                "published": published,
                "publish_errors": errors,
                "expected": expected,
                "delivered": delivered,
                "pct": 100.0 * delivered / expected if expected else math.nan,
            }
        memory_summary = {}
        for name, ms in memory.items():
            stages: dict[str, dict[str, Any]] = {}
            for n in {st["subscribers"] for m in ms for st in m["stages"]}:
                rows = [st for m in ms for st in m["stages"] if st["subscribers"] == n]
                stages[str(n)] = _summarize_runs(rows)
            memory_summary[name] = {
                "rss0_mib": summary(m["rss0_mib"] for m in ms),
                "stages": stages,
                "reach": _summarize_runs([m["reach"] for m in ms]),
            }
        codec = {}
        if "codec" in self.sections:
            try:
                codec = codec_costs(self.pb_dir, self.args.quick)
            except ImportError as exc:
                self.skipped["codec"] = f"toasty_proto not importable: {exc}"
        return {
            "meta": self.meta(),
            "runs": runs,
            "summary": summ,
            "rnc_runs": rnc_runs,
            "rnc_summary": {k: _summarize_runs(v) for k, v in rnc_runs.items()},
            "success": success,
            "memory": memory,
            "memory_summary": memory_summary,
            "slow_consumer": slow,
            "slow_summary": {k: _summarize_runs(v) for k, v in slow.items()},
            "storm": storm,
            "storm_summary": _summarize_runs(storm) if storm else {},
            "codec": codec,
            "desktop": desktop,
            "hubs": hubs,
            "skipped": self.skipped,
            "failed": self.failed,
        }

    def meta(self) -> dict[str, Any]:
        return {
            "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "quick" if self.args.quick else "full",
            "duration_s": time.monotonic() - self.started,
            "sizes": dataclasses.asdict(self.sizes),
            "servers": self.servers,
            "sections": sorted(self.sections),
            "server_loop": "asyncio",
            "client_loop": install_loop(self.args.client_loop),
            "toasty_renderer": "console, stderr to /dev/null",
            "commit": commit(),
            "machine": machine(),
        }


def _start(server: Server) -> bool:
    server.start()
    return True


def _brief(m: dict[str, Any]) -> str:
    return (
        f"p50 {m['latency_p50_ms']:.2f} ms p99 {m['latency_p99_ms']:.2f} ms, {m['publish_per_s']:.0f} pub/s, "
        f"{m['deliveries_per_s']:.0f} deliv/s, cpu {m['server_cpu_us_per_publish']:.0f} µs/pub, "
        f"{m['delivered']}/{m['expected']} delivered"
    )


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def write(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    base = out / f"bench-{stamp}-{result['meta']['mode']}"
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    json_path.write_text(json.dumps(result, indent=1, default=str))
    md_path.write_text(report.render(result))
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    why = postgres_available() if args.only and "hubs" in args.only else ""
    if why:
        print(f"bench: the hubs shape (--hubs {args.hubs} --store {args.store}) cannot run: {why}", file=sys.stderr)
        return 2
    _raise_fd_limit()
    if args.profile:
        from bench.profile import run_profile

        return run_profile(args)
    if args.ablation:
        from bench.profile import run_ablation

        return run_ablation(args)
    bench = Bench(args)
    try:
        result = bench.run()
        json_path, md_path = write(result, args.out)
    finally:
        if not args.keep:
            shutil.rmtree(bench.tmp, ignore_errors=True)
        else:
            print(f"kept {bench.tmp}")
    print(md_path.read_text())
    print(f"wrote {json_path}\nwrote {md_path}")
    return 1 if result["failed"] else 0
