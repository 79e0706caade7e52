"""`toasty-server` whose GetStatus takes TOASTY_TEST_SLOW_SECONDS: an in-flight call for shutdown tests.

Run as a script by the tests (a real process, real signals); nothing else differs from the product.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from toasty_server.cli import main
from toasty_server.service.servicer import NotificationServicer

SLOW_SECONDS = float(os.environ.get("TOASTY_TEST_SLOW_SECONDS", "1.5"))
_original = NotificationServicer.get_status
log = logging.getLogger("toasty_server.test.slow")


async def slow_get_status(self: NotificationServicer, request: Any, context: Any) -> Any:
    log.warning("slow call started")
    await asyncio.sleep(SLOW_SECONDS)
    log.warning("slow call finished")
    return await _original(self, request, context)


NotificationServicer.get_status = slow_get_status  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
