"""Every server setting in one pydantic-settings model.

Precedence, highest first: command-line flags, `TOASTY_*` environment variables, the TOML config file
(`--config PATH` or `TOASTY_CONFIG`), the defaults below. An invalid value stops start-up with a message
that names the setting.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from toasty_server.access.hosts import is_loopback
from toasty_server.access.tokens import load_tokens

DEFAULT_PORT = 50053
DEFAULT_HTTP_PORT = 8053


class Settings(BaseSettings):
    """Toasty server configuration. Each field is `TOASTY_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="TOASTY_", extra="forbid", validate_default=True)

    # Listening
    host: str = Field("localhost", description="Address to listen on (loopback by default).")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="gRPC port; 0 picks a free one.")

    # Durable log
    store: Literal["sqlite", "memory", "postgres"] = Field(
        "sqlite",
        description="Where the delivery log lives: postgres lets several hubs share one log "
        "(extra toasty-server[postgres], with TOASTY_DATABASE_URL).",
    )
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL URL for TOASTY_STORE=postgres, e.g. postgresql://toasty:secret@db:5432/toasty."
    )
    postgres_pool_size: int = Field(8, ge=1, le=100, description="Connections a hub keeps to PostgreSQL.")
    data_dir: Path = Field(Path(user_data_dir("toasty", appauthor=False)), description="Folder for the database.")
    db_path: Path | None = Field(None, description="SQLite file; default <data_dir>/toasty.db.")
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL", description="NORMAL survives a crash of the server process; FULL also a power loss."
    )
    retention_max_entries: int = Field(50_000, ge=100, description="Log entries kept for resuming subscribers.")
    retention_max_age_seconds: float = Field(7 * 24 * 3600, gt=0, description="Age after which entries expire.")
    retention_max_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="Payload bytes of the log kept; the oldest entries go first."
    )

    # Subscribers
    mailbox_depth: int = Field(
        100, ge=1, description="Live queue per subscriber; a fuller one falls back to reading the log."
    )
    catch_up_page: int = Field(256, ge=1, description="Entries read from the log per catch-up query.")

    # Publishers
    stream_max_in_flight: int = Field(
        256, ge=1, description="Unanswered publishes per PublishStream call; beyond it the server stops reading it."
    )

    # Validation limits
    max_message_bytes: int = Field(256 * 1024, ge=1024, description="Largest request accepted, in bytes.")
    max_title_chars: int = Field(256, ge=1, description="Longest title.")
    max_text_chars: int = Field(2048, ge=1, description="Longest body line, status or other free text.")
    max_id_chars: int = Field(128, ge=1, description="Longest id, key, client or agent id.")
    max_buttons: int = Field(5, ge=0, le=5, description="Buttons per Interactive toast (Windows allows 5).")
    max_inputs: int = Field(5, ge=0, le=5, description="Inputs per Interactive toast (Windows allows 5).")
    max_choices: int = Field(20, ge=1, description="Choices per selection input.")
    launch_url_schemes: list[str] = Field(
        ["http", "https"],
        description="URL schemes a toast's launch_url may use (never javascript: or file: unless listed).",
    )
    max_await_seconds: float = Field(
        300.0, gt=0, description="Longest one AwaitInteraction call waits; longer asks are awaited again."
    )
    max_open_questions_per_agent: int = Field(
        100, ge=1, description="Questions one agent may have waiting for an answer at once."
    )

    # Desktop
    renderer: Literal["auto", "windows", "freedesktop", "console", "none"] = Field(
        "auto", description="Desktop backend; auto picks by platform and what is reachable."
    )
    aumid: str = Field("SAM.Toasty.NotificationService", description="Windows AppUserModelID of the toasts.")
    render_queue_depth: int = Field(1000, ge=1, description="Toasts waiting for the desktop before refusal.")

    # Attention: what the person is shown (never what is stored or delivered)
    quiet_hours: str = Field(
        "", description="Daily quiet hours in local time, when toasts are held: e.g. 22:00-07:00 (commas for more)."
    )
    critical_breaks_through: bool = Field(
        True, description="Critical toasts are shown under do-not-disturb and quiet hours."
    )
    attention_state_file: Path | None = Field(
        None, description="Do-not-disturb and the held toasts, kept across restarts; default <data_dir>/attention.json."
    )
    max_held_toasts: int = Field(1000, ge=10, description="Toasts remembered as held for the digest (oldest dropped).")
    collapse_window_seconds: float = Field(
        600, gt=0, description="Grouped and repeated toasts collapse into one while they come closer than this."
    )
    max_schedule_seconds: float = Field(
        7 * 24 * 3600, gt=0, description="How far ahead deliver_at and expires_at may be."
    )
    max_scheduled_toasts: int = Field(
        10_000, ge=10, description="Toasts waiting for their time or their expiry at once; more are refused."
    )
    render_concurrency: int = Field(
        32, ge=1, description="Toasts handed to the desktop at once; updates of one progress toast stay in order."
    )
    image_cache_dir: Path | None = Field(None, description="Downloaded toast images; default <data_dir>/images.")
    image_cache_max_bytes: int = Field(64 * 1024 * 1024, ge=1, description="Size of the image cache (LRU eviction).")
    image_max_bytes: int = Field(5 * 1024 * 1024, ge=1, description="Largest image downloaded for a toast.")
    image_download_timeout_seconds: float = Field(10.0, gt=0, description="Time limit of one image download.")
    image_fetch_private: bool = Field(
        False,
        description=(
            "Allow toast image URLs on loopback, link-local and private addresses (off: only public hosts are fetched)."
        ),
    )

    # Rate limiting (per agent): the attention budget (new toasts) and the call budget (everything)
    rate_limit: float = Field(
        10.0,
        ge=0,
        description="New toasts an agent may show per rate window (the attention budget; progress updates of a "
        "shown bar, skip_toast and withdrawals do not count); 0 turns it off.",
    )
    rate_window: float = Field(60.0, gt=0, description="Length of the rate window, in seconds.")
    rate_burst: float | None = Field(
        None, ge=1, description="New toasts an agent may show at once before the rate applies; default: its limit."
    )
    rate_overrides: dict[str, Annotated[float, Field(ge=0)]] = Field(
        {}, description='Per-agent attention budgets per window, e.g. `{"ci-bot": 100}` (JSON here, a table in TOML).'
    )
    call_rate_limit: float = Field(
        1200.0,
        ge=0,
        description="Calls of any kind an agent may make per rate window (publishes, updates, reads); it only "
        "stops a runaway loop; 0 turns it off.",
    )
    rate_max_agents: int = Field(10_000, ge=1, description="Agents whose rate limiter is kept (least recent dropped).")

    # Access
    unix_socket: Path | None = Field(None, description="Listen on this Unix socket (created 0600) instead of TCP.")
    tls_cert: Path | None = Field(
        None, description="PEM certificate chain: with tls_key, gRPC, HTTP and metrics use TLS."
    )
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")
    token_file: Path | None = Field(
        None, description="TOML or JSON file of agent = token; when set, calls need `authorization: Bearer <token>`."
    )
    person_secret_file: Path | None = Field(
        None,
        description="The secret that grants the person role (answer, read everything), created 0600 on first "
        "start; default <data_dir>/person.secret. The toasty command reads it.",
    )
    subscribe_grants: dict[str, list[str]] = Field(
        {}, description='Client ids an agent may subscribe as besides its own, e.g. `{"dashboard": ["*"]}`.'
    )

    # Metrics
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics over HTTP at /metrics.")
    metrics_port: int = Field(9090, ge=0, le=65535, description="Metrics port, on the gRPC host; 0 picks a free one.")

    # HTTP/JSON API and web page
    http_enabled: bool = Field(
        False, description="Serve the HTTP/JSON API, its event streams and the live web page (on the gRPC host)."
    )
    http_port: int = Field(
        DEFAULT_HTTP_PORT, ge=0, le=65535, description="HTTP port of the API and web page; 0 picks a free one."
    )
    http_max_connections: int = Field(
        256, ge=1, description="Open HTTP connections at once; more are answered 503 and closed."
    )
    http_idle_timeout_seconds: float = Field(
        15.0, gt=0, description="An HTTP connection with no request in progress for this long is closed."
    )
    http_write_timeout_seconds: float = Field(
        10.0, gt=0, description="An event stream whose reader takes longer than this to accept data is ended."
    )

    # Operations
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_format: Literal["text", "json"] = Field("text", description="Readable text or one JSON object a line.")
    shutdown_grace_seconds: float = Field(5.0, ge=0, description="Time in-flight calls get to finish on stop.")
    config: Path | None = Field(None, description="TOML file with any of these settings (lowest precedence).")

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @field_validator("token_file")
    @classmethod
    def _tokens_readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            load_tokens(value)  # refuse to start with a token file that would lock everyone out
        return value

    @field_validator("unix_socket")
    @classmethod
    def _socket_folder_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.parent.is_dir():
            raise ValueError(f"folder {value.parent} does not exist")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours_parse(cls, value: str) -> str:
        from toasty_server.attention.quiet import QuietHours

        return QuietHours.parse(value).spec

    @model_validator(mode="after")
    def _postgres_needs_a_url(self) -> Settings:
        if self.store == "postgres" and self.database_url is None:
            raise ValueError(
                "store (TOASTY_STORE) postgres needs the database: set TOASTY_DATABASE_URL, "
                "e.g. postgresql://toasty:secret@db.example:5432/toasty"
            )
        return self

    @model_validator(mode="after")
    def _remote_needs_tls(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert (TOASTY_TLS_CERT) and tls_key (TOASTY_TLS_KEY) go together: set both or neither")
        if self.tls_cert is None and not is_loopback(self.host):
            raise ValueError(
                f"host (TOASTY_HOST) {self.host!r} is not a loopback address, and listening beyond this machine "
                "needs TLS: set TOASTY_TLS_CERT and TOASTY_TLS_KEY, or use a loopback host such as localhost"
            )
        if self.token_file is None and not is_loopback(self.host):
            # a caller without a credential is only trusted to publish when it is on this machine
            raise ValueError(
                f"host (TOASTY_HOST) {self.host!r} is not a loopback address, and callers from other machines must "
                "prove who they are: set TOASTY_TOKEN_FILE (agents' tokens; the person secret still works)"
            )
        return self

    @property
    def database_file(self) -> Path:
        return self.db_path if self.db_path is not None else self.data_dir / "toasty.db"

    @property
    def attention_state_path(self) -> Path:
        return self.attention_state_file if self.attention_state_file is not None else self.data_dir / "attention.json"

    @property
    def person_secret_path(self) -> Path:
        return self.person_secret_file if self.person_secret_file is not None else self.data_dir / "person.secret"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags arrive as init kwargs; the TOML file (if any) is the weakest source.
        return init_settings, env_settings, _TomlFromSetting(settings_cls, init_settings, env_settings)


class _TomlFromSetting(PydanticBaseSettingsSource):
    """Reads the TOML file named by the `config` setting, found in the flags or the environment."""

    def __init__(self, settings_cls: type[BaseSettings], *sources: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._sources = sources

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = next((src().get("config") for src in self._sources if src().get("config")), None)
        if path is None:
            return {}
        if not Path(path).is_file():
            raise ConfigError(f"config: file {path} does not exist")
        return TomlConfigSettingsSource(self.settings_cls, toml_file=Path(path))()


class ConfigError(Exception):
    """A setting is invalid; the message names it and says what is expected."""


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning pydantic's report into one readable ConfigError."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if not err["loc"]:  # a rule across settings: its message names them
                problems.append(str(err.get("ctx", {}).get("error", err["msg"])))
                continue
            name = ".".join(str(p) for p in err["loc"])
            problems.append(f"{name} (TOASTY_{str(err['loc'][0]).upper()}): {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    except SettingsError as exc:  # e.g. a dict setting whose environment value is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = found.group(1) if found else "settings"
        raise ConfigError(
            f"invalid configuration: {name} (TOASTY_{name.upper()}): in the environment it must be a JSON object"
        ) from None
