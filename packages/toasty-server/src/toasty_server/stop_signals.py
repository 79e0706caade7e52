"""How the server and the desktop companion stop: the first SIGINT/SIGTERM asks for a clean stop, a
second one exits at once (a stop that hangs must not need kill -9)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

log = logging.getLogger(__name__)


def stop_event(what: str) -> asyncio.Event:
    """An event the first SIGINT/SIGTERM sets (logged as "SIGTERM received: <what>"); a second one exits
    with 130. Where the loop takes no signal handlers (Windows), Ctrl-C interrupts the run instead."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(130)
        log.info("%s received: %s", signal.Signals(signum).name, what)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal, sig)
    return stop
