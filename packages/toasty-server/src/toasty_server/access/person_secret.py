"""The per-user secret that grants the person role, created on first start with no set-up.

It lives in the server's data folder, mode 0600: processes of the same user can read it (the CLI, the web
page's link, the desktop companion do), other users' processes and sandboxed agents cannot.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_NAME = "person.secret"
SECRET_BYTES = 32


class PersonSecretError(OSError):
    """The secret file cannot be created or read; the message names the file."""


def load_or_create(path: Path) -> str:
    """The secret in `path`, creating the file (0600, atomically) with a fresh one when it is missing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    except OSError as exc:
        raise PersonSecretError(
            f"person_secret_file (TOASTY_PERSON_SECRET_FILE): cannot create {path}: {exc}"
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(SECRET_BYTES) + "\n")
    log.info("created the person secret %s (mode 600): the toasty command and web page read it", path)
    return _read(path)


def _read(path: Path) -> str:
    try:
        secret = path.read_text(encoding="ascii").strip()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise PersonSecretError(f"person_secret_file (TOASTY_PERSON_SECRET_FILE): cannot read {path}: {exc}") from None
    if len(secret) < 16:
        raise PersonSecretError(
            f"person_secret_file (TOASTY_PERSON_SECRET_FILE): {path} holds no secret of 16 characters or more; "
            "delete it and restart to make a new one"
        )
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("person secret %s is readable by other users (mode %o): chmod 600 it", path, mode & 0o777)
    return secret
