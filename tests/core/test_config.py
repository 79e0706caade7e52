"""Settings: defaults, precedence (flags > environment > TOML file), errors that name the setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from toasty_server.config import ConfigError, load_settings


def test_defaults_match_the_documented_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.host, settings.port) == ("localhost", 50053)
    assert settings.store == "sqlite"
    assert settings.mailbox_depth == 100
    assert settings.aumid == "SAM.Toasty.NotificationService"
    assert settings.database_file.name == "toasty.db"


def test_precedence_flags_then_env_then_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "toasty.toml"
    config.write_text('port = 6000\nmailbox_depth = 7\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("TOASTY_CONFIG", str(config))
    monkeypatch.setenv("TOASTY_PORT", "6001")
    settings = load_settings()
    assert (settings.port, settings.mailbox_depth, settings.log_level) == (6001, 7, "DEBUG")
    assert load_settings(port=6002).port == 6002


def test_invalid_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOASTY_MAILBOX_DEPTH", "0")
    with pytest.raises(ConfigError, match=r"mailbox_depth \(TOASTY_MAILBOX_DEPTH\): Input should be greater"):
        load_settings()


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config: file .*nope\.toml does not exist"):
        load_settings(config=tmp_path / "nope.toml")


def test_cli_prints_effective_config_and_refuses_bad_values(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "toasty_server", "--print-config", "--port", "7000"],
        check=True,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TOASTY_STORE": "memory"},
    ).stdout
    effective = json.loads(out)
    assert effective["port"] == 7000
    assert effective["store"] == "memory"
    bad = subprocess.run(
        [sys.executable, "-m", "toasty_server", "--print-config"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TOASTY_PORT": "99999"},
    )
    assert bad.returncode == 2
    assert "port (TOASTY_PORT)" in bad.stderr
