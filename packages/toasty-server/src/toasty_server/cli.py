"""`toasty-server`: run the hub on embedded defaults, or show the effective configuration."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from toasty_server.app import ToastyServer
from toasty_server.config import ConfigError, Settings, load_settings
from toasty_server.logs import setup_logging
from toasty_server.stop_signals import stop_event
from toasty_server.store import StoreError

log = logging.getLogger("toasty_server.cli")

EPILOG = """\
Every flag has a TOASTY_* environment variable (e.g. --port / TOASTY_PORT); flags win over the
environment, which wins over the --config TOML file, which wins over the defaults.

examples:
  toasty-server                          # localhost:50053, SQLite in the user data folder
  toasty-server --store memory --port 0  # throwaway server on a free port
  toasty-server --print-config           # show the effective settings as JSON
  toasty-server register-aumid --icon toasty.png  # Windows: register the AUMID (see register-aumid -h)
  toasty-server unregister-aumid                  # Windows: remove that registration
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="toasty-server",
        description="Toasty notification hub: gRPC pub/sub for agents, shown as desktop toasts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", help="listen address (default localhost)")
    p.add_argument("--port", type=int, help="gRPC port (default 50053; 0 picks a free one)")
    p.add_argument(
        "--store",
        choices=["sqlite", "memory", "postgres"],
        help="where the delivery log lives (postgres: TOASTY_DATABASE_URL)",
    )
    p.add_argument("--data-dir", type=Path, help="folder of the SQLite database")
    p.add_argument("--db-path", type=Path, help="SQLite file (default <data-dir>/toasty.db)")
    p.add_argument("--renderer", choices=["auto", "windows", "freedesktop", "console", "none"])
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--log-format", choices=["text", "json"])
    p.add_argument("--config", type=Path, help="TOML file with settings")
    p.add_argument("--print-config", action="store_true", help="print the effective settings and exit")
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {k: v for k, v in vars(args).items() if k != "print_config"}
    return load_settings(**flags)


async def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; a second signal exits at once."""
    server = ToastyServer(settings)
    stop = stop_event("stopping gracefully")
    await server.start()
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["register-aumid"]:
        from toasty_server.aumid import main as register_aumid_main

        return register_aumid_main(words[1:])
    if words[:1] == ["unregister-aumid"]:
        from toasty_server.aumid import unregister_main

        return unregister_main(words[1:])
    if words[:1] == ["toast-activated"]:  # Windows (COM) starts this for a click on a toast (docs/windows.md)
        from toasty_server.render.windows_activation import main as activation_main

        return activation_main(words[1:])
    args = _parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        sys.stderr.write(f"toasty-server: {exc}\n")
        return 2
    if args.print_config:
        sys.stdout.write(json.dumps(settings.model_dump(mode="json"), indent=2) + "\n")
        return 0
    setup_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(serve(settings))
    except StoreError as exc:
        sys.stderr.write(f"toasty-server: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"toasty-server: {exc}\n")
        return 1
    return 0
