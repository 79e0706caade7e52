"""The renderer hands several toasts to the desktop at once, but updates of one toast in order."""

from __future__ import annotations

import asyncio

from toasty_server.render.backend import InteractionSink
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.spec import Kind, ProgressSpec, ToastSpec


class HeldBackend:
    """A backend whose show() waits until the test releases it (a desktop daemon busy drawing)."""

    name = "held"
    available = True

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.started: list[str] = []
        self.finished: list[str] = []

    async def start(self, sink: InteractionSink) -> None:
        return None

    async def show(self, toast: ToastSpec) -> None:
        self.started.append(toast.notification_id)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
            await asyncio.sleep(0)  # let others interleave if they could
        finally:
            self.in_flight -= 1
        self.finished.append(toast.notification_id)

    async def withdraw(self, notification_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


def text(n: int) -> ToastSpec:
    return ToastSpec(notification_id=f"t{n}", publisher="agent", kind=Kind.TEXT, title=f"toast {n}")


def progress(n: int, key: str = "build") -> ToastSpec:
    return ToastSpec(
        notification_id=f"{key}{n}",
        publisher="agent",
        kind=Kind.PROGRESS,
        title="Build",
        progress=ProgressSpec(key=key, value=n / 10),
    )


async def test_up_to_the_concurrency_toasts_are_shown_at_once_in_queue_order() -> None:
    backend = HeldBackend()
    renderer = Renderer([backend], concurrency=4)
    await renderer.start()
    try:
        for n in range(10):
            assert renderer.submit(text(n))
        await asyncio.sleep(0.1)
        assert backend.started == ["t0", "t1", "t2", "t3"], "four handed over at once, the rest wait"
        backend.release.set()
        await asyncio.wait_for(renderer.drain(), 5)
        assert backend.started == [f"t{n}" for n in range(10)]
        assert backend.most_in_flight == 4
    finally:
        await renderer.close()


async def test_updates_of_one_progress_toast_never_overlap_stay_in_order_and_coalesce() -> None:
    backend = HeldBackend()
    receipts: list[str] = []
    renderer = Renderer([backend], concurrency=8)
    renderer.on_receipt(lambda toast, receipt: receipts.append(receipt.notification_id))
    await renderer.start()
    try:
        for n in range(5):
            renderer.submit(progress(n))
            renderer.submit(text(n))
        await asyncio.sleep(0.1)
        # the first update and the one-off toasts run; the later updates wait for the first
        assert [s for s in backend.started if s.startswith("build")] == ["build0"]
        backend.release.set()
        await asyncio.wait_for(renderer.drain(), 5)
        updates = [s for s in backend.finished if s.startswith("build")]
        # the updates queued behind the first are coalesced: only the newest is drawn, in order
        assert updates == ["build0", "build4"]
        assert [s for s in backend.started if s.startswith("build")] == updates
        assert renderer.coalesced == 3
        # every toast gets its receipt, the coalesced ones as not drawn
        assert sorted(receipts) == sorted([f"build{n}" for n in range(5)] + [f"t{n}" for n in range(5)])
    finally:
        await renderer.close()
