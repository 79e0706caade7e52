"""Tests that need an outside tool skip where it is missing, but fail where it is promised (CI).

Each `TOASTY_REQUIRE_*` variable, set by `.ci/run`, turns "missing: skipped" into a failure, so CI never
passes by quietly not running a test: DESKTOP (Xvfb, dbus, the notification daemons, xdotool,
ImageMagick), BROWSER (Chromium and Playwright), TOOLS (openssl, curl), POSTGRES (a PostgreSQL server's
binaries).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(problem: str, required_by: str) -> NoReturn:
    """Skip the test for `problem`, or fail it when the environment variable `required_by` is set."""
    if os.environ.get(required_by):
        pytest.fail(f"{required_by} is set but {problem}")
    pytest.skip(problem)
