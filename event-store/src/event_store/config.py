"""All settings of the event-store, from environment variables (names as in the docs)."""

from __future__ import annotations

import pathlib

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False,
                                      env_parse_none_str="")

    amqp_url: str | None = None
    amqp_exchange: str = "ocpp-events"
    data_dir: pathlib.Path = pathlib.Path(".data")
    mongo_url: str | None = None
    mongo_db: str = "event_store"
    event_store_sqlite_path: pathlib.Path | None = None
    event_store_host: str = "0.0.0.0"
    event_store_port: int = Field(default=8081, ge=0, le=65535)
    event_store_queue: str = "event-store"
    # `worker`: serve its Prometheus /metrics on this port (unset → none); its counters live
    # in the worker process, not in the API's
    event_store_worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    event_store_batch_size: int = Field(default=500, ge=1, le=10_000)
    event_store_batch_max_wait_ms: int = Field(default=200, ge=0)
    event_store_retention_days: int | None = Field(default=None, ge=1)
    event_store_retention_interval_seconds: float = Field(default=3600.0, gt=0)
    # save-server's Ed25519 public key(s) (PEM) that sign access tokens; required by `api`
    auth_public_keys_file: pathlib.Path | None = None
    event_store_tls_cert_file: pathlib.Path | None = None  # HTTPS with this certificate
    event_store_tls_key_file: pathlib.Path | None = None
    log_level: str = "INFO"
    log_format: str = "console"

    @property
    def sqlite_path(self) -> pathlib.Path:
        return self.event_store_sqlite_path or self.data_dir / "event-store.sqlite3"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.event_store_queue}.dead-letter"
