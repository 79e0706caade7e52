"""Promise 4: a subscriber that stops reading cannot grow the server's memory or slow anyone else."""

from __future__ import annotations

from pathlib import Path

from tests.reliability import scenarios


async def test_frozen_subscriber_keeps_memory_bounded_and_others_unaffected(tmp_path: Path) -> None:
    """A subscriber process frozen with SIGSTOP while 5,000 broadcasts of ~12 KB go out: its mailbox
    overflows into catch-up (at most 100 queued), server RSS grows by less than 24 MiB (buffering them
    would take ~55 MB), two live subscribers get all 5,000, and the frozen one, thawed, catches up on
    every broadcast, once each, in order."""
    report = await scenarios.stalled_subscriber(tmp_path, broadcasts=5_000)
    print(report.describe())
    assert report.ok, report.describe()


async def test_receipts_nobody_will_send_are_not_remembered(tmp_path: Path) -> None:
    """Per-notification state must not outlive its notification: a `want_receipt` publish whose toast is
    never rendered (skip_toast, or no desktop backend at all) leaves nothing behind in the server, so an
    agent repeating it cannot grow the server's memory without bound."""
    from toasty_proto import v1
    from toasty_server.render.console import ConsoleBackend
    from toasty_server.testing import running_server

    request = v1.PublishRequest(
        notification=v1.Notification(text_message=v1.TextMessage(header=v1.Header(title="t"))), want_receipt=True
    )
    for backends, skip_toast in (((), False), ((ConsoleBackend(),), True)):
        async with running_server(store="sqlite", db_path=tmp_path / f"{skip_toast}.db", backends=backends) as srv:
            async with scenarios.client(srv.address, "agent") as agent:
                for _ in range(200):
                    proto = request.notification
                    assert proto is not None
                    proto.id = ""
                    await agent.publish(proto, skip_toast=skip_toast, want_receipt=True)
            pending = srv.interactions._receipt_wanted  # the coordinator's only per-receipt state
            assert not pending, f"{len(pending)} receipts remembered that no toast will ever produce"
