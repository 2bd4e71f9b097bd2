"""The command history table (migration 0003_station_commands), on the shared metadata."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, String, Table, Text

from save_server.infrastructure.db.tables import metadata
from save_server.infrastructure.db.types import UTCDateTime

station_commands = Table(
    "station_commands", metadata,
    Column("command_id", String(36), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("command", String(40), nullable=False),
    Column("parameters", JSON(), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("answered_at", UTCDateTime()),
    Column("outcome", String(16), nullable=False),
    Column("status", String(40)),
    Column("payload", JSON()),
    Column("error_code", String(50)),
    Column("error_description", Text()),
    Column("latency_ms", Float()),
    Column("ocpp_version", String(8)),
    Column("action", String(50)),
    Index(None, "station_id", "requested_at"),
)
