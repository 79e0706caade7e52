"""Promise 1: a publish acknowledged before a `kill -9` of the server reaches its subscribers after the
restart (resume by sequence, real ResilientNotificationClient), once each after the client's dedupe."""

from __future__ import annotations

import os
import random
from pathlib import Path

from tests.reliability import scenarios


def seed_from_env() -> int:
    """TOASTY_RELIABILITY_SEED replays a failing run; otherwise a fresh seed (printed on failure)."""
    return int(os.environ.get("TOASTY_RELIABILITY_SEED") or random.randrange(2**31))


async def test_acknowledged_publishes_survive_repeated_kill_9(tmp_path: Path) -> None:
    """8 agents publish (broadcast and targeted) and 8 subscribers read while the server process is
    killed -9 three times at seeded random moments; nothing acknowledged is lost, nothing is yielded
    twice, sequences only increase, and every acknowledged id is in the SQLite log."""
    seed = seed_from_env()
    try:
        report = await scenarios.kill9(tmp_path, agents=8, subscribers=8, kills=3, seed=seed)
    except AssertionError as exc:
        raise AssertionError(f"seed {seed} (rerun with TOASTY_RELIABILITY_SEED={seed}): {exc}") from exc
    print(report.describe())
    assert report.ok, f"TOASTY_RELIABILITY_SEED={seed}: {report.describe()}"
    assert report.faults == 3
    assert report.verdict.acknowledged > 50, "too few publishes to say anything"
