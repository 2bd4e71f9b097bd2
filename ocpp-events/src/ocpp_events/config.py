"""All gateway settings, read from the environment (see ocpp-events/README.md)."""

from __future__ import annotations

import pathlib
import uuid
from typing import Literal

from pydantic import Field, model_validator
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
    # Id tags (ocpp-events/README.md, "Id tags"): answered from the id tag registry copy, or the
    # same status for all (the benchmarks' baseline); what an unknown tag gets (unset: reject
    # in services mode, accept in embedded mode); the copy's file.
    gateway_authorize_policy: Literal["registry", "accept-all", "reject-all"] = "registry"
    gateway_unknown_id_tags: Literal["reject", "accept"] | None = None
    gateway_id_tags_file: pathlib.Path | None = None  # unset: $DATA_DIR/gateway-id-tags.json
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
    # Station admission (docs/operations.md, "Station admission"): what an id missing from the
    # registry gets (unset: reject in services mode, auto-register in embedded mode), the
    # registry's file, failed handshakes allowed per address and per station id in a window.
    gateway_unknown_stations: Literal["reject", "auto-register", "pending"] | None = None
    gateway_registry_file: pathlib.Path | None = None  # unset: $DATA_DIR/gateway-registry.json
    data_dir: pathlib.Path = pathlib.Path(".data")
    gateway_handshake_failures_per_address: int = Field(10, ge=0)  # 0 = no limit
    gateway_handshake_failures_per_station: int = Field(10, ge=0)
    gateway_handshake_failure_window: float = Field(60.0, gt=0)
    # TLS (profiles 2, 3): server certificate chain and key (PEM); the CA bundle that client
    # certificates must chain to (profile 3) and the O they must carry; file re-read interval.
    gateway_tls_cert_file: pathlib.Path | None = None
    gateway_tls_key_file: pathlib.Path | None = None
    gateway_tls_client_ca_file: pathlib.Path | None = None
    gateway_tls_reload_interval: float = Field(60.0, ge=0)  # 0: only on SIGHUP
    gateway_certificate_organization: str | None = None
    # Services mode only (`python -m ocpp_events serve`); embedded runs in its host's loop.
    gateway_event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    amqp_url: str | None = None
    amqp_exchange: str = "ocpp-events"
    amqp_command_exchange: str = "ocpp-commands"  # durable direct exchange of remote commands
    # topic exchange of the station-registry.* events; unset: "<amqp_exchange>.registry"
    amqp_registry_exchange: str | None = None
    gateway_instance_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12],
                                     pattern=r"^[A-Za-z0-9._-]{1,64}$")
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _tls_files_together(self) -> Settings:
        if (self.gateway_tls_cert_file is None) != (self.gateway_tls_key_file is None):
            raise ValueError("set both GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE, or neither")
        if self.gateway_tls_client_ca_file and self.gateway_tls_cert_file is None:
            raise ValueError("GATEWAY_TLS_CLIENT_CA_FILE needs GATEWAY_TLS_CERT_FILE (wss)")
        return self

    @property
    def registry_exchange(self) -> str:
        return self.amqp_registry_exchange or f"{self.amqp_exchange}.registry"

    @property
    def registry_file(self) -> pathlib.Path:
        return self.gateway_registry_file or self.data_dir / "gateway-registry.json"

    @property
    def id_tags_file(self) -> pathlib.Path:
        return self.gateway_id_tags_file or self.data_dir / "gateway-id-tags.json"

    @property
    def path_prefix(self) -> str:
        prefix = self.gateway_path_prefix
        if not prefix.startswith("/"):
            prefix = "/" + prefix
        return prefix if prefix.endswith("/") else prefix + "/"
