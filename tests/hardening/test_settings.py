"""The hardening settings: defaults from the design notes, every source, and errors that name them."""

from __future__ import annotations

from pathlib import Path

import pytest

from toasty_server.config import ConfigError, load_settings
from toasty_server.interceptors import rate_policy


def test_defaults_are_the_documented_contract() -> None:
    settings = load_settings()
    assert (settings.rate_limit, settings.rate_window, settings.rate_burst) == (10.0, 60.0, None)
    assert (settings.metrics_enabled, settings.metrics_port) == (True, 9090)
    assert settings.host == "localhost"
    assert settings.token_file is None
    assert settings.unix_socket is None


def test_overrides_from_the_environment_as_json_and_from_toml_as_a_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOASTY_RATE_OVERRIDES", '{"ci-bot": 100}')
    assert rate_policy(load_settings()).limit_for("ci-bot") == 100
    monkeypatch.delenv("TOASTY_RATE_OVERRIDES")
    config = tmp_path / "toasty.toml"
    config.write_text('rate_limit = 5\n\n[rate_overrides]\nci-bot = 50\n\n[subscribe_grants]\ndashboard = ["*"]\n')
    settings = load_settings(config=config)
    policy = rate_policy(settings)
    assert (policy.limit_for("ci-bot"), policy.limit_for("someone")) == (50, 5)
    assert settings.subscribe_grants == {"dashboard": ["*"]}


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("TOASTY_RATE_LIMIT", "-1", "rate_limit (TOASTY_RATE_LIMIT)"),
        ("TOASTY_RATE_WINDOW", "0", "rate_window (TOASTY_RATE_WINDOW)"),
        ("TOASTY_RATE_BURST", "0.5", "rate_burst (TOASTY_RATE_BURST)"),
        ("TOASTY_RATE_OVERRIDES", '{"ci-bot": -3}', "rate_overrides.ci-bot (TOASTY_RATE_OVERRIDES)"),
        ("TOASTY_RATE_OVERRIDES", "not json", "TOASTY_RATE_OVERRIDES"),
        ("TOASTY_METRICS_PORT", "70000", "metrics_port (TOASTY_METRICS_PORT)"),
        ("TOASTY_UNIX_SOCKET", "/no/such/folder/toasty.sock", "unix_socket (TOASTY_UNIX_SOCKET)"),
        ("TOASTY_TLS_CERT", "/no/such/cert.pem", "tls_cert (TOASTY_TLS_CERT)"),
    ],
)
def test_invalid_values_stop_start_up_naming_the_setting(
    variable: str, value: str, named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert named in str(refused.value)
