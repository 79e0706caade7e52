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
    ("broadcast", "deliveries_per_s", "deliveries/s", True),
    ("broadcast", "latency_p99_ms", "publish→received p99 (ms)", False),
    ("broadcast", "server_cpu_us_per_delivery", "server CPU per delivery (µs)", False),
]

SHAPE_TITLES = {
    "floor": "one in flight (latency floor)",
    "floor-stream": "one in flight (latency floor), PublishStream",
    "saturated": "saturated, targeted",
    "saturated-stream": "saturated, targeted, PublishStream",
}
STREAM = "stream"  # shapes ending in -stream publish on one PublishStream call per agent, the others unary


def shape_title(key: str, meta: dict[str, Any]) -> str:
    if key in SHAPE_TITLES:
        title = SHAPE_TITLES[key]
        if key.startswith("saturated"):
            sizes = meta["sizes"]
            title += f" ({sizes['saturated_agents']} agents, {sizes['saturated_concurrency']} in flight)"
        return title
    kind, _, rest = key.partition("-")
    n, _, variant = rest.partition("-")  # e.g. "broadcast-20-stream": the same shape over PublishStream
    suffix = ", PublishStream" if variant == STREAM else f" ({variant})" if variant else ""
    if kind == "paced" and n.isdigit():
        return f"paced {meta['sizes']['paced_rate']:,}/s, {n} agent{'s' if n != '1' else ''}{suffix}"
    if kind == "broadcast" and n.isdigit():
        return f"broadcast to M = {int(n):,}{suffix}"
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


def _median(summary: dict[str, Any], server: str, shape: str, metric: str) -> float | None:
    value = summary.get(server, {}).get(shape, {}).get(metric)
    return float(value["median"]) if value else None


def targets_table(result: dict[str, Any]) -> list[str]:
    """Issue 7's targets, each against the figure it names, from this run (ratios to raw of this run)."""
    summary: dict[str, Any] = result.get("summary") or {}
    if "toasty-sqlite" not in summary or "raw-grpc" not in summary:
        return []
    lines = ["| target | goal | Toasty SQLite | raw gRPC, same run | ratio |", "|---|---|---|---|---|"]

    def row(target: str, goal: str, toasty: float | None, raw: float | None, unit: str = "") -> None:
        if toasty is None:
            return
        ratio = f"{toasty / raw:.2f}{TIMES}" if raw else DASH
        raw_cell = DASH if raw is None else f"{fmt_number(raw)}{unit}"
        lines.append(f"| {target} | {goal} | {fmt_number(toasty)}{unit} | {raw_cell} | {ratio} |")

    def toasty(shape: str, metric: str) -> float | None:
        return _median(summary, "toasty-sqlite", shape, metric)

    def raw(shape: str, metric: str) -> float | None:
        return _median(summary, "raw-grpc", shape, metric)

    per_s, p99 = "publish_per_s", "latency_p99_ms"
    row(
        "throughput, Toasty's client path (PublishStream) vs raw unary",
        f"≥ 0.8{TIMES}",
        toasty("saturated-stream", per_s),
        raw("saturated", per_s),
        "/s",
    )
    row("throughput, unary vs unary", f"≥ 0.8{TIMES}", toasty("saturated", per_s), raw("saturated", per_s), "/s")
    row(
        "throughput, PublishStream vs PublishStream",
        f"≥ 0.8{TIMES}",
        toasty("saturated-stream", per_s),
        raw("saturated-stream", per_s),
        "/s",
    )
    for shape in sorted((k for k in summary["toasty-sqlite"] if k.startswith("broadcast-")), key=_broadcast_order):
        row(
            f"broadcast deliveries/s, {shape_title(shape, result['meta'])}",
            f"≥ 0.8{TIMES}",
            toasty(shape, "deliveries_per_s"),
            raw(shape, "deliveries_per_s"),
            "/s",
        )
    row(
        "publish→received p99, unloaded, PublishStream",
        "≤ 2 ms",
        toasty("floor-stream", p99),
        raw("floor-stream", p99),
        " ms",
    )
    row("publish→received p99, unloaded, unary", "≤ 2 ms", toasty("floor", p99), raw("floor", p99), " ms")
    paced = sorted(k for k in summary["toasty-sqlite"] if k.startswith("paced-") and k.endswith(STREAM))
    for shape in paced:
        row(
            f"publish→received p99, {shape_title(shape, result['meta'])}",
            "≤ 5 ms",
            toasty(shape, p99),
            raw(shape, p99),
            " ms",
        )
    return lines  # fmt: skip


def _broadcast_order(shape: str) -> tuple[int, str]:
    _, _, rest = shape.partition("-")
    n, _, variant = rest.partition("-")
    return (int(n) if n.isdigit() else 0, variant)


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


# (metric key in a column's result, label, ratio shown)
DESKTOP_ROWS: list[tuple[str, str, bool]] = [
    ("latency_p50_ms", "publish→displayed p50 (ms)", True),
    ("latency_p99_ms", "publish→displayed p99 (ms)", True),
    ("latency_max_ms", "publish→displayed max (ms)", True),
    ("ack_p50_ms", "call answered p50 (ms): Notify reply / Publish response", False),
]
TARGET_P99_MS = 25.0  # issue 7: publish → toast displayed p99 ≤ 25 ms with 100 agents (reported, not asserted)


def _desktop_shape_title(shape: str, sizes: dict[str, Any], sent: int) -> str:
    kind, _, n = shape.partition("-")
    if kind == "burst":
        rounds = dict(zip(sizes["agents"], sizes["burst_rounds"], strict=True)).get(int(n), 0)
        return f"burst: {n} agents publish at once, {rounds} round{'s' if rounds != 1 else ''} ({sent} toasts)"
    rate = fmt_number(sizes["paced_rate"])
    return f"paced: {n} agents, {rate} toasts/s, each dismissed once shown ({sent} toasts)"


def _cpu_ms(column: dict[str, Any], proc: str) -> float | None:
    value = column.get("cpu_us_per_toast", {}).get(proc)
    return None if value is None else float(value) / 1000


def desktop_table(result: dict[str, Any]) -> list[str]:
    desktop = result.get("desktop") or {}
    shapes: dict[str, dict[str, Any]] = desktop.get("shapes") or {}
    if not shapes:
        return []
    sizes = desktop["sizes"]
    lines = [
        f"| workload | metric | direct D-Bus `Notify` | Toasty (SQLite, freedesktop renderer) | Toasty {TIMES}direct |",
        "|---|---|---|---|---|",
    ]
    for shape, cols in shapes.items():
        direct, toasty = cols.get("direct", {}), cols.get("toasty", {})
        rows: list[tuple[str, str, str, str]] = []
        for key, label, ratio in DESKTOP_ROWS:
            d, t = direct.get(key), toasty.get(key)
            rows.append((label, _fmt(d), _fmt(t), _times(t, d) if ratio else DASH))
        rows.append(("displayed / published (success)", _shown(direct), _shown(toasty), DASH))
        d_cpu, t_cpu = _cpu_ms(direct, "dunst"), _cpu_ms(toasty, "dunst")
        rows.append(("dunst CPU per toast (ms)", _fmt(d_cpu), _fmt(t_cpu), _times(t_cpu, d_cpu)))
        rows.append(("Toasty server CPU per toast (ms)", DASH, _fmt(_cpu_ms(toasty, "toasty_server")), DASH))
        title = _desktop_shape_title(shape, sizes, int(toasty.get("sent") or direct.get("sent") or 0))
        for i, row in enumerate(rows):
            lines.append("| " + " | ".join((title if i == 0 else "", *row)) + " |")
    return lines


def _times(toasty: float | None, direct: float | None) -> str:
    if not toasty or not direct or toasty != toasty or direct != direct:
        return DASH
    return f"{toasty / direct:.2f}{TIMES}"


def _fmt(value: float | None) -> str:
    return DASH if value is None or value != value else fmt_number(value)


def _shown(column: dict[str, Any]) -> str:
    if not column:
        return DASH
    return f"{column['displayed']:,} / {column['sent']:,} ({column['success_pct']:.1f} %)"


def desktop_notes(result: dict[str, Any]) -> list[str]:
    """Success over every desktop toast, the issue's target, and how "displayed" was taken."""
    desktop = result.get("desktop") or {}
    if not desktop.get("shapes"):
        return []
    out: list[str] = []
    success = desktop["success"]
    for column, label in (("toasty", "Toasty"), ("direct", "direct D-Bus")):
        v = success[column]
        out.append(
            f"- Success, {label}: {v['displayed']:,} of {v['sent']:,} published toasts displayed "
            f"({v['pct']:.2f} %; {v['acked']:,} calls answered OK). Target ≥ 99.9 %."
        )
    shapes = desktop["shapes"]
    worst = max((int(k.split("-")[1]) for k in shapes), default=0)
    paced, burst = shapes.get(f"paced-{worst}", {}).get("toasty"), shapes.get(f"burst-{worst}", {}).get("toasty")
    if paced:
        p99 = paced["latency_p99_ms"]
        verdict = "met" if p99 <= TARGET_P99_MS else "not met"
        line = (
            f"- Target (issue 7, reported, never asserted): publish→displayed p99 ≤ {TARGET_P99_MS:.0f} ms with "
            f"100 agents publishing. With {worst}, paced: {fmt_number(p99)} ms over {paced['displayed']} toasts "
            f"({verdict if worst == 100 else 'the full run has 100 agents'})"
        )
        if burst:
            line += f"; all {worst} at once: {fmt_number(burst['latency_p99_ms'])} ms (direct D-Bus: "
            line += f"{fmt_number(shapes[f'burst-{worst}']['direct']['latency_p99_ms'])} ms)"
        out.append(line + ".")
    steps = max((c["clock_step_max_us"] for cols in shapes.values() for k, c in cols.items() if k != "ratio"))
    load = desktop["loadavg"]
    out.append(
        f"- Displayed = dunst's on-display hook ({desktop['hook']}), which dunst spawns just before it draws "
        'the frame (an upper bound on "dunst took it for display", not the pixels; bench/README.md); '
        f"clock {desktop['clock']}: largest change {steps:.0f} µs. dunst {desktop['versions']['dunst']}, "
        f"dbus-fast {desktop['versions']['dbus_fast']}; load average {load['start'][0]:.1f} at the start, "
        f"{load['end'][0]:.1f} at the end; took {desktop['duration_s']:.0f} s."
    )
    return out


def desktop_section(result: dict[str, Any]) -> list[str]:
    table = desktop_table(result)
    return [*table, "", *desktop_notes(result)] if table else []


# (load, metric key, label)
HUBS_ROWS: list[tuple[str, str, str]] = [
    ("saturated", "publish_per_s", "publishes/s, all hubs together (acked)"),
    ("saturated", "latency_p50_ms", "publish→delivered p50 (ms)"),
    ("saturated", "latency_p99_ms", "publish→delivered p99 (ms)"),
    ("saturated", "server_cpu_us_per_publish", "hub CPU per publish (µs, all hubs)"),
    ("saturated", "postgres_cpu_us_per_publish", "PostgreSQL CPU per publish (µs, all its processes)"),
    ("saturated", "success_pct", "delivered / acked (%)"),
    ("floor", "latency_p50_ms", "publish→delivered p50 (ms)"),
    ("floor", "latency_p99_ms", "publish→delivered p99 (ms)"),
    ("floor", "ack_p50_ms", "publish round trip p50 (ms)"),
]


def _hubs_title(column: str) -> str:
    if column.startswith("postgres-"):
        n = int(column.split("-")[1])
        return f"Toasty PostgreSQL, {n} hub{'s' if n != 1 else ''}"
    return SERVER_TITLES[column]


def hubs_table(result: dict[str, Any]) -> list[str]:
    """The hubs shape: each column and its ratio to raw gRPC of this run; N hubs ÷ 1 hub on PostgreSQL."""
    hubs = result.get("hubs") or {}
    summary: dict[str, dict[str, dict[str, Any]]] = hubs.get("summary") or {}
    if not summary:
        return []
    columns = [c for c in hubs["columns"] if c in summary]
    one, many = "postgres-1", f"postgres-{hubs['hubs']}"
    head = ["load", "metric"]
    for c in columns:
        head += [_hubs_title(c)] + ([f"{TIMES}raw"] if c != "raw-grpc" else [])
    if many != one:
        head.append(f"{hubs['hubs']} hubs ÷ 1 hub")
    sizes = hubs["sizes"]
    titles = {
        "saturated": f"{sizes['agents']} agents, {sizes['concurrency']} in flight, {sizes['count']:,} publishes",
        "floor": f"one in flight, {sizes['floor_n']} serial publishes",
    }
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for load, metric, label in HUBS_ROWS:
        value: dict[str, dict[str, float] | None] = {c: summary[c].get(load, {}).get(metric) for c in summary}
        cells = [titles[load], label]
        for c in columns:
            cells.append(fmt_summary(value[c]))
            if c != "raw-grpc":
                cells.append(_ratio(value[c], value.get("raw-grpc")) if metric != "success_pct" else DASH)
        if many != one:
            cells.append(_ratio(value.get(many), value.get(one)) if metric != "success_pct" else DASH)
        if not all(c == DASH for c in cells[2:]):
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def hubs_notes(result: dict[str, Any]) -> list[str]:
    """How the hubs shape ran: PostgreSQL's settings, the load, where latency is measured."""
    hubs = result.get("hubs") or {}
    if not hubs.get("summary"):
        return []
    pg, sizes = hubs["postgres"], hubs["sizes"]
    return [
        f"- PostgreSQL {pg['server_version']} started by the bench (temp folder, data on "
        f"{pg['data_dir_filesystem']}), settings as shipped: fsync={pg['fsync']}, "
        f"synchronous_commit={pg['synchronous_commit']}, full_page_writes={pg['full_page_writes']}, "
        f"wal_sync_method={pg['wal_sync_method']}, shared_buffers={pg['shared_buffers']}; a fresh database per "
        "column. Toasty SQLite as shipped: WAL, synchronous=NORMAL (no fsync per commit).",
        "- Every Toasty hub: `python -m toasty_server --renderer none` (so only the store differs). Same load "
        f"in every column: {sizes['publisher_processes']} publisher process(es) with the agents split evenly, "
        "one per hub of the largest column; each targets the subscriber of the next hub, so with several hubs "
        "every delivery crosses hubs through the database (commit, NOTIFY, read). One subscriber per hub. The "
        "one-in-flight load publishes on the first hub to the subscriber of the last.",
        f"- Median (min{DASH}max) over {sizes['repeats']} run(s); {TIMES}raw = column ÷ raw gRPC of the same run "
        "(throughput: higher is better; latency, CPU: lower is better).",
    ]


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
    ]
    targets = targets_table(result)
    if targets:
        out += ["", "## Against the targets of issue 7 (this run)", "", *targets]
        out += ["", "Memory, storm and toast targets: see their sections below."]
    main = main_table(result)
    if len(main) > 2:  # e.g. `--only desktop` has no per-server figures
        out += ["", "## Latency and throughput", "", *main]
    for title, table in (
        ("## The real client (ResilientNotificationClient, betterproto2 both ends)", rnc_table(result)),
        ("## Success rate (all workloads above)", success_table(result)),
        ("## Memory: idle subscribers (first repeat only)", memory_table(result)),
        ("## Memory: slow consumer (first repeat only)", slow_table(result)),
        ("## Reconnect storm (first repeat only)", storm_table(result)),
        ("## Codec cost (this machine)", codec_table(result)),
        (
            "## Publish → toast displayed on a real dunst (Xvfb + private D-Bus; once per run)",
            desktop_section(result),
        ),
        (
            "## Several hubs on one PostgreSQL database (issue 19, `--hubs`)",
            [*hubs_table(result), "", *hubs_notes(result)] if hubs_table(result) else [],
        ),
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
