"""All gateway settings, read from the environment (see ocpp-events/README.md)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    gateway_host: str = "0.0.0.0"
    gateway_port: int = Field(9000, ge=0, le=65535)
    gateway_http_port: int = Field(9001, ge=0, le=65535)
    gateway_path_prefix: str = "/ocpp/"
    gateway_heartbeat_interval: int = Field(300, ge=1)
    gateway_max_frame_bytes: int = Field(65536, ge=1024)
    gateway_ping_interval: float = Field(20.0, ge=0)  # 0 disables keepalive pings
    gateway_ping_timeout: float = Field(20.0, ge=0)  # 0 waits for pongs forever
    gateway_compression: Literal["off", "deflate"] = "off"
    gateway_publish_timeout: float = Field(5.0, gt=0)
    gateway_authorize_policy: Literal["accept-all", "reject-all"] = "accept-all"
    gateway_require_routed: bool = True
    gateway_data_transfer_vendors: str = ""  # comma-separated vendorIds answered "Accepted"
    gateway_close_timeout: float = Field(5.0, gt=0)
    gateway_disconnect_retry_seconds: float = Field(30.0, ge=0)
    # Performance (docs/performance.md, "Gateway"): the kernel's queue of connections not yet
    # accepted (asyncio's default 100 drops SYNs during a storm), how often the heap is frozen
    # while stations accumulate (0 = never), and how many connect/disconnect events are
    # published at once (shutdown publishes one per station).
    gateway_listen_backlog: int = Field(4096, ge=1)
    gateway_gc_freeze_interval: float = Field(2.0, ge=0)
    gateway_lifecycle_publish_concurrency: int = Field(256, ge=1)
    # Each request is schema-validated once. Validating the gateway's own answers as well
    # doubles the per-call validation cost (~40 % of the CPU per call); the tests turn it on.
    gateway_validate_responses: bool = False
    # Flood control per connection (domain/flood_control.py): sustained calls/s (0 = off) and
    # burst; a station with `close_after` calls over the limit within `window` s is closed 1008.
    gateway_rate_limit_per_second: float = Field(200.0, ge=0)
    gateway_rate_limit_burst: int = Field(1000, ge=1)
    gateway_flood_close_after: int = Field(100, ge=0)
    gateway_flood_window: float = Field(10.0, gt=0)
    # Services mode only (`python -m ocpp_events serve`); embedded runs in its host's loop.
    gateway_event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    amqp_url: str | None = None
    amqp_exchange: str = "ocpp-events"
    amqp_command_exchange: str = "ocpp-commands"  # durable direct exchange of remote commands
    gateway_instance_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12],
                                     pattern=r"^[A-Za-z0-9._-]{1,64}$")
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"

    @property
    def path_prefix(self) -> str:
        prefix = self.gateway_path_prefix
        if not prefix.startswith("/"):
            prefix = "/" + prefix
        return prefix if prefix.endswith("/") else prefix + "/"
