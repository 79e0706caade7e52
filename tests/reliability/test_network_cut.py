"""Promise 5: across network cuts (connection resets, refused connections, a server restart) the client
reconnects with backoff and jitter, resumes its subscription, and `ask()` still returns the answer."""

from __future__ import annotations

import asyncio
import itertools
import statistics
from pathlib import Path

from tests.core.process import free_port
from tests.reliability import scenarios
from tests.reliability.faults import TcpProxy
from tests.reliability.test_kill9 import seed_from_env
from toasty_client import ResilientNotificationClient, RetryPolicy


async def test_ask_and_subscription_survive_resets_refusals_and_a_restart(tmp_path: Path) -> None:
    """An agent in ask() and a subscriber, both behind a TCP proxy, while another agent publishes to the
    subscriber: three connection resets, three seconds of refused connections, then kill -9 of the
    server. A person answers from elsewhere: ask() returns exactly that answer, and the subscriber has
    every acknowledged publish, once each, in order."""
    seed = seed_from_env()
    report = await scenarios.network_cut(tmp_path, resets=3, refuse_seconds=3.0, seed=seed)
    print(report.describe())
    assert report.ok, f"TOASTY_RELIABILITY_SEED={seed}: {report.describe()}"


async def test_reconnects_back_off_with_jitter_capped_by_the_retry_policy() -> None:
    """Eight clients with the shipped channel settings each dial their own proxy, which refuses every
    connection for nine seconds. Each client's attempts back off (gaps grow), never wait much longer
    than its RetryPolicy.max_backoff, and the clients' retries drift apart (jitter), so a restarted
    server does not get every reconnect in the same instant.

    Uncapped, grpc's backoff (x1.6 from 0.1 s) would wait 2.7 s (2.1 to 3.2 with jitter) before its
    ninth attempt, within the nine seconds; capped, a gap is at most 1.2 s (max_backoff plus 20 %
    jitter). The bound below, 2 s, leaves room for a loaded machine's scheduling delays and still
    tells the two apart."""
    policy = RetryPolicy(initial_backoff=0.1, max_backoff=1.0, jitter=0.2)
    proxies = [TcpProxy(free_port()) for _ in range(8)]  # upstream ports nobody listens on
    for proxy in proxies:
        proxy.refusing = True
        await proxy.start()
    clients = [ResilientNotificationClient(p.address, agent_id=f"c{i}", retry=policy) for i, p in enumerate(proxies)]
    streams = []
    try:
        for c in clients:
            c.connect()
            streams.append(c.subscribe())
        readers = [asyncio.ensure_future(anext(s)) for s in streams]
        await asyncio.sleep(9.0)
        assert not any(r.done() for r in readers)
        for r in readers:
            r.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    finally:
        for c in clients:
            await c.close()
        for p in proxies:
            await p.close()

    seconds = [[t - p.attempts[0] for t in p.attempts] for p in proxies]
    for attempts in seconds:
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert 4 <= len(attempts) <= 50, f"{len(attempts)} attempts in 9 s: {attempts}"
        assert max(gaps) > 2 * gaps[0], f"no backoff: gaps {gaps}"
        assert max(gaps) <= policy.max_backoff * 2, f"waited longer than max_backoff: gaps {gaps}"
    third = [attempts[2] for attempts in seconds]
    assert max(third) - min(third) > 0.02, f"no jitter: third attempts at {third}"
    assert statistics.pstdev(third) > 0.005
