"""The person's credential on this machine: the secret `toasty-server` creates in its data folder.

The `toasty` command reads it to act for the person (answer questions, read every client's deliveries):
TOASTY_PERSON_SECRET_FILE names the file, else the server's default place is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

SECRET_FILE_ENV = "TOASTY_PERSON_SECRET_FILE"


def person_secret_file() -> Path:
    named = os.environ.get(SECRET_FILE_ENV, "")
    if named:
        return Path(named)
    data_dir = os.environ.get("TOASTY_DATA_DIR", "")
    return Path(data_dir or user_data_dir("toasty", appauthor=False)) / "person.secret"


def person_secret() -> str:
    """The secret, or "" when this user has none readable (no server started here, another user's)."""
    try:
        return person_secret_file().read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
