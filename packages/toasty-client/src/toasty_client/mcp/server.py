"""`toasty-mcp`: run Toasty's MCP server over stdio (what agent hosts start) or streamable HTTP.

    toasty-mcp                          # stdio: the host starts it and talks on stdin/stdout
    toasty-mcp --http 127.0.0.1:8765    # streamable HTTP at http://127.0.0.1:8765/mcp

It reaches the hub as the `toasty` command does (--address / TOASTY_ADDRESS, --agent-id /
TOASTY_AGENT_ID, TOASTY_TOKEN, TOASTY_CA_FILE / TOASTY_TLS). In stdio mode stdout is the protocol, so
every log line goes to stderr. This module imports the `mcp` SDK only inside main(): without the extra,
the command says how to install it instead of failing with a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from typing import TYPE_CHECKING

from toasty_client.safe_text import printable

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from toasty_client.mcp.hub import Hub

log = logging.getLogger(__name__)

INSTALL_HINT = 'toasty-mcp needs the MCP extra: pip install "toasty-client[mcp]"'
APPROVAL_TIMEOUT_ENV = "TOASTY_MCP_APPROVAL_TIMEOUT"
DEFAULT_APPROVAL_TIMEOUT = 300.0
_SDK_MODULES = frozenset({"mcp", "mcp_types"})


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="toasty-mcp",
        description="Toasty as an MCP server: notify, show progress and ask the person from an agent host.",
        epilog='Claude Code: claude mcp add toasty -- toasty-mcp   (needs: pip install "toasty-client[mcp]")',
    )
    p.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (loopback only: it has no login)",
    )
    p.add_argument("--address", help="the hub's address (default: TOASTY_ADDRESS, else localhost:50053)")
    p.add_argument(
        "--agent-id",
        help="who this server is to the hub (default: TOASTY_AGENT_ID; else the agent of TOASTY_TOKEN, or toasty-mcp)",
    )
    p.add_argument(
        "--approval-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"how long approval_prompt waits for the person before it denies (default: {APPROVAL_TIMEOUT_ENV}, "
        f"else {DEFAULT_APPROVAL_TIMEOUT:.0f})",
    )
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[::1]:PORT`, or a bare PORT on 127.0.0.1) on a loopback address: the HTTP endpoint
    has no authentication, so anything beyond this machine could publish and ask as this agent."""
    host, _, port_text = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--http expects HOST:PORT, e.g. 127.0.0.1:8765, not {value!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"--http port {port} is not between 1 and 65535")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"--http serves loopback only (127.0.0.1, ::1, localhost), not {host!r}: it has no login")
    return host, port


def _approval_timeout(flag: float | None) -> float:
    if flag is not None:
        value = flag
    else:
        text = os.environ.get(APPROVAL_TIMEOUT_ENV, "")
        try:
            value = float(text) if text else DEFAULT_APPROVAL_TIMEOUT
        except ValueError:
            raise ValueError(f"{APPROVAL_TIMEOUT_ENV}={text!r} is not a number of seconds") from None
    if not 1 <= value <= 86_400:
        raise ValueError(f"the approval timeout must be 1 to 86400 seconds, not {value:g}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the server until the host closes stdin (stdio) or it is stopped (HTTP); errors are one line."""
    args = _parser().parse_args(argv)
    logging.basicConfig(  # stderr: in stdio mode stdout carries the protocol and nothing else
        stream=sys.stderr, level=args.log_level, format="toasty-mcp %(levelname)s %(name)s: %(message)s"
    )
    try:
        from toasty_client.mcp.hub import Hub
        from toasty_client.mcp.tools import build_server
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in _SDK_MODULES:
            raise
        sys.stderr.write(INSTALL_HINT + "\n")
        return 1
    try:
        listen = parse_listen(args.http) if args.http else None
        approval_timeout = _approval_timeout(args.approval_timeout)
    except ValueError as exc:
        sys.stderr.write(f"toasty-mcp: {printable(str(exc))}\n")
        return 2
    hub = Hub.from_environment(args.address, args.agent_id, approval_timeout=approval_timeout)
    app = build_server(hub)
    import anyio

    try:
        anyio.run(_serve, app, hub, listen)
    except KeyboardInterrupt:
        return 130
    return 0


async def _serve(app: MCPServer[object], hub: Hub, listen: tuple[str, int] | None) -> None:
    """Serve until the transport ends, then close the hub client (answers still due are awaited briefly)."""
    hub.start()
    who = hub.client.agent_id or "the agent of TOASTY_TOKEN"
    log.info("hub at %s as %s", printable(hub.client.address), printable(who))
    try:
        if listen is None:
            await app.run_stdio_async()
        else:
            host, port = listen
            log.warning("serving MCP over streamable HTTP at http://%s:%d/mcp", host, port)
            await app.run_streamable_http_async(host=host, port=port)
    finally:
        await hub.close()
