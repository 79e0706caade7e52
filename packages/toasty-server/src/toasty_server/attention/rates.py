"""What each agent put in front of the person, minute by minute, over the last hour (the web page's
chart and GetAttention's rates): shown, held, collapsed, refused by the attention budget."""

from __future__ import annotations

from collections import OrderedDict, defaultdict

from toasty_proto import v1

MINUTES = 60
MAX_AGENTS = 1000  # agents tracked at once; the least recently active are forgotten
DECISIONS = ("shown", "held", "collapsed", "refused")


class Rates:
    """Per agent, per decision, counts in one-minute buckets."""

    def __init__(self) -> None:
        # agent → decision → {minute (unix // 60): count}
        self._agents: OrderedDict[str, dict[str, dict[int, int]]] = OrderedDict()

    def count(self, agent: str, decision: str, now: float) -> None:
        if decision not in DECISIONS:
            return
        minute = int(now // 60)
        buckets = self._agents.get(agent)
        if buckets is None:
            buckets = self._agents[agent] = defaultdict(dict)
        self._agents.move_to_end(agent)
        per_minute = buckets[decision]
        per_minute[minute] = per_minute.get(minute, 0) + 1
        for old in [m for m in per_minute if m <= minute - MINUTES]:
            del per_minute[old]
        if len(self._agents) > MAX_AGENTS:
            self._agents.popitem(last=False)

    def report(self, now: float) -> list[v1.AgentRates]:
        minute = int(now // 60)
        window = range(minute - MINUTES + 1, minute + 1)
        out = []
        for agent, buckets in self._agents.items():
            totals = {d: sum(buckets.get(d, {}).get(m, 0) for m in window) for d in DECISIONS}
            if not any(totals.values()):
                continue
            out.append(
                v1.AgentRates(
                    agent=agent,
                    shown=totals["shown"],
                    held=totals["held"],
                    collapsed=totals["collapsed"],
                    refused=totals["refused"],
                    shown_per_minute=[buckets.get("shown", {}).get(m, 0) for m in window],
                )
            )
        return sorted(out, key=lambda r: r.agent)
