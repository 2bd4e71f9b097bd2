"""All settings of the service, from environment variables (names in docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    data_dir: Path = Path("./.data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset → sqlite:///$DATA_DIR/save-server.sqlite3")
    amqp_url: str | None = None
    amqp_exchange: str = "ocpp-events"
    save_server_queue: str = "save-server"
    save_server_prefetch: int = Field(default=50, ge=1)
    save_server_host: str = "0.0.0.0"
    save_server_port: int = Field(default=8080, ge=0, le=65535)
    log_format: str = "console"
    log_level: str = "INFO"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'save-server.sqlite3').resolve()}"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.amqp_exchange}.dead-letter"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.save_server_queue}.dead-letter"
