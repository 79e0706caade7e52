"""Markdown rendering of one bench run (the JSON holds everything; this is the readable view)."""

from __future__ import annotations

from typing import Any

from bench.stats import DASH, TIMES, fmt_number, fmt_summary

SERVER_TITLES = {
    "raw-grpc": "raw gRPC (upb)",
    "redis": "Redis pub/sub",
    "toasty-sqlite": "Toasty SQLite",
    "toasty-memory": "Toasty memory",
}
TOASTY = ("toasty-sqlite", "toasty-memory")

# (shape prefix, metric key, label, higher is better)
ROWS: list[tuple[str, str, str, bool]] = [
    ("floor", "latency_p50_ms", "publish→received p50 (ms)", False),
    ("floor", "latency_p99_ms", "publish→received p99 (ms)", False),
    ("floor", "ack_p50_ms", "publish round trip p50 (ms)", False),
    ("paced", "latency_p50_ms", "publish→received p50 (ms)", False),
    ("paced", "latency_p99_ms", "publish→received p99 (ms)", False),
    ("saturated", "publish_per_s", "publishes/s (acked)", True),
    ("saturated", "deliveries_per_s", "deliveries/s", True),
    ("saturated", "server_cpu_us_per_publish", "server CPU per publish (µs)", False),
    ("saturated", "latency_p99_ms", "publish→received p99 (ms)", False),
    ("saturated-stream", "publish_per_s", "publishes/s (acked)", True),
    ("broadcast", "deliveries_per_s", "deliveries/s", True),
    ("broadcast", "latency_p99_ms", "publish→received p99 (ms)", False),
    ("broadcast", "server_cpu_us_per_delivery", "server CPU per delivery (µs)", False),
]

SHAPE_TITLES = {
    "floor": "one in flight (latency floor)",
    "saturated": "saturated, targeted",
    "saturated-stream": "saturated, one PublishStream call per agent (raw only)",
}


def shape_title(key: str, meta: dict[str, Any]) -> str:
    if key in SHAPE_TITLES:
        title = SHAPE_TITLES[key]
        if key.startswith("saturated"):
            sizes = meta["sizes"]
            title += f" ({sizes['saturated_agents']} agents, {sizes['saturated_concurrency']} in flight)"
        return title
    kind, _, n = key.partition("-")
    if kind == "paced":
        return f"paced {meta['sizes']['paced_rate']:,}/s, {n} agent{'s' if n != '1' else ''}"
    if kind == "broadcast":
        return f"broadcast to M = {int(n):,}"
    return key


def _ordered_shapes(summary: dict[str, dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for per_server in summary.values():
        for key in per_server:
            if key not in keys:
                keys.append(key)
    return keys


def _ratio(toasty: dict[str, float] | None, raw: dict[str, float] | None) -> str:
    if not toasty or not raw or not raw["median"]:
        return DASH
    return f"{toasty['median'] / raw['median']:.2f}{TIMES}"


def main_table(result: dict[str, Any]) -> list[str]:
    summary: dict[str, dict[str, dict[str, Any]]] = result["summary"]
    servers = [s for s in SERVER_TITLES if s in summary]
    head = ["workload", "metric"]
    for s in servers:
        head.append(SERVER_TITLES[s])
        if s in TOASTY:
            head.append(f"{TIMES}raw")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for shape in _ordered_shapes(summary):
        for prefix, metric, label, _ in ROWS:
            if shape.split("-")[0] != prefix and shape != prefix:
                continue
            if prefix == "saturated" and shape == "saturated-stream":
                continue
            cells = [shape_title(shape, result["meta"]), label]
            raw = summary.get("raw-grpc", {}).get(shape, {}).get(metric)
            for s in servers:
                value = summary[s].get(shape, {}).get(metric)
                cells.append(fmt_summary(value))
                if s in TOASTY:
                    cells.append(_ratio(value, raw))
            if all(c == DASH for c in cells[2:]):
                continue
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def rnc_table(result: dict[str, Any]) -> list[str]:
    rnc = result.get("rnc_summary") or {}
    if not rnc:
        return []
    summary = result["summary"]
    lines = [
        "| workload | metric | Toasty SQLite, bench client (upb) | Toasty SQLite, ResilientNotificationClient"
        f" | RNC {TIMES}raw |",
        "|---|---|---|---|---|",
    ]
    for shape, metrics in rnc.items():
        for prefix, metric, label, _ in ROWS:
            if prefix != shape or metric not in metrics:
                continue
            raw = summary.get("raw-grpc", {}).get(shape, {}).get(metric)
            upb_value = summary.get("toasty-sqlite", {}).get(shape, {}).get(metric)
            lines.append(
                f"| {shape_title(shape, result['meta'])} | {label} | {fmt_summary(upb_value)} | "
                f"{fmt_summary(metrics[metric])} | {_ratio(metrics[metric], raw)} |"
            )
    return lines


def memory_table(result: dict[str, Any]) -> list[str]:
    memory = result.get("memory_summary") or {}
    if not memory:
        return []
    servers = [s for s in SERVER_TITLES if s in memory]
    head = ["idle subscribers (1 TCP connection each)", *(SERVER_TITLES[s] for s in servers)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    stages = sorted({int(n) for s in servers for n in memory[s]["stages"]})
    for n in stages:
        cells = [f"{n:,}: server KiB per subscriber (RSS MiB)"]
        for s in servers:
            st = memory[s]["stages"].get(str(n))
            cells.append(f"{fmt_summary(st['kib_per_subscriber'])} ({fmt_summary(st['rss_mib'])})" if st else DASH)
        lines.append("| " + " | ".join(cells) + " |")
        cells = [f"{n:,}: registered / connect time (s)"]
        for s in servers:
            st = memory[s]["stages"].get(str(n))
            cells.append(f"{fmt_summary(st['registered'])} / {fmt_summary(st['connect_s'])}" if st else DASH)
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["one broadcast to all: delivered / last one after (ms)"]
    for s in servers:
        reach = memory[s]["reach"]
        cells.append(f"{fmt_summary(reach['delivered'])} / {fmt_summary(reach['last_ms'])}")
    lines.append("| " + " | ".join(cells) + " |")
    return lines


def slow_table(result: dict[str, Any]) -> list[str]:
    slow = result.get("slow_summary") or {}
    if not slow:
        return []
    servers = [s for s in SERVER_TITLES if s in slow]
    rows = [
        ("published_mib", "published (MiB, broadcast)"),
        ("rss_growth_mib", "server RSS growth, peak (MiB)"),
        ("normal_delivered_pct", "normal subscriber: delivered %"),
        ("slow_delivered_pct", "slow subscriber: delivered % after it drains"),
        ("slow_drain_s", "slow subscriber: drain time (s)"),
        ("publish_per_s", "publishes/s meanwhile"),
    ]
    head = ["slow consumer (reads nothing during the burst)", *(SERVER_TITLES[s] for s in servers)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label in rows:
        lines.append("| " + " | ".join([label, *(fmt_summary(slow[s].get(key)) for s in servers)]) + " |")
    return lines


def storm_table(result: dict[str, Any]) -> list[str]:
    storm = result.get("storm_summary") or {}
    if not storm:
        return []
    rows = [
        ("subscribers", "subscribers (ResilientNotificationClient, own connection each)"),
        ("initial_connect_s", "initial connect, all registered (s)"),
        ("resumed", "resumed with nothing lost"),
        ("lost_deliveries", "deliveries lost"),
        ("median_resumed_s", "median subscriber resumed after restart (s)"),
        ("all_resumed_s", "last subscriber resumed after restart (s)"),
    ]
    lines = ["| reconnect storm (Toasty SQLite restarted) | value |", "|---|---|"]
    for key, label in rows:
        lines.append(f"| {label} | {fmt_summary(storm.get(key))} |")
    return lines


def success_table(result: dict[str, Any]) -> list[str]:
    success = result.get("success") or {}
    if not success:
        return []
    lines = ["| server | published | deliveries expected | delivered | success |", "|---|---|---|---|---|"]
    for s in SERVER_TITLES:
        if s in success:
            v = success[s]
            lines.append(
                f"| {SERVER_TITLES[s]} | {v['published']:,} | {v['expected']:,} | {v['delivered']:,} | "
                f"{v['pct']:.3f} % |"
            )
    return lines


def codec_table(result: dict[str, Any]) -> list[str]:
    codec = result.get("codec") or {}
    if not codec:
        return []
    lines = ["| operation (one ~245-byte message) | betterproto2 (µs) | upb (µs) | ratio |", "|---|---|---|---|"]
    for op, v in codec.items():
        lines.append(
            f"| {op} | {fmt_number(v['bp2_us'])} | {fmt_number(v['upb_us'])} | {v['bp2_us'] / v['upb_us']:.0f}{TIMES} |"
        )
    return lines


def render(result: dict[str, Any]) -> str:
    meta = result["meta"]
    m = meta["machine"]
    out = [
        f"# Toasty benchmark — {meta['started']} ({meta['mode']})",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']:.0f} GiB, Linux {m['kernel']}; "
        f"Python {m['python']}, grpcio {m['grpcio']}, protobuf {m['protobuf']} ({m['protobuf_impl']}), "
        f"betterproto2 {m['betterproto2']}, redis-server {m['redis_server']}, redis-py {m['redis_py']}.",
        f"Event loops: servers {meta['server_loop']} (Toasty as shipped), bench clients {meta['client_loop']}. "
        f"Toasty: `python -m toasty_server --renderer console` (toasts to /dev/null), INFO logs; "
        f"commit {meta['commit']}.",
        f"Each figure: median (min{DASH}max) over {meta['sizes']['repeats']} runs; {TIMES}raw = Toasty / raw gRPC "
        "of the "
        "same run (throughput: higher is better; latency, CPU: lower is better). Took "
        f"{meta['duration_s']:.0f} s.",
        "",
        "## Latency and throughput",
        "",
        *main_table(result),
    ]
    for title, table in (
        ("## The real client (ResilientNotificationClient, betterproto2 both ends)", rnc_table(result)),
        ("## Success rate (all workloads above)", success_table(result)),
        ("## Memory: idle subscribers (first repeat only)", memory_table(result)),
        ("## Memory: slow consumer (first repeat only)", slow_table(result)),
        ("## Reconnect storm (first repeat only)", storm_table(result)),
        ("## Codec cost (this machine)", codec_table(result)),
    ):
        if table:
            out += ["", title, "", *table]
    if result.get("failed"):
        out += ["", "## Failed steps (their figures are missing above)", ""]
        out += [f"- {f}" for f in result["failed"]]
    if result.get("skipped"):
        out += ["", "## Not run", ""]
        out += [f"- {k}: {v}" for k, v in result["skipped"].items()]
    return "\n".join(out) + "\n"
