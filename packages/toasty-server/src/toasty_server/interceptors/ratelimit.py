"""Per-agent rate limits as refusals: over its limit, a call fails at once with RESOURCE_EXHAUSTED.

Each agent has its own aiolimiter leaky bucket, so a noisy agent only ever empties its own. aiolimiter
would make the caller wait; a server must not hold calls (and their memory) for a misbehaving agent,
so the bucket is only used when it has room, and otherwise the caller is told when it will have room
(`toasty-retry-after-ms`), which the client library honours. A call counts once, whatever it streams,
except PublishStream, whose every request counts as one publish (its handler asks the same buckets).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc
from aiolimiter import AsyncLimiter

from toasty_server.interceptors.base import (
    CLIENT_STREAMING_PATHS,
    Continuation,
    Handler,
    is_infrastructure,
    refusal,
)
from toasty_server.interceptors.errors import RateLimited
from toasty_server.interceptors.identity import current_agent
from toasty_server.observability.metrics import ServerMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """`limit` calls per `window` seconds per agent (0: unlimited); `burst` calls at once (default:
    the agent's limit); `overrides` give some agents another limit; `max_agents` bounds memory."""

    limit: float = 10.0
    window: float = 60.0
    burst: float | None = None
    overrides: Mapping[str, float] = field(default_factory=dict)
    max_agents: int = 10_000

    def limit_for(self, agent: str) -> float:
        return self.overrides.get(agent, self.limit)

    @property
    def enabled(self) -> bool:
        return self.limit > 0 or any(v > 0 for v in self.overrides.values())


class AgentLimiters:
    """One leaky bucket per agent, the least recently seen dropped beyond `max_agents`."""

    def __init__(self, policy: RatePolicy) -> None:
        self.policy = policy
        self._limiters: OrderedDict[str, AsyncLimiter | None] = OrderedDict()
        self._refusing: set[str] = set()

    def __len__(self) -> int:
        return len(self._limiters)

    def _limiter(self, agent: str) -> AsyncLimiter | None:
        limiter = self._limiters.get(agent)
        if limiter is not None or agent in self._limiters:
            self._limiters.move_to_end(agent)
            return limiter
        limit = self.policy.limit_for(agent)
        if limit > 0:
            # The bucket holds `burst` calls and drains at limit/window, whatever the burst.
            bucket = max(1.0, self.policy.burst or limit)
            limiter = AsyncLimiter(bucket, self.policy.window * bucket / limit)
        self._limiters[agent] = limiter
        if len(self._limiters) > self.policy.max_agents:
            evicted, _ = self._limiters.popitem(last=False)
            self._refusing.discard(evicted)
        return limiter

    async def try_acquire(self, agent: str) -> float | None:
        """None when `agent` may make a call now (it is counted); else the seconds until it may."""
        limiter = self._limiter(agent)
        if limiter is None:
            return None
        if limiter.has_capacity():
            await limiter.acquire()  # has room: returns without suspending
            self._refusing.discard(agent)
            return None
        rate_per_second = limiter.max_rate / limiter.time_period
        level = getattr(limiter, "_level", None)  # aiolimiter has no public "level"; else be conservative
        excess = (level + 1 - limiter.max_rate) if isinstance(level, float | int) else 1.0
        if agent not in self._refusing:
            self._refusing.add(agent)
            log.info("agent %r is over its rate limit: refusing its calls for now", agent)
        return max(excess, 0.001) / rate_per_second

    def refusal(
        self, agent: str, retry_after: float, *, retry_hint: str = "toasty-retry-after-ms", scope: str = ""
    ) -> RateLimited:
        """The error for a call `try_acquire` refused: the limit, when to retry, how to raise it.
        `retry_hint` names where the transport carries the delay; `scope` qualifies the limit."""
        message = (
            f"agent {agent!r} is over its call budget of {self.policy.limit_for(agent):g} calls per "
            f"{self.policy.window:g}s{scope}: retry in {retry_after:.1f}s ({retry_hint}), slow down, or raise "
            "TOASTY_CALL_RATE_LIMIT"
        )
        return RateLimited(message, retry_after)


class RateLimitInterceptor(grpc.aio.ServerInterceptor):
    """Innermost: only calls that passed identity and token checks spend an agent's budget."""

    def __init__(self, limiters: AgentLimiters, metrics: ServerMetrics) -> None:
        self._limiters = limiters
        self._metrics = metrics
        metrics.watch_rate_limiter(limiters.__len__)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or is_infrastructure(method) or method in CLIENT_STREAMING_PATHS:
            return handler  # PublishStream: each request is counted by its handler
        agent = current_agent()  # the principal's id (a token's agent), set by the access check before us
        retry_after = await self._limiters.try_acquire(agent)
        if retry_after is None:
            return handler
        self._metrics.rate_limit_refusals.inc()
        return refusal(method, self._limiters.refusal(agent, retry_after))
