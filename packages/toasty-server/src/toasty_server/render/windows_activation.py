"""Toast clicks that reach a new process: Toasty's COM activator, `toasty-server toast-activated`.

Windows raises a toast's Activated event only in the process that showed it, while it runs. For a click
after that process is gone (the hub restarted; a toast clicked in the Action Center hours later), Windows
calls the app's COM activator, as it does for a packaged app: `register-aumid` names a CLSID as the AUMID's
`CustomActivator` and gives that CLSID a LocalServer32 command line, `<python> -m toasty_server
toast-activated --clsid {...}`. COM starts it (appending `-Embedding`) and calls
INotificationActivationCallback::Activate on the class object it registers (render.windows_com).

Each Activate call becomes the person's answer to the open question through the running hub's Answer RPC,
presented with the person secret (the credential `toasty answer` uses): questions live in the hub's store,
so an answer given after a restart reaches the asker, who waits across the restart. The arguments are
read by render.windows_arguments, the code the hub reads its in-process clicks with; anything a Toasty
toast cannot have sent is logged (escaped) and answers nothing.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toasty_server.config import ConfigError, Settings, load_settings
from toasty_server.logs import ROOT_LOGGER, JsonFormatter, TextFormatter, escape_controls
from toasty_server.render.windows_arguments import BadActivation, ToastClick, read_click, shown
from toasty_server.render.windows_com import E_FAIL, S_OK, ComError, ComUnavailable, serve

log = logging.getLogger(__name__)

COMMAND = "toast-activated"  # the word after `toasty-server` in the LocalServer32 command line
ACTIVATOR_CLSID = "{32F7AA15-1868-4459-A1BC-D15B165F3680}"  # Toasty's, for the default AUMID
DEFAULT_AUMID: str = Settings.model_fields["aumid"].default
AGENT_ID = "windows-toast"  # the x-agent-id the answers are sent with (the person secret is what counts)
FIRST_CALL_SECONDS = 30.0  # COM calls right after the class object is registered; give up after this
IDLE_SECONDS = 1.0  # stay this long after a call, for the next click, then exit
ANSWER_SECONDS = 10.0  # per answer, including waiting for a hub that is starting
LOG_FILE = "activation.log"  # in the data folder: a process COM starts has no console


def activator_clsid(aumid: str) -> str:
    """The CLSID of the activator of `aumid`: Toasty's own for the default AUMID, one derived from it for
    another (two installs with their own AUMIDs must not overwrite each other's LocalServer32)."""
    if aumid == DEFAULT_AUMID:
        return ACTIVATOR_CLSID
    return "{" + str(uuid.uuid5(uuid.UUID(ACTIVATOR_CLSID), aumid)).upper() + "}"


def activator_python() -> str:
    """The interpreter COM starts: pythonw.exe beside this one on Windows, so that no console window flashes
    up on a click; this one elsewhere."""
    here = Path(sys.executable)
    windowless = here.with_name("pythonw.exe")
    if sys.platform == "win32" and windowless.is_file():
        return str(windowless)
    return str(here)


def activator_command(clsid: str, *, config: Path | None = None, python: str | None = None) -> str:
    """The LocalServer32 command line, quoted the way Windows splits it (list2cmdline)."""
    argv = [python or activator_python(), "-m", "toasty_server", COMMAND, "--clsid", clsid]
    if config is not None:
        argv += ["--config", str(config)]
    return subprocess.list2cmdline(argv)


# --- from an Activate call to the person's answer ------------------------------------------------------

AnswerSender = Callable[[ToastClick], bool]
"""Sends a click to the hub as the person's answer: True accepted, False already decided; raises
HubUnreachable, or AnswerRefused with the hub's reason."""


class HubUnreachable(Exception):
    """The hub did not take the call (not running, still starting, no person secret here)."""


class AnswerRefused(Exception):
    """The hub answered the call with an error (unknown question or button, permission)."""


class ActivationHandler:
    """Turns one Activate call into at most one answer; its HRESULT tells COM whether to report a failure
    (only when the hub could not be reached: the person may click again once it runs)."""

    def __init__(self, send: AnswerSender) -> None:
        self._send = send

    def __call__(self, aumid: str, arguments: str, inputs: dict[str, str]) -> int:
        try:
            click = read_click(arguments, inputs)
        except BadActivation as exc:
            log.warning("toast activation for AUMID %s ignored: %s", shown(aumid), exc)
            return S_OK
        if not click.button_id:
            log.info(
                "click on the body of toast %s: not an answer (use its buttons, or `toasty answer`)",
                shown(click.notification_id),
            )
            return S_OK
        where = f"{shown(click.notification_id)} (button {shown(click.button_id)})"
        try:
            accepted = self._send(click)
        except HubUnreachable as exc:
            log.error("toast click on %s not delivered: %s", where, exc)
            return E_FAIL
        except AnswerRefused as exc:
            log.warning("the hub refused the toast click on %s: %s", where, exc)
            return S_OK
        if accepted:
            log.info("toast click on %s answered the question", where)
        else:
            log.info("toast click on %s: the question was already decided", where)
        return S_OK


def hub_target(settings: Settings) -> str:
    """Where the hub of these settings listens, as a client dials it."""
    if settings.unix_socket is not None:
        return f"unix:{settings.unix_socket}"
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "localhost"}.get(settings.host, settings.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{settings.port}"


class HubAnswers:
    """The running hub's Answer RPC, called as the person (AnswerSender)."""

    def __init__(self, settings: Settings, timeout: float = ANSWER_SECONDS) -> None:
        self.settings = settings
        self.timeout = timeout

    def _secret(self) -> str:
        path = self.settings.person_secret_path
        try:
            secret = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise HubUnreachable(f"cannot read the person secret {path} ({exc}); start toasty-server once") from None
        if not secret:
            raise HubUnreachable(f"the person secret {path} is empty")
        return secret

    def _channel(self, target: str) -> Any:
        import grpc

        if self.settings.tls_cert is None:
            return grpc.insecure_channel(target)
        roots = Path(os.environ.get("TOASTY_CA_FILE") or self.settings.tls_cert).read_bytes()
        return grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=roots))

    def __call__(self, click: ToastClick) -> bool:
        import grpc

        from toasty_proto import v1

        if self.settings.port == 0 and self.settings.unix_socket is None:
            raise HubUnreachable(
                "the hub's port is 0 (a free one picked at start): set TOASTY_PORT for clicks to find it"
            )
        target = hub_target(self.settings)
        method = v1.NOTIFICATION_SERVICE_ANSWER
        request = v1.AnswerRequest(
            notification_id=click.notification_id, button_id=click.button_id, inputs=click.inputs
        )
        metadata = (("x-agent-id", AGENT_ID), ("authorization", f"Bearer {self._secret()}"))
        with self._channel(target) as channel:
            call = channel.unary_unary(
                method.path, request_serializer=method.serialize, response_deserializer=method.deserialize_response
            )
            try:
                response: v1.AnswerResponse = call(
                    request, metadata=metadata, timeout=self.timeout, wait_for_ready=True
                )
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                details = escape_controls(str(exc.details() if isinstance(exc, grpc.Call) else exc))
                name = code.name if code is not None else "UNKNOWN"
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise HubUnreachable(f"no hub answered at {target} within {self.timeout:g} s ({name})") from None
                raise AnswerRefused(f"{name}: {details}") from None
        return bool(response.accepted)


# --- the process COM starts ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"toasty-server {COMMAND}",
        description="Toasty's toast activator: Windows (COM) starts it when a Toasty toast is clicked after the "
        "hub that showed it is gone; `toasty-server register-aumid` registers it. Not for running by hand.",
    )
    p.add_argument("--clsid", type=_clsid, default=ACTIVATOR_CLSID, help="the class to serve (default %(default)s)")
    p.add_argument("--config", type=Path, help="the hub's TOML settings file, to find the hub and the person secret")
    return p


def _clsid(text: str) -> str:
    try:
        return "{" + str(uuid.UUID(text)).upper() + "}"
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a CLSID: {escape_controls(text[:60])}") from None


def _without_embedding(argv: list[str]) -> list[str]:
    """COM appends `-Embedding` (older callers `/Embedding`) to a LocalServer32 command line: it only says
    who started the process."""
    return [a for a in argv if a.lower() not in ("-embedding", "/embedding")]


def _setup_logging(settings: Settings | None) -> None:
    """Standard error when there is one (pythonw has none) and a small file in the data folder."""
    handlers: list[logging.Handler] = []
    if sys.stderr is not None:
        handlers.append(logging.StreamHandler(sys.stderr))
    if settings is not None:
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    settings.data_dir / LOG_FILE, maxBytes=256 * 1024, backupCount=1, encoding="utf-8"
                )
            )
        except OSError:
            pass
    json_format = settings is not None and settings.log_format == "json"
    for handler in handlers:
        handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    logger = logging.getLogger(ROOT_LOGGER)
    logger.handlers[:] = handlers
    logger.setLevel(settings.log_level if settings is not None else "INFO")
    logger.propagate = False


def main(
    argv: list[str] | None = None,
    *,
    ole32: Any = None,
    send: AnswerSender | None = None,
    first_call_seconds: float = FIRST_CALL_SECONDS,
    idle_seconds: float = IDLE_SECONDS,
) -> int:
    """Exit status: 0 served (whatever the clicks said), 1 COM failed or is missing, 2 bad settings."""
    args = _parser().parse_args(_without_embedding(sys.argv[1:] if argv is None else argv))
    try:
        settings = load_settings(config=args.config)
    except ConfigError as exc:
        _setup_logging(None)
        log.error("toast activation: %s", exc)
        return 2
    _setup_logging(settings)
    handler = ActivationHandler(send if send is not None else HubAnswers(settings))
    try:
        served = serve(
            args.clsid, handler, first_call_seconds=first_call_seconds, idle_seconds=idle_seconds, ole32=ole32
        )
    except (ComUnavailable, ComError) as exc:
        log.error("toast activation: %s", exc)
        return 1
    if not served:
        log.warning("toast activator %s started, but no activation came within %g s", args.clsid, first_call_seconds)
    return 0
