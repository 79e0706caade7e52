"""`toasty-desktop`: run the desktop companion on this device until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from toasty_server.companion.options import (
    CLIENT_ID,
    MAX_AGE_SECONDS,
    MAX_CLIENT_ID_CHARS,
    POLL_SECONDS,
    CompanionOptions,
    RendererName,
    default_client_id,
    default_state_dir,
)
from toasty_server.logs import escape_controls, setup_logging
from toasty_server.stop_signals import stop_event

log = logging.getLogger(__name__)

PROG = "toasty-desktop"
DEFAULT_HUB = "localhost:50053"
EXIT_CONFIG = 2  # bad flags, no credential, a package missing
EXIT_REFUSED = 1  # the hub refuses the credential, or another companion took the client id over

EPILOG = f"""\
examples:
  toasty-desktop --hub hub.lan:50053 --ca-file hub-ca.pem   # another machine's hub, over TLS
  toasty-desktop --hub localhost:50053 --renderer console   # toasts as lines on stderr
  toasty-desktop --hub hub.lan:50053 --client-id desktop@work-laptop --secret-file ~/.config/toasty/person.secret

The person secret is read from --token, else --secret-file, else TOASTY_TOKEN, else the person secret
file (TOASTY_PERSON_SECRET_FILE, default: where toasty-server keeps it on this machine). On another
device, copy the hub's person.secret there (mode 600). The resume point lives in {default_state_dir()}.
The hub address also comes from TOASTY_ADDRESS; TLS from TOASTY_CA_FILE or TOASTY_TLS=1.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        super().error(escape_controls(message))


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description=(
            "Show a Toasty hub's toasts on this device's desktop and send the person's answers back. Runs no "
            "hub and stores nothing but its resume point; run one per device (a systemd user unit, a Windows "
            "startup shortcut)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--hub", help=f"the hub's address, host:port or unix:/path (default TOASTY_ADDRESS, {DEFAULT_HUB})")
    p.add_argument(
        "--renderer",
        choices=["auto", "freedesktop", "windows", "console"],
        default="auto",
        help="this device's backend (default auto: Windows, else freedesktop when a daemon answers, else console)",
    )
    p.add_argument("--client-id", help=f"this device's subscription (default {default_client_id()})")
    p.add_argument("--token", help="the person secret itself (visible to other users in the process list)")
    p.add_argument("--secret-file", type=Path, help="a file holding the person secret")
    p.add_argument("--ca-file", type=Path, help="PEM the hub's TLS certificate is checked against")
    p.add_argument("--state-dir", type=Path, help="where the resume point is kept")
    p.add_argument(
        "--max-age",
        type=float,
        default=MAX_AGE_SECONDS,
        metavar="SECONDS",
        help=f"toasts older than this found while catching up are not shown (default {MAX_AGE_SECONDS:g}; "
        "open questions always are)",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        default=POLL_SECONDS,
        metavar="SECONDS",
        help=f"how often shown questions are checked for an answer given elsewhere (default {POLL_SECONDS:g})",
    )
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default="INFO")
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    return p


def person_token(args: argparse.Namespace) -> tuple[str, str]:
    """(token, where it came from); ("", what was tried) when there is none."""
    from toasty_client.person import person_secret, person_secret_file

    if args.token:
        return args.token.strip(), "--token"
    if args.secret_file is not None:
        try:
            return args.secret_file.read_text(encoding="ascii").strip(), str(args.secret_file)
        except (OSError, UnicodeDecodeError):
            return "", str(args.secret_file)
    if os.environ.get("TOASTY_TOKEN"):
        return os.environ["TOASTY_TOKEN"].strip(), "TOASTY_TOKEN"
    return person_secret(), str(person_secret_file())


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"{PROG}: {escape_controls(message)}\n")
    return code


async def _run(options: CompanionOptions) -> None:
    """Run until SIGINT/SIGTERM (a second one exits at once)."""
    from toasty_server.companion.companion import DesktopCompanion

    await DesktopCompanion(options).run(stop_event("stopping"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if importlib.util.find_spec("toasty_client") is None:
        return _fail("the toasty-client package is needed: pip install toasty-client", EXIT_CONFIG)
    token, source = person_token(args)
    if not token:
        return _fail(
            f"no person secret in {source}: copy the hub's person.secret to this device (mode 600) and give "
            "--secret-file, or set TOASTY_TOKEN",
            EXIT_CONFIG,
        )
    client_id = args.client_id or default_client_id()
    if not CLIENT_ID.fullmatch(client_id) or len(client_id) > MAX_CLIENT_ID_CHARS:
        return _fail(
            f"--client-id {client_id!r}: letters, digits and . _ : @ / - (first a letter or digit), "
            f"at most {MAX_CLIENT_ID_CHARS} characters",
            EXIT_CONFIG,
        )
    if args.ca_file is not None and not args.ca_file.is_file():
        return _fail(f"--ca-file {args.ca_file}: no such file", EXIT_CONFIG)
    if args.max_age <= 0 or args.poll_interval <= 0:
        return _fail("--max-age and --poll-interval must be positive", EXIT_CONFIG)
    renderer: RendererName = args.renderer
    options = CompanionOptions(
        hub=args.hub or os.environ.get("TOASTY_ADDRESS") or DEFAULT_HUB,
        token=token,
        client_id=client_id,
        renderer=renderer,
        state_dir=args.state_dir,
        max_age_seconds=args.max_age,
        poll_seconds=args.poll_interval,
        ca_file=args.ca_file,
    )
    setup_logging(args.log_level, args.log_format)
    _share_handler("toasty_client")
    from toasty_server.companion.companion import CompanionError

    try:
        asyncio.run(_run(options))
    except CompanionError as exc:
        return _fail(str(exc), EXIT_REFUSED)
    except KeyboardInterrupt:
        return 130
    return 0


def _share_handler(name: str) -> None:
    """The client's warnings (a reset log, ...) through the same escaping handler as ours."""
    ours = logging.getLogger("toasty_server")
    theirs = logging.getLogger(name)
    theirs.handlers[:] = list(ours.handlers)
    theirs.setLevel(logging.WARNING)
    theirs.propagate = False
