"""The workloads: each starts its subscriber and publisher processes against a running server and measures."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import now_ns
from bench.procs import RssSampler, Server, ToastyServer, Worker
from bench.stats import percentile

MIB = 1024 * 1024
ALL_SERVERS_MAX_IDLE = 5000


@dataclass(frozen=True)
class Sizes:
    """Counts of one mode (full or quick). Every loop is bounded by these counts and by deadline_s."""

    repeats: int
    floor_n: int
    paced_rate: int
    paced_seconds: float
    paced_agents: tuple[int, ...]
    saturated_n: int
    saturated_agents: int
    saturated_concurrency: int
    broadcast_m: tuple[int, ...]
    broadcast_deliveries: int
    broadcast_max_k: int
    memory_stages: tuple[int, ...]
    memory_per_proc: int
    slow_n: int
    slow_payload: int
    storm_n: int
    storm_procs: int
    deadline_s: float
    rnc_floor_n: int
    rnc_saturated_n: int


FULL = Sizes(
    repeats=3,
    floor_n=150,
    paced_rate=1000,
    paced_seconds=1.0,
    paced_agents=(20, 50, 100),
    saturated_n=2000,
    saturated_agents=20,
    saturated_concurrency=32,
    broadcast_m=(1, 20, 100, 1000),
    broadcast_deliveries=6000,
    broadcast_max_k=1500,
    memory_stages=(1000, 5000, 10_000),
    memory_per_proc=2500,
    slow_n=10_000,
    slow_payload=4000,
    storm_n=5000,
    storm_procs=4,
    deadline_s=60.0,
    rnc_floor_n=100,
    rnc_saturated_n=1000,
)

QUICK = Sizes(
    repeats=1,
    floor_n=20,
    paced_rate=1000,
    paced_seconds=0.2,
    paced_agents=(20,),
    saturated_n=200,
    saturated_agents=4,
    saturated_concurrency=8,
    broadcast_m=(20,),
    broadcast_deliveries=200,
    broadcast_max_k=100,
    memory_stages=(50,),
    memory_per_proc=50,
    slow_n=200,
    slow_payload=4000,
    storm_n=20,
    storm_procs=1,
    deadline_s=20.0,
    rnc_floor_n=0,
    rnc_saturated_n=50,
)


@dataclass
class Context:
    workdir: Path
    pb_dir: Path
    client_loop: str
    sizes: Sizes
    log: Callable[[str], None] = print
    _seq: int = 0

    def name(self, what: str) -> str:
        self._seq += 1
        return f"{self._seq:04d}-{what}"


@dataclass
class Shape:
    """One measured workload: subscriber processes (client ids each), one publisher process."""

    key: str
    groups: list[list[str]]
    pub: dict[str, Any]
    broadcast: bool
    streams_per_channel: int = 1
    codec: str = "upb"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def client_ids(self) -> list[str]:
        return [c for g in self.groups for c in g]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def shapes_for(server: Server, sizes: Sizes, tag: str) -> list[Shape]:
    """The latency / throughput / broadcast shapes, in run order."""
    out: list[Shape] = []
    grpc = server.transport == "grpc"  # the gRPC servers also run each shape over PublishStream ("-stream")
    floor_ids = [f"{tag}-floor-s0"]
    floor = {"mode": "serial", "count": sizes.floor_n, "agents": 1, "gap_s": 0.002}
    out.append(Shape("floor", [floor_ids], floor, False))
    if grpc:
        out.append(Shape("floor-stream", [[f"{tag}-floors-s0"]], {**floor, "rpc": "stream"}, False))
    # The in-memory store changes nothing on the paced path that the SQLite run does not show; skip it there.
    paced = () if isinstance(server, ToastyServer) and server.store == "memory" else sizes.paced_agents
    for agents in paced:
        ids = [f"{tag}-paced{agents}-s{i}" for i in range(min(agents, 10))]
        count = int(sizes.paced_rate * sizes.paced_seconds)
        pub = {"mode": "paced", "count": count, "agents": agents, "rate": sizes.paced_rate}
        out.append(Shape(f"paced-{agents}", [ids], pub, False))
        if grpc and agents == max(paced):
            stream_ids = [f"{tag}-paceds{agents}-s{i}" for i in range(min(agents, 10))]
            out.append(Shape(f"paced-{agents}-stream", [stream_ids], {**pub, "rpc": "stream"}, False))
    sat_ids = [f"{tag}-sat-s{i}" for i in range(4)]
    sat_pub = {
        "mode": "saturated",
        "count": sizes.saturated_n,
        "agents": sizes.saturated_agents,
        "concurrency": sizes.saturated_concurrency,
    }
    out.append(Shape("saturated", [sat_ids], sat_pub, False))
    if grpc:
        stream_ids = [f"{tag}-sats-s{i}" for i in range(4)]
        out.append(Shape("saturated-stream", [stream_ids], {**sat_pub, "rpc": "stream"}, False))
    for m in sizes.broadcast_m:
        ids = [f"{tag}-bc{m}-s{i}" for i in range(m)]
        procs = 1 if m <= 20 else 2
        k = max(10, min(sizes.broadcast_max_k, sizes.broadcast_deliveries // m))
        pub = {"mode": "saturated", "count": k, "agents": 1, "concurrency": 4}
        out.append(Shape(f"broadcast-{m}", _chunks(ids, math.ceil(m / procs)), pub, True, streams_per_channel=100))
        if grpc and 1 < m <= 100:
            sids = [f"{tag}-bcs{m}-s{i}" for i in range(m)]
            stream_pub = {**pub, "rpc": "stream"}
            groups = _chunks(sids, math.ceil(m / procs))
            out.append(Shape(f"broadcast-{m}-stream", groups, stream_pub, True, streams_per_channel=100))
    return out


def rnc_shapes(sizes: Sizes, tag: str) -> list[Shape]:
    """The same floor and saturated shapes with ResilientNotificationClient (betterproto2) on both ends."""
    shapes: list[Shape] = []
    floor = Shape(
        "floor",
        [[f"{tag}-rfloor-s0"]],
        {"mode": "serial", "count": sizes.rnc_floor_n, "agents": 1, "gap_s": 0.002},
        False,
        codec="rnc",
    )
    if sizes.rnc_floor_n:
        shapes.append(floor)
    sat = Shape(
        "saturated",
        [[f"{tag}-rsat-s{i}" for i in range(4)]],
        {
            "mode": "saturated",
            "count": sizes.rnc_saturated_n,
            "agents": sizes.saturated_agents,
            "concurrency": sizes.saturated_concurrency,
        },
        False,
        codec="rnc",
    )
    return [*shapes, sat]


def _expected(shape: Shape, group: list[str]) -> int:
    count = int(shape.pub["count"])
    if shape.broadcast:
        return count * len(group)
    targets = shape.client_ids
    index = {c: i for i, c in enumerate(targets)}
    return sum(count // len(targets) + (1 if index[c] < count % len(targets) else 0) for c in group)


def _base_spec(server: Server, ctx: Context, role: str, codec: str) -> dict[str, Any]:
    return {
        "role": role,
        "transport": server.transport,
        "codec": codec,
        "address": server.address,
        "pb_dir": str(ctx.pb_dir),
        "loop": ctx.client_loop,
        "deadline_s": ctx.sizes.deadline_s,
    }


def run_shape(server: Server, shape: Shape, ctx: Context, tag: str) -> dict[str, Any]:
    """Run one shape once against a running server; return its measurements."""
    subs = [
        Worker(
            {
                **_base_spec(server, ctx, "sub", shape.codec),
                "client_ids": group,
                "streams_per_channel": shape.streams_per_channel,
                "expected": _expected(shape, group),
                "deadline_s": ctx.sizes.deadline_s + 30,
            },
            ctx.workdir,
            ctx.name(f"{server.name}-{shape.key}-sub{i}"),
        )
        for i, group in enumerate(shape.groups)
    ]
    pub = Worker(
        {
            **_base_spec(server, ctx, "pub", shape.codec),
            **shape.pub,
            "tag": f"{tag}{shape.key.replace('-', '')}",
            "targets": [""] if shape.broadcast else shape.client_ids,
        },
        ctx.workdir,
        ctx.name(f"{server.name}-{shape.key}-pub"),
    )
    try:
        for sub in subs:
            sub.wait_ready(90)
        registered = server.wait_subscribers(shape.client_ids, 90)
        pub.wait_ready(60)
        cpu0 = server.cpu()
        sampler = RssSampler(server.pid)
        pub.send("go")
        pub_result = pub.result(ctx.sizes.deadline_s + 60)
        drain_until = time.monotonic() + 10
        sub_results = [s.result(max(0.1, drain_until - time.monotonic())) for s in subs]
        cpu = server.cpu() - cpu0
        rss_peak = sampler.stop()
    finally:
        for w in (*subs, pub):
            w.kill()
    return measure(shape, pub_result, sub_results, cpu, rss_peak, registered)


def measure(
    shape: Shape,
    pub: dict[str, Any],
    subs: list[dict[str, Any]],
    cpu_s: float,
    rss_peak: int,
    registered: int,
) -> dict[str, Any]:
    published = int(pub["ok"])
    fanout = len(shape.client_ids) if shape.broadcast else 1
    expected = published * fanout
    delivered = sum(int(s["unique"]) for s in subs)
    latencies = [v for s in subs for v in s["latencies_us"]]
    t0 = int(pub["first_ns"])
    pub_end = int(pub["last_ns"])
    recv_end = max((int(s["last_ns"]) for s in subs), default=0)
    pub_secs = (pub_end - t0) / 1e9 if published and pub_end > t0 else math.nan
    recv_secs = (recv_end - t0) / 1e9 if delivered and recv_end > t0 else math.nan
    errors: dict[str, int] = dict(pub["errors"])
    for s in subs:
        for code, n in s["errors"].items():
            errors[f"sub:{code}"] = errors.get(f"sub:{code}", 0) + n
    return {
        "published": published,
        "publish_errors": sum(pub["errors"].values()),
        "expected": expected,
        "delivered": delivered,
        "duplicates": sum(int(s["duplicates"]) for s in subs),
        "success_pct": 100.0 * delivered / expected if expected else math.nan,
        "registered": registered,
        "latency_p50_ms": percentile(latencies, 50) / 1000,
        "latency_p99_ms": percentile(latencies, 99) / 1000,
        "latency_max_ms": percentile(latencies, 100) / 1000,
        "ack_p50_ms": percentile(pub["ack_us"], 50) / 1000,
        "ack_p99_ms": percentile(pub["ack_us"], 99) / 1000,
        "publish_per_s": published / pub_secs if pub_secs == pub_secs and pub_secs > 0 else math.nan,
        "deliveries_per_s": delivered / recv_secs if recv_secs == recv_secs and recv_secs > 0 else math.nan,
        "server_cpu_s": cpu_s,
        "server_cpu_us_per_publish": cpu_s * 1e6 / published if published else math.nan,
        "server_cpu_us_per_delivery": cpu_s * 1e6 / delivered if delivered else math.nan,
        "server_rss_peak_mib": rss_peak / MIB,
        "errors": errors,
    }


# -- memory, slow consumer, reconnect storm ------------------------------------------------------------


def idle_memory(server: Server, ctx: Context, tag: str) -> dict[str, Any]:
    """Server RSS as idle subscribers (one TCP connection each) are added stage by stage, then a broadcast."""
    sizes = ctx.sizes
    server.wait_subscribers([], 5)  # warm the status path before the baseline reading
    time.sleep(0.5)
    rss0 = server.rss()
    stages: list[dict[str, Any]] = []
    workers: list[Worker] = []
    ids_so_far: list[str] = []
    try:
        for stage in sizes.memory_stages:
            if stage > ALL_SERVERS_MAX_IDLE and server.kind != "toasty":
                continue  # linear well before: the largest stage is for Toasty only, to save minutes
            new_ids = [f"{tag}-idle-{i}" for i in range(len(ids_so_far), stage)]
            started = time.monotonic()
            group_workers = [
                Worker(
                    {
                        **_base_spec(server, ctx, "sub", "upb"),
                        "client_ids": group,
                        "connect_batch": 500,
                        "expected": 0,
                        "deadline_s": 900,
                    },
                    ctx.workdir,
                    ctx.name(f"{server.name}-idle{stage}-sub{i}"),
                )
                for i, group in enumerate(_chunks(new_ids, sizes.memory_per_proc))
            ]
            workers += group_workers
            for w in group_workers:
                w.wait_ready(240)
            ids_so_far += new_ids
            registered = server.wait_subscribers(ids_so_far, 240)
            connect_s = time.monotonic() - started
            time.sleep(1.0)
            rss = server.rss()
            stages.append(
                {
                    "subscribers": stage,
                    "registered": registered,
                    "connect_s": connect_s,
                    "rss_mib": rss / MIB,
                    "kib_per_subscriber": (rss - rss0) / 1024 / stage,
                }
            )
            ctx.log(f"    {server.name}: {registered}/{stage} idle subscribers, RSS {rss / MIB:.1f} MiB")
        reach = _broadcast_reach(server, ctx, tag, workers, len(ids_so_far))
    finally:
        for w in workers:
            w.kill()
    return {"rss0_mib": rss0 / MIB, "stages": stages, "reach": reach}


def _broadcast_reach(server: Server, ctx: Context, tag: str, workers: list[Worker], n: int) -> dict[str, Any]:
    """One broadcast to every idle subscriber: how many got it, and when the last one did."""
    pub = Worker(
        {
            **_base_spec(server, ctx, "pub", "upb"),
            "mode": "serial",
            "count": 1,
            "agents": 1,
            "tag": f"{tag}reach",
            "targets": [""],
        },
        ctx.workdir,
        ctx.name(f"{server.name}-reach-pub"),
    )
    pub.wait_ready(60)
    pub.send("go")
    pub_result = pub.result(60)
    time.sleep(min(10.0, 1.0 + n / 2000))
    for w in workers:
        w.send("stop")
    results = [w.result(60) for w in workers]
    latencies = [v for r in results for v in r["latencies_us"]]
    return {
        "published": pub_result["ok"],
        "subscribers": n,
        "delivered": sum(r["unique"] for r in results),
        "last_ms": percentile(latencies, 100) / 1000,
        "p50_ms": percentile(latencies, 50) / 1000,
    }


def slow_consumer(server: Server, ctx: Context, tag: str) -> dict[str, Any]:
    """A broadcast burst of large messages while one subscriber reads nothing; then it drains."""
    sizes = ctx.sizes
    normal_ids, slow_ids = [f"{tag}-slow-n0"], [f"{tag}-slow-s0"]
    normal = Worker(
        {**_base_spec(server, ctx, "sub", "upb"), "client_ids": normal_ids, "expected": sizes.slow_n},
        ctx.workdir,
        ctx.name(f"{server.name}-slow-normal"),
    )
    slow = Worker(
        {
            **_base_spec(server, ctx, "sub", "upb"),
            "client_ids": slow_ids,
            "expected": sizes.slow_n,
            "slow": True,
            "idle_stop_s": 5.0,
            "deadline_s": sizes.deadline_s + 120,
        },
        ctx.workdir,
        ctx.name(f"{server.name}-slow-slow"),
    )
    pub = Worker(
        {
            **_base_spec(server, ctx, "pub", "upb"),
            "mode": "saturated",
            "count": sizes.slow_n,
            "agents": 4,
            "concurrency": 8,
            "payload_bytes": sizes.slow_payload,
            "tag": f"{tag}slow",
            "targets": [""],
        },
        ctx.workdir,
        ctx.name(f"{server.name}-slow-pub"),
    )
    try:
        normal.wait_ready(60)
        slow.wait_ready(60)
        registered = server.wait_subscribers(normal_ids + slow_ids, 60)
        pub.wait_ready(60)
        rss0 = server.rss()
        sampler = RssSampler(server.pid)
        pub.send("go")
        pub_result = pub.result(sizes.deadline_s + 60)
        normal_result = normal.result(15)
        rss_after_publish = server.rss()
        peak = sampler.stop()
        drain_start = now_ns()
        slow.send("drain")
        slow_result = slow.result(sizes.deadline_s + 60)
    finally:
        for w in (normal, slow, pub):
            w.kill()
    published = int(pub_result["ok"])
    return {
        "registered": registered,
        "published": published,
        "payload_bytes": sizes.slow_payload,
        "published_mib": published * sizes.slow_payload / MIB,
        "rss_before_mib": rss0 / MIB,
        "rss_peak_mib": peak / MIB,
        "rss_growth_mib": (peak - rss0) / MIB,
        "rss_after_publish_mib": rss_after_publish / MIB,
        "normal_delivered_pct": 100.0 * normal_result["unique"] / published if published else math.nan,
        "slow_delivered_pct": 100.0 * slow_result["unique"] / published if published else math.nan,
        "slow_drain_s": (slow_result["last_ns"] - drain_start) / 1e9 if slow_result["last_ns"] else math.nan,
        "publish_per_s": published / ((pub_result["last_ns"] - pub_result["first_ns"]) / 1e9)
        if published
        else math.nan,
        "errors": {**pub_result["errors"], **{f"slow:{k}": v for k, v in slow_result["errors"].items()}},
    }


def reconnect_storm(server: ToastyServer, ctx: Context, tag: str) -> dict[str, Any]:
    """N ResilientNotificationClient subscribers; the server restarts (SIGTERM, same SQLite file); they
    all reconnect at once and resume. Two broadcasts before, two right after the restart (these reach
    the subscribers through the log, as catch-up)."""
    sizes = ctx.sizes
    before, after = 2, 2
    ids = [f"{tag}-storm-{i}" for i in range(sizes.storm_n)]
    per_proc = math.ceil(len(ids) / sizes.storm_procs)
    subs = [
        Worker(
            {
                **_base_spec(server, ctx, "sub", "rnc"),
                "client_ids": group,
                "expected": (before + after) * len(group),
                "per_stream": True,
                "deadline_s": 300,
            },
            ctx.workdir,
            ctx.name(f"{server.name}-storm-sub{i}"),
        )
        for i, group in enumerate(_chunks(ids, per_proc))
    ]

    def publish(what: str, count: int) -> dict[str, Any]:
        pub = Worker(
            {
                **_base_spec(server, ctx, "pub", "upb"),
                "mode": "serial",
                "count": count,
                "agents": 1,
                "gap_s": 0.0,
                "tag": f"{tag}storm{what}",
                "targets": [""],
            },
            ctx.workdir,
            ctx.name(f"{server.name}-storm-{what}"),
        )
        pub.wait_ready(60)
        pub.send("go")
        return pub.result(60)

    try:
        for s in subs:
            s.wait_ready(240)
        started = time.monotonic()
        registered = server.wait_subscribers(ids, 300)
        connect_s = time.monotonic() - started
        first = publish("before", before)
        time.sleep(min(20.0, 1.0 + len(ids) / 1500))
        server.stop()
        server.start()
        up_ns = now_ns()
        second = publish("after", after)
        results = [s.result(240) for s in subs]
    finally:
        for w in subs:
            w.kill()
    streams = {cid: st for r in results for cid, st in r["streams"].items()}
    complete = [st for st in streams.values() if st[0] >= before + after]
    resume_s = sorted((st[1] - up_ns) / 1e9 for st in complete)
    return {
        "subscribers": len(ids),
        "registered_before": registered,
        "initial_connect_s": connect_s,
        "published": int(first["ok"]) + int(second["ok"]),
        "resumed": len(complete),
        "resumed_pct": 100.0 * len(complete) / len(ids),
        "lost_deliveries": (before + after) * len(ids) - sum(min(st[0], before + after) for st in streams.values()),
        "duplicates": sum(r["duplicates"] for r in results),
        "all_resumed_s": resume_s[-1] if resume_s else math.nan,
        "median_resumed_s": resume_s[len(resume_s) // 2] if resume_s else math.nan,
        "errors": {k: v for r in results for k, v in r["errors"].items()},
    }
