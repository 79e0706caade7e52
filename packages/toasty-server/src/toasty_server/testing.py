"""Run a real Toasty server inside your own tests: `async with running_server() as server: ...`.

The server listens on a free loopback port, with an in-memory store unless you pass `store="sqlite"`
and a `db_path`. Metrics are served on a free port (`server.metrics_port`) and rate limiting is off
unless you pass `rate_limit=...`: tests publish faster than an agent should. The person secret is made
in a temporary folder unless you pass `person_secret_file=...` (or set TOASTY_PERSON_SECRET_FILE);
`server.person_secret` is the token that acts as the person (answers, reads everything). The data folder
(do-not-disturb state, image cache) is the temporary folder too unless you pass `data_dir=...`. Toasty's
own test suite uses this helper.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from toasty_server.app import ToastyServer
from toasty_server.config import load_settings
from toasty_server.render.backend import ToastBackend


@asynccontextmanager
async def running_server(
    *, backends: Sequence[ToastBackend] | None = (), **settings: Any
) -> AsyncIterator[ToastyServer]:
    """Start a server on 127.0.0.1 and a free port; stop it on exit. `backends=None` picks as configured."""
    defaults: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "store": "memory",
        "shutdown_grace_seconds": 0.5,
        "metrics_port": 0,
        "rate_limit": 0,
        "call_rate_limit": 0,
    }
    with tempfile.TemporaryDirectory(prefix="toasty-test-") as scratch:
        if not os.environ.get("TOASTY_PERSON_SECRET_FILE"):  # never the user's own secret
            defaults["person_secret_file"] = Path(scratch) / "person.secret"
        if not os.environ.get("TOASTY_DATA_DIR"):  # nor the user's data folder (attention state, images)
            defaults["data_dir"] = Path(scratch)
        server = ToastyServer(load_settings(**{**defaults, **settings}), backends=backends)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()
