"""All settings of the service, from environment variables (names in docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    data_dir: Path = Path("./.data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset → sqlite:///$DATA_DIR/save-server.sqlite3")
    amqp_url: str | None = None
    amqp_exchange: str = "ocpp-events"
    amqp_command_exchange: str = "ocpp-commands"  # remote commands (docs/commands.md)
    amqp_registry_exchange: str | None = Field(
        default=None, description="station-registry.* events; unset → <AMQP_EXCHANGE>.registry")
    save_server_command_timeout: float = Field(default=30.0, gt=0)
    save_server_queue: str = "save-server"
    save_server_prefetch: int = Field(default=200, ge=1)
    save_server_embedded_linger_ms: int = Field(default=0, ge=0, le=1000)
    save_server_shards: int = Field(
        default=0, ge=0,
        description="0: one queue; N: N single-active-consumer shard queues by station")
    save_server_host: str = "0.0.0.0"
    save_server_port: int = Field(default=8080, ge=0, le=65535)
    save_server_worker_metrics_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="`worker`: serve /metrics, /health, /ready on this port (unset → none)")
    save_server_scheduler_metrics_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="`scheduler`: serve /metrics, /health, /ready on this port (unset → none)")
    log_format: str = "console"
    log_level: str = "INFO"
    # Charge reports by e-mail (the scheduler role)
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_from: str = "save-server@localhost"
    report_default_recipients: str | None = Field(
        default=None, description="Comma-separated; when set, a default subscription is kept")
    report_default_cron: str = "0 23 * * SUN"
    report_default_timezone: str = "America/Sao_Paulo"
    report_attachment_compress_bytes: int = Field(default=1_048_576, ge=0)
    report_scheduler_interval: float = Field(default=60.0, gt=0)
    report_retry_attempts: int = Field(default=4, ge=1)
    report_retry_delay: float = Field(default=30.0, ge=0)
    # Id tags (service/id_tag_enforcement.py)
    id_tag_budget_action: Literal["stop", "finish"] = "stop"
    id_tag_enforcement_interval: float = Field(default=5.0, gt=0)
    # Accounts and API authentication (docs/api.md, docs/operations.md)
    auth_signing_key_file: Path | None = Field(
        default=None, description="Ed25519 private key (PEM) signing access tokens; required "
                                  "by `api` outside the embedded mode")
    auth_previous_public_keys_file: Path | None = Field(
        default=None, description="PEM public keys still accepted after a key rotation")
    auth_access_token_seconds: int = Field(default=900, ge=60, le=86_400)
    auth_refresh_token_seconds: int = Field(default=43_200, ge=300)
    csms_admin_email: str = "admin@localhost"
    save_server_tls_cert_file: Path | None = Field(
        default=None, description="Serve the API over HTTPS with this certificate (PEM)")
    save_server_tls_key_file: Path | None = Field(
        default=None, description="The private key of SAVE_SERVER_TLS_CERT_FILE (PEM)")
    load_rotation_slot_seconds: float = Field(
        default=900, gt=0, description="Load management: a paused connector's turn (rotation)")
    load_profile_min_interval_seconds: float = Field(
        default=30, ge=0, description="Load management: least time between two increases of "
                                      "one connector's limit (decreases are never delayed)")
    load_sweep_seconds: float = Field(
        default=30, gt=0, description="Load management: every site recomputed this often "
                                      "(rotation slots end, leased profiles are renewed)")
    load_hysteresis_a: float = Field(
        default=1.0, ge=0, description="Load management: smallest increase worth a profile")
    load_profile_lease_seconds: float = Field(
        default=600, ge=0, description="Load management: a TxProfile's validity (validTo), "
                                       "renewed at half; without the platform each charge "
                                       "falls back to its failsafe after it (0: no end)")
    load_station_max_profile: bool = Field(
        default=True, description="Load management: cap each station with a station max "
                                  "profile (ChargePointMaxProfile / ChargingStationMaxProfile):"
                                  " permanent at its safe total, leased at its allocation")
    load_measurement_threshold_a: float = Field(
        default=1.0, ge=0, description="Load management: a building load that moved less on "
                                       "every phase waits for the periodic recomputation")
    csms_admin_api_key: SecretStr | None = Field(
        default=None, description="Preset admin API key (csk_<12 hex>_<secret>) created with "
                                  "the first admin when no account exists")
    dashboard_idle_minutes: int = Field(
        default=30, ge=1, le=1440, description="The staff dashboard signs a browser out after "
                                               "this many minutes without a page")
    event_store_url: str | None = Field(
        default=None, description="The event-store API's base URL, for the dashboard's events "
                                  "pages (embedded: set by the launcher)")

    @model_validator(mode="after")
    def _shard_exchange_name_is_free(self) -> Settings:
        # With shards the consistent-hash exchange takes the queue's name; RabbitMQ would refuse
        # it (PRECONDITION_FAILED) if that name were already the events exchange.
        if self.save_server_shards and self.save_server_queue == self.amqp_exchange:
            raise ValueError("SAVE_SERVER_QUEUE must differ from AMQP_EXCHANGE when "
                             "SAVE_SERVER_SHARDS > 0 (the shard exchange is named like the queue)")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'save-server.sqlite3').resolve()}"

    @property
    def resolved_registry_exchange(self) -> str:
        return self.amqp_registry_exchange or f"{self.amqp_exchange}.registry"

    @property
    def report_default_recipient_list(self) -> list[str]:
        return [a.strip() for a in (self.report_default_recipients or "").split(",") if a.strip()]

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.amqp_exchange}.dead-letter"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.save_server_queue}.dead-letter"
