"""Prometheus metrics of one server, in a registry of its own (tests run several servers per process).

Counters that the interceptors move live here; the state of the broker and the renderer (queue depths,
overflows, toasts per backend) is read at scrape time by a collector, so the hot paths of the broker
and the renderer do not pay for metrics at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from toasty_server.broker import Broker
    from toasty_server.config import Settings
    from toasty_server.render.dispatcher import Renderer

LIMIT_SETTINGS = (
    "rate_limit",
    "rate_window",
    "mailbox_depth",
    "render_queue_depth",
    "retention_max_entries",
    "retention_max_age_seconds",
    "retention_max_bytes",
    "max_message_bytes",
    "max_title_chars",
    "max_text_chars",
    "max_id_chars",
    "max_buttons",
    "max_inputs",
    "max_choices",
    "image_max_bytes",
    "http_max_connections",
    "http_idle_timeout_seconds",
    "http_write_timeout_seconds",
    "max_await_seconds",
    "max_open_questions_per_agent",
)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def limits_of(settings: Settings) -> dict[str, float]:
    """The configured limits exported as `toasty_limit{setting=...}` (every limit has a metric)."""
    return {name: float(getattr(settings, name)) for name in LIMIT_SETTINGS if hasattr(settings, name)}


MAX_AGENT_LABELS = 100  # agents named in per-agent metrics; the rest are 'other'


class ServerMetrics:
    """Every metric of one server. `registry` is what the HTTP endpoint serves."""

    def __init__(
        self,
        broker: Broker | None = None,
        renderer: Renderer | None = None,
        *,
        limits: Mapping[str, float] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rpc_calls = Counter(
            "toasty_rpc_calls", "RPCs handled, by method and final status code.", ["method", "code"], registry=r
        )
        self.rpc_latency = Histogram(
            "toasty_rpc_duration_seconds",
            "Time to answer a unary RPC, by method (streams are not timed: they last as long as the client).",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.publishes = Counter(
            "toasty_publishes",
            "Notifications accepted and stored, by RPC (Publish, SendNotification).",
            ["method"],
            registry=r,
        )
        self.deliveries = Counter(
            "toasty_deliveries", "Messages written to Subscribe streams (live and catch-up).", registry=r
        )
        self.rate_limit_refusals = Counter(
            "toasty_rate_limit_refusals",
            "Calls refused with RESOURCE_EXHAUSTED because an agent was over its rate limit.",
            registry=r,
        )
        self.auth_refusals = Counter(
            "toasty_auth_refusals", "Calls refused by the token check, by status code.", ["code"], registry=r
        )
        self.http_connections_refused = Counter(
            "toasty_http_connections_refused",
            "HTTP connections answered 503 and closed because TOASTY_HTTP_MAX_CONNECTIONS were open.",
            registry=r,
        )
        self.http_connections_idle_closed = Counter(
            "toasty_http_connections_idle_closed",
            "HTTP connections closed after TOASTY_HTTP_IDLE_TIMEOUT_SECONDS without a request in progress.",
            registry=r,
        )
        self.http_streams_kicked = Counter(
            "toasty_http_streams_kicked",
            "Event streams ended because their reader did not accept data within TOASTY_HTTP_WRITE_TIMEOUT_SECONDS.",
            registry=r,
        )
        self.http_requests = Counter(
            "toasty_http_requests",
            "HTTP requests (API, event streams, web page), by route and HTTP status; API calls also count in "
            "toasty_rpc_calls under the RPC they stand for.",
            ["route", "status"],
            registry=r,
        )
        self.attention_decisions = Counter(
            "toasty_attention_toasts",
            "Toasts per agent and decision: shown, or held (do-not-disturb, quiet hours). The first "
            f"{MAX_AGENT_LABELS} agents are named, the others counted as 'other'.",
            ["agent", "decision"],
            registry=r,
        )
        self._agent_labels: set[str] = set()
        self.interaction_outcomes = Counter(
            "toasty_interaction_outcomes",
            "Outcomes of Interactive notifications, by kind (button, dismissed, timed_out, ...).",
            ["kind"],
            registry=r,
        )
        self._state = _StateCollector(broker, renderer, dict(limits or {}))
        r.register(self._state)

    def count_interaction(self, kind: str) -> None:
        """Hook for the interaction code: one outcome of an Interactive notification."""
        self.interaction_outcomes.labels(kind=kind.lower()).inc()

    def count_attention(self, agent: str, decision: str) -> None:
        """Hook for the attention gate: one toast shown or held. Agent ids are chosen by callers, so the
        number of labels is bounded (each label costs memory for the life of the process)."""
        if agent not in self._agent_labels and len(self._agent_labels) >= MAX_AGENT_LABELS:
            agent = "other"
        self._agent_labels.add(agent)
        self.attention_decisions.labels(agent=agent, decision=decision).inc()

    def watch_rate_limiter(self, tracked_agents: Callable[[], int]) -> None:
        """Let the collector report how many agents' limiters are kept."""
        self._state.tracked_agents = tracked_agents


class _StateCollector(Collector):
    """Reads the broker's and renderer's state when Prometheus scrapes (from the HTTP thread).

    Only atomic reads under the GIL (len(), copies of dicts), so it never races the event loop into an
    exception; a scrape sees a state that existed at some instant.
    """

    def __init__(self, broker: Broker | None, renderer: Renderer | None, limits: dict[str, float]) -> None:
        self._broker = broker
        self._renderer = renderer
        self._limits = limits
        self.tracked_agents: Callable[[], int] | None = None

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterable[Metric]:
        if self._broker is not None:
            yield from self._broker_metrics(self._broker)
        if self._renderer is not None:
            yield from self._renderer_metrics(self._renderer)
        if self.tracked_agents is not None:
            yield GaugeMetricFamily(
                "toasty_rate_limited_agents", "Agents whose rate limiter is kept in memory.", self.tracked_agents()
            )
        if self._limits:
            limits = GaugeMetricFamily("toasty_limit", "Configured limits, by setting name.", labels=["setting"])
            for name, value in self._limits.items():
                limits.add_metric([name], value)
            yield limits

    @staticmethod
    def _broker_metrics(broker: Broker) -> Iterable[Metric]:
        subscriptions = broker.subscriptions
        yield GaugeMetricFamily("toasty_subscribers", "Live Subscribe streams.", len(subscriptions))
        queued = GaugeMetricFamily(
            "toasty_mailbox_queued", "Entries waiting in a subscriber's live mailbox.", labels=["client_id"]
        )
        for sub in subscriptions:
            queued.add_metric([sub.client_id], len(sub.mailbox))
        yield queued
        yield CounterMetricFamily(
            "toasty_mailbox_overflows",
            "Times a subscriber fell a full mailbox behind and was switched to catch-up from the log.",
            broker.overflows,
        )
        yield GaugeMetricFamily("toasty_last_sequence", "Highest committed sequence of the log.", broker.last_sequence)
        yield GaugeMetricFamily(
            "toasty_log_bytes",
            "Payload bytes the log retains, as of its last write or pruning (bounded by TOASTY_RETENTION_MAX_BYTES).",
            broker.store.payload_bytes,
        )
        yield GaugeMetricFamily(
            "toasty_pending_interactions", "Interactive notifications waiting for an outcome.", len(broker.asks)
        )

    @staticmethod
    def _renderer_metrics(renderer: Renderer) -> Iterable[Metric]:
        shown = CounterMetricFamily("toasty_toasts_shown", "Toasts shown, by desktop backend.", labels=["backend"])
        for backend, count in list(renderer.shown.items()):
            shown.add_metric([backend], count)
        yield shown
        failed = CounterMetricFamily(
            "toasty_toasts_failed",
            "Toasts a backend failed to show (then passed to the next), by backend or cause.",
            labels=["backend"],
        )
        for backend, count in list(renderer.failed.items()):
            failed.add_metric([backend], count)
        yield failed
        yield CounterMetricFamily(
            "toasty_toasts_coalesced",
            "Progress updates not drawn because a newer update of the same toast was already queued.",
            value=renderer.coalesced,
        )
