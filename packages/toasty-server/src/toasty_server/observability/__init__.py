"""Observability: per-call context (trace, agent, notification) for logs, and Prometheus metrics."""

from toasty_server.observability.context import CallInfo, current_call, set_notification_id
from toasty_server.observability.metrics import ServerMetrics

__all__ = ["CallInfo", "ServerMetrics", "current_call", "set_notification_id"]
