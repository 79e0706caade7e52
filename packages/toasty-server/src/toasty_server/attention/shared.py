"""The attention budget of a deployment of several hubs: one leaky bucket per agent in the shared store.

An agent that publishes through two hubs must not show the person twice its budget: the bucket lives in
the database every hub uses (`SharedStore.spend`), drained by the database's clock. The policy (limit,
window, burst, overrides) is the same as a single hub's (`RatePolicy`).
"""

from __future__ import annotations

from toasty_server.interceptors.ratelimit import RatePolicy
from toasty_server.store import SharedStore


class SharedLimiters:
    """`try_acquire` like AgentLimiters, against buckets every hub of the deployment shares."""

    def __init__(self, policy: RatePolicy, store: SharedStore) -> None:
        self.policy = policy
        self._store = store

    async def try_acquire(self, agent: str) -> float | None:
        """None when `agent` may show a new toast now (it is counted); else the seconds until it may."""
        limit = self.policy.limit_for(agent)
        if limit <= 0:
            return None
        capacity = max(1.0, self.policy.burst or limit)
        return await self._store.spend(f"attention:{agent}", capacity, limit / self.policy.window)
