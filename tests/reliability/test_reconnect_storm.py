"""Promise 6: many subscribers reconnecting at once after a server restart all resume, nothing lost."""

from __future__ import annotations

from pathlib import Path

from tests.reliability import scenarios


async def test_reconnect_storm_after_kill_9_loses_nothing(tmp_path: Path) -> None:
    """800 subscribers, each a ResilientNotificationClient on its own connection, are live when the
    server is killed -9 and restarted; they reconnect at once (grpc may cancel some stream starts, the
    client retries them with jittered backoff) and every broadcast acknowledged before and after the
    restart reaches each of them exactly once."""
    report = await scenarios.reconnect_storm(tmp_path, subscribers=800)
    print(report.describe())
    assert report.ok, report.describe()
