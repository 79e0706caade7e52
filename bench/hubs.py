"""The hubs shape (issue 19): Toasty on PostgreSQL with one hub and with several on one database, beside
Toasty on SQLite and the raw gRPC baseline, under the same load in the same run.

    python -m bench --hubs 2 --store postgres [--quick] [--repeats N]

The bench starts its own PostgreSQL (a temp folder, a free port, durability settings as shipped: fsync,
synchronous_commit and full_page_writes on) and a fresh database per column. Publishers are split evenly
across the hubs of a column and each targets the subscriber of the *next* hub, so with two hubs every
delivery crosses from one hub to the other through the database (commit, NOTIFY, read). bench/README.md
says what runs and how to read it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.procs import GrpcServer, RawServer, RssSampler, ToastyServer, Worker, free_port, tree_cpu_seconds
from bench.scenarios import Context, Shape, _base_spec, measure
from bench.stats import summary
from tests.postgres_server import APT_PACKAGE, create_database, find_binary, start_cluster, wait_ready

# What the report quotes about the server the figures come from.
PG_SETTINGS = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers")
LOADS = ("floor", "saturated")
Attempt = Callable[..., Any]  # Bench.attempt: runs a step, records a failure, returns None then


@dataclass(frozen=True)
class HubSizes:
    """The load of every column: `agents` publishing `count` notifications, `concurrency` in flight, split
    evenly over one publisher process per hub of the largest column (so every column gets the same
    processes); plus `floor_n` serial publishes, one in flight, from one agent on the first hub."""

    agents: int
    count: int
    concurrency: int
    floor_n: int


HUBS_FULL = HubSizes(agents=20, count=2000, concurrency=32, floor_n=150)
HUBS_QUICK = HubSizes(agents=4, count=100, concurrency=8, floor_n=20)


def postgres_available() -> str:
    """'' when the hubs shape can run here, else why not."""
    if find_binary("initdb") is None or find_binary("postgres") is None:
        return (
            "PostgreSQL is not installed (no initdb/postgres on PATH or in /usr/lib/postgresql/*/bin): "
            f"apt-get install -y {APT_PACKAGE}"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run PostgreSQL as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is missing (the env needs toasty-server[postgres])"
    return ""


class Postgres:
    """A PostgreSQL server of the bench's own, in a temp folder on a free loopback port. Unlike the
    tests' one (tests/postgres.py turns fsync off for speed) it keeps the durability settings as shipped:
    the figures are what a deployment would see."""

    def __init__(self) -> None:
        # its own temp folder, not under the bench's 0700 one: the `postgres` user must reach it
        self.directory = Path(tempfile.mkdtemp(prefix="toasty-bench-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if postgres_available():
            raise RuntimeError(postgres_available())
        self.proc = start_cluster(self.directory, self.port, durable=True)
        wait_ready(self.url(), self.proc, self.directory / "postgres.log")

    def log_tail(self) -> str:
        path = self.directory / "postgres.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def create_database(self) -> str:
        """A new empty database (each column starts from an empty log); its URL."""
        return create_database(self.url(), "bench")

    def settings(self) -> dict[str, str]:
        import psycopg

        found: dict[str, str] = {}
        with psycopg.connect(self.url()) as conn:
            for name in PG_SETTINGS:
                row = conn.execute(f"SHOW {name}").fetchone()
                found[name] = str(row[0]) if row else "?"
        findmnt = ["findmnt", "-n", "-o", "FSTYPE", "-T", str(self.data)]
        fs = subprocess.run(findmnt, capture_output=True, text=True, check=False) if shutil.which("findmnt") else None
        found["data_dir_filesystem"] = fs.stdout.strip() if fs and fs.stdout.strip() else "?"
        return found

    def cpu(self) -> float:
        """CPU seconds of the postmaster and every process it forked so far (backends, WAL writer, ...)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        return tree_cpu_seconds(pid)

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster: no waiting for sessions), then remove the folder."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                os.kill(int((self.data / "postmaster.pid").read_text().split()[0]), signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)


def columns_for(hubs: int, servers: list[str]) -> list[str]:
    """Column keys in run order: the baseline and SQLite (if --servers keeps them), then PostgreSQL
    with one hub and with `hubs`."""
    base = [s for s in ("raw-grpc", "toasty-sqlite") if s in servers]
    return base + [f"postgres-{n}" for n in sorted({1, hubs})]


def hub_count(column: str) -> int:
    return int(column.split("-")[1]) if column.startswith("postgres-") else 1


def _start_column(column: str, ctx: Context, pg: Postgres, tag: str) -> list[GrpcServer]:
    """The column's hub processes, started; Toasty with `--renderer none` so only the store differs."""
    if column == "raw-grpc":
        servers: list[GrpcServer] = [RawServer(f"hubs-raw-{tag}", ctx.workdir, ctx.pb_dir)]
    elif column == "toasty-sqlite":
        servers = [ToastyServer(f"hubs-sqlite-{tag}", ctx.workdir, ctx.pb_dir, store="sqlite", renderer="none")]
    else:
        env = {"TOASTY_DATABASE_URL": pg.create_database()}
        servers = [
            ToastyServer(
                f"{column}-h{i}-{tag}", ctx.workdir, ctx.pb_dir, store="postgres", renderer="none", extra_env=env
            )
            for i in range(hub_count(column))
        ]
    started: list[GrpcServer] = []
    try:
        for server in servers:
            server.start()
            started.append(server)
    except Exception:
        for server in started:
            server.stop()
        raise
    return servers


def _share(total: int, parts: int, i: int) -> int:
    return total // parts + (1 if i < total % parts else 0)


def _plan(load: str, sizes: HubSizes, hubs: int, procs: int) -> list[tuple[int, dict[str, Any], int]]:
    """(hub the publisher process connects to, its workload, hub whose subscriber it targets)."""
    if load == "floor":
        return [(0, {"mode": "serial", "count": sizes.floor_n, "agents": 1, "gap_s": 0.002}, hubs - 1)]
    return [
        (
            p % hubs,
            {
                "mode": "saturated",
                "count": _share(sizes.count, procs, p),
                "agents": _share(sizes.agents, procs, p),
                "concurrency": _share(sizes.concurrency, procs, p),
            },
            (p + 1) % hubs,
        )
        for p in range(procs)
    ]


def run_load(
    hubs: list[GrpcServer], pg: Postgres | None, load: str, sizes: HubSizes, procs: int, ctx: Context, tag: str
) -> dict[str, Any]:
    """One load against a running column: the publishers of `_plan`, a subscriber on each hub they target;
    returns scenarios.measure's figures over all hubs together, plus PostgreSQL's CPU."""
    plan = _plan(load, sizes, len(hubs), procs)
    sub_ids = [f"{tag}-{load}-h{i}" for i in range(len(hubs))]
    expected = [sum(int(pub["count"]) for _, pub, target in plan if target == i) for i in range(len(hubs))]
    # no subscriber where nothing is sent: it would wait out its deadline
    targeted = [i for i in range(len(hubs)) if expected[i]]
    subs = [
        Worker(
            {
                **_base_spec(hubs[i], ctx, "sub", "upb"),
                "client_ids": [sub_ids[i]],
                "expected": expected[i],
                "deadline_s": ctx.sizes.deadline_s + 30,
            },
            ctx.workdir,
            ctx.name(f"{tag}-{load}-sub{i}"),
        )
        for i in targeted
    ]
    pubs = [
        Worker(
            {**_base_spec(hubs[h], ctx, "pub", "upb"), **pub, "tag": f"{tag}{load}p{p}", "targets": [sub_ids[target]]},
            ctx.workdir,
            ctx.name(f"{tag}-{load}-pub{p}"),
        )
        for p, (h, pub, target) in enumerate(plan)
    ]
    try:
        for sub in subs:
            sub.wait_ready(90)
        registered = sum(hubs[i].wait_subscribers([sub_ids[i]], 90) for i in targeted)
        for pub in pubs:
            pub.wait_ready(60)
        cpu0, pg_cpu0 = sum(h.cpu() for h in hubs), pg.cpu() if pg else 0.0
        samplers = [RssSampler(h.pid) for h in hubs]
        for pub in pubs:
            pub.send("go")
        pub_results = [pub.result(ctx.sizes.deadline_s + 60) for pub in pubs]
        drain_until = time.monotonic() + 10
        sub_results = [s.result(max(0.1, drain_until - time.monotonic())) for s in subs]
        cpu, pg_cpu = sum(h.cpu() for h in hubs) - cpu0, (pg.cpu() - pg_cpu0) if pg else 0.0
        rss_peak = sum(s.stop() for s in samplers)
    finally:
        for w in (*subs, *pubs):
            w.kill()
    merged = {  # the publisher processes as one publisher: throughput from the first publish to the last ack
        "ok": sum(r["ok"] for r in pub_results),
        "errors": {k: sum(r["errors"].get(k, 0) for r in pub_results) for r in pub_results for k in r["errors"]},
        "ack_us": [v for r in pub_results for v in r["ack_us"]],
        "first_ns": min((r["first_ns"] for r in pub_results if r["first_ns"]), default=0),
        "last_ns": max(r["last_ns"] for r in pub_results),
    }
    shape = Shape(load, [[sub_ids[i]] for i in targeted], {}, False)
    m = measure(shape, merged, sub_results, cpu, rss_peak, registered)
    published = m["published"]
    m["hubs"] = len(hubs)
    m["postgres_cpu_us_per_publish"] = pg_cpu * 1e6 / published if pg and published else None
    return m


def run_hubs(
    ctx: Context, hubs: int, servers: list[str], repeats: int, quick: bool, attempt: Attempt
) -> dict[str, Any]:
    """Every column of the shape, `repeats` times, against one PostgreSQL started for the run."""
    sizes = HUBS_QUICK if quick else HUBS_FULL
    columns = columns_for(hubs, servers)
    pg = Postgres()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        ctx.log(f"  hubs: starting PostgreSQL on 127.0.0.1:{pg.port} ({pg.directory})")
        pg.start()
        settings = pg.settings()
        ctx.log(f"  hubs: PostgreSQL {settings['server_version']}, fsync {settings['fsync']}")
        for rep in range(repeats):
            for column in columns:
                tag = f"r{rep}{column.replace('-', '')}"
                started = attempt(f"hubs {column}, repeat {rep + 1}: start", _start_column, column, ctx, pg, tag)
                if not started:
                    continue
                try:
                    for load in LOADS:
                        m = attempt(
                            f"hubs {column} {load}, repeat {rep + 1}",
                            run_load, started, pg if column.startswith("postgres") else None,
                            load, sizes, hubs, ctx, tag,
                        )  # fmt: skip
                        if m:
                            runs.setdefault(column, {}).setdefault(load, []).append(m)
                            ctx.log(f"  hubs {column:14} {load:10} {_brief(m)}")
                finally:
                    for server in started:
                        server.stop()
    finally:
        pg.stop()
    summ = {
        column: {load: {k: summary(r.get(k) for r in rs) for k, v in rs[0].items() if isinstance(v, int | float)}
                 for load, rs in loads.items()}
        for column, loads in runs.items()
    }  # fmt: skip
    return {
        "hubs": hubs,
        "store": "postgres",
        "columns": columns,
        "sizes": {**asdict(sizes), "publisher_processes": hubs, "repeats": repeats},
        "postgres": settings,
        "runs": runs,
        "summary": summ,
    }


def _brief(m: dict[str, Any]) -> str:
    return (
        f"{m['publish_per_s']:.0f} pub/s, p50 {m['latency_p50_ms']:.2f} ms p99 {m['latency_p99_ms']:.2f} ms, "
        f"{m['delivered']}/{m['expected']} delivered"
    )
