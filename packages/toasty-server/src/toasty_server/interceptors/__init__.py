"""grpc.aio server interceptors, one job each, and the order they run in.

Outermost first: metrics (sees the final status of every call, refusals included) → errors (turns
exceptions and refusals into statuses) → shutdown gate (refuses new calls while draining) → trace
(trace id for the logs) → identity (x-agent-id) → access (the principal from the credential: person
secret, token, or anonymous) → rate limit (last, so only admitted calls spend a budget).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from toasty_server.config import Settings
from toasty_server.interceptors.auth import AuthInterceptor
from toasty_server.interceptors.errors import ERROR_TABLE, ErrorInterceptor, RateLimited, Unauthenticated
from toasty_server.interceptors.identity import IdentityInterceptor, current_agent
from toasty_server.interceptors.metrics import MetricsInterceptor
from toasty_server.interceptors.ratelimit import AgentLimiters, RateLimitInterceptor, RatePolicy
from toasty_server.interceptors.shutdown import ShutdownGate
from toasty_server.interceptors.trace import TraceInterceptor
from toasty_server.observability.metrics import ServerMetrics

__all__ = [
    "ERROR_TABLE",
    "AgentLimiters",
    "RateLimited",
    "RatePolicy",
    "ShutdownGate",
    "Unauthenticated",
    "build_interceptors",
    "call_policy",
    "current_agent",
    "rate_policy",
]

if TYPE_CHECKING:
    from toasty_server.access.credentials import Credentials


def call_policy(settings: Settings) -> RatePolicy:
    """The call budget: every call (each PublishStream request too), generous, only against runaway loops."""
    return RatePolicy(limit=settings.call_rate_limit, window=settings.rate_window, max_agents=settings.rate_max_agents)


def rate_policy(settings: Settings) -> RatePolicy:
    """The attention budget's policy: new toasts per agent (attention.budget)."""
    return RatePolicy(
        limit=settings.rate_limit,
        window=settings.rate_window,
        burst=settings.rate_burst,
        overrides=dict(settings.rate_overrides),
        max_agents=settings.rate_max_agents,
    )


def build_interceptors(
    settings: Settings,
    metrics: ServerMetrics,
    gate: ShutdownGate,
    credentials: Credentials,
    limiters: AgentLimiters | None = None,
) -> list[grpc.aio.ServerInterceptor]:
    """The interceptor chain for `settings`, outermost first. Pass `limiters` to share the agents'
    rate budgets with another transport (the HTTP endpoint)."""
    chain: list[grpc.aio.ServerInterceptor] = [
        MetricsInterceptor(metrics),
        ErrorInterceptor(),
        gate,
        TraceInterceptor(),
        IdentityInterceptor(settings.max_id_chars),
    ]
    chain.append(AuthInterceptor(credentials, metrics))
    policy = call_policy(settings)
    if policy.enabled:
        chain.append(RateLimitInterceptor(limiters if limiters is not None else AgentLimiters(policy), metrics))
    return chain
