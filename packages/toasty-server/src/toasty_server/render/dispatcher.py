"""The renderer: a bounded queue of toasts, shown by the first backend that works.

Publishing never waits for the desktop: the service submits and moves on. A backend that raises is
logged and counted, and the toast falls back to the next backend (console last), so a broken desktop
never loses the notification nor crashes the server. A backend whose desktop is away for now (no
notification daemon yet) says so (`available`) and is skipped until it is back.

Up to `concurrency` toasts are handed to the backends at once, in queue order: a desktop daemon answers
each Notify only after drawing, so one at a time made a burst of toasts wait in line for every redraw
(and made dunst redraw each one about three times). Updates of one toast (same replace key: a progress
bar) still go one after the other, in order, since each needs the previous one's daemon id; an update
that a newer one of the same toast overtook while it waited is not drawn at all (coalesced): a bar
updated ten times a second shows its latest value as fast as the desktop draws, not a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from toasty_server.render.backend import BackendStatus, BackendUnavailable, Interaction, InteractionSink, ToastBackend
from toasty_server.render.images import local_image_problem
from toasty_server.render.spec import ToastSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RenderReceipt:
    """What became of one toast: which backend showed it, or why none could."""

    notification_id: str
    shown: bool
    backend: str
    error: str = ""


ReceiptSink = Callable[[ToastSpec, RenderReceipt], None]
ImageResolver = Callable[[str], Awaitable[Path]]
"""Image URL → local file (the image cache); raises when it cannot."""


class Renderer:
    """Owns the backends, in order of preference, and the worker that feeds them."""

    def __init__(
        self,
        backends: Sequence[ToastBackend],
        *,
        queue_depth: int = 1000,
        concurrency: int = 8,
        image_resolver: ImageResolver | None = None,
        local_image_max_bytes: int = 5 * 1024 * 1024,
    ) -> None:
        self._candidates = list(backends)
        self._image_resolver = image_resolver
        self._local_image_max_bytes = local_image_max_bytes
        self._active: list[ToastBackend] = []
        self._queue: asyncio.Queue[ToastSpec] = asyncio.Queue(maxsize=queue_depth)
        self._worker: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._rendering: set[asyncio.Task[None]] = set()
        self._latest_by_key: dict[tuple[str, str], asyncio.Task[None]] = {}  # the last update of each toast
        self._interaction_sink: InteractionSink = _ignore_interaction
        self._receipt_sink: ReceiptSink = _ignore_receipt
        self.shown: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.coalesced = 0  # progress updates not drawn because a newer one of the same toast was queued

    @property
    def backend_names(self) -> list[str]:
        return [b.name for b in self._active]

    def status(self) -> list[BackendStatus]:
        """Each active backend in order of preference: what it shows on, and whether it can right now."""
        return [backend.status() for backend in self._active]

    def on_interaction(self, sink: InteractionSink) -> None:
        self._interaction_sink = sink

    def on_receipt(self, sink: ReceiptSink) -> None:
        self._receipt_sink = sink

    async def start(self) -> None:
        """Start every backend that can run here; unavailable ones are skipped with a log line."""
        for backend in self._candidates:
            try:
                await backend.start(self._interaction)
            except BackendUnavailable as exc:
                log.info("desktop backend %s not used: %s", backend.name, exc)
                continue
            self._active.append(backend)
        log.info("desktop backends in order: %s", ", ".join(self.backend_names) or "none")
        self._worker = asyncio.create_task(self._run(), name="toasty-renderer")

    def submit(self, toast: ToastSpec) -> bool:
        """Queue a toast; False when the queue is full (the toast is refused, delivery is unaffected)."""
        if not self._active:
            return False
        try:
            self._queue.put_nowait(toast)
        except asyncio.QueueFull:
            log.warning("render queue full: toast %s not shown", toast.notification_id)
            self.failed["queue_full"] += 1
            return False
        return True

    async def drain(self) -> None:
        """Wait until every queued toast was handled (used by shutdown and tests)."""
        await self._queue.join()

    async def withdraw(self, notification_id: str) -> None:
        for backend in self._active:
            try:
                await backend.withdraw(notification_id)
            except Exception:
                log.exception("backend %s failed to withdraw %s", backend.name, notification_id)

    async def close(self) -> None:
        if self._worker is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.drain(), timeout=2.0)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            for task in list(self._rendering):
                task.cancel()
            await asyncio.gather(*self._rendering, return_exceptions=True)
        for backend in self._active:
            try:
                await backend.close()
            except Exception:
                log.exception("backend %s failed to close", backend.name)

    async def show(self, toast: ToastSpec) -> RenderReceipt:
        """Try each active backend in order until one shows the toast."""
        toast = await self._with_local_image(toast)
        errors: list[str] = []
        for backend in self._active:
            if not backend.available:  # its desktop is away for now (no daemon): the next one shows it
                continue
            try:
                await backend.show(toast)
            except Exception as exc:
                self.failed[backend.name] += 1
                log.warning("backend %s failed to show %s, falling back: %r", backend.name, toast.notification_id, exc)
                errors.append(f"{backend.name}: {exc!r}")
                continue
            self.shown[backend.name] += 1
            return RenderReceipt(toast.notification_id, True, backend.name, "; ".join(errors))
        return RenderReceipt(toast.notification_id, False, "", "; ".join(errors) or "no desktop backend")

    async def _with_local_image(self, toast: ToastSpec) -> ToastSpec:
        """Desktops need a file: download an image URL first; on failure show the toast without it.

        A local path is checked first (a regular image file within the size limit): a FIFO or device
        would block the desktop daemon that opens it.
        """
        image = toast.image
        if image is not None and image.path is not None:
            problem = await asyncio.get_running_loop().run_in_executor(
                None, local_image_problem, image.path, self._local_image_max_bytes
            )
            if problem is None:
                return toast
            self.failed["image_refused"] += 1
            log.warning("toast %s shown without its image: %s", toast.notification_id, problem)
            return without_image(toast)
        if image is None or not image.url or self._image_resolver is None:
            return toast
        try:
            path = await self._image_resolver(image.url)
        except Exception as exc:
            self.failed["image_download"] += 1
            log.warning("toast %s shown without its image: %s", toast.notification_id, exc)
            return without_image(toast)
        return dataclasses.replace(toast, image=dataclasses.replace(image, path=path))

    async def _run(self) -> None:
        while True:
            toast = await self._queue.get()
            await self._slots.acquire()
            key = toast.replace_key
            earlier = self._latest_by_key.get(key) if key is not None else None
            task = asyncio.create_task(self._render(toast, earlier), name="toasty-render")
            self._rendering.add(task)
            task.add_done_callback(self._rendering.discard)
            if key is not None:
                self._latest_by_key[key] = task
                task.add_done_callback(functools.partial(self._forget_latest, key))

    async def _render(self, toast: ToastSpec, earlier: asyncio.Task[None] | None) -> None:
        try:
            if earlier is not None:
                await asyncio.wait([earlier])  # the previous update of the same toast goes first
                if self._latest_by_key.get(toast.replace_key) is not asyncio.current_task():  # type: ignore[arg-type]
                    self.coalesced += 1  # a newer update of this toast is queued: draw that one instead
                    superseded = "superseded by a newer update of the same toast before it was drawn"
                    self._receipt_sink(toast, RenderReceipt(toast.notification_id, False, "", superseded))
                    return
            receipt = await self.show(toast)
            self._receipt_sink(toast, receipt)
        except Exception:
            log.exception("rendering %s failed", toast.notification_id)
        finally:
            self._slots.release()
            self._queue.task_done()

    def _forget_latest(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._latest_by_key.get(key) is task:
            del self._latest_by_key[key]

    def _interaction(self, interaction: Interaction) -> None:
        self._interaction_sink(interaction)


def _ignore_interaction(interaction: Interaction) -> None:
    log.debug("interaction without a listener: %s", interaction)


def _ignore_receipt(toast: ToastSpec, receipt: RenderReceipt) -> None:
    return None


def without_image(toast: ToastSpec) -> ToastSpec:
    return dataclasses.replace(toast, image=None)
