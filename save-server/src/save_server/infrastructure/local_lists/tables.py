"""The local-list tables (migration 0011_local_lists), on the shared metadata."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, String, Table

from save_server.infrastructure.db.tables import metadata
from save_server.infrastructure.db.types import UTCDateTime

local_list_states = Table(
    "local_list_states", metadata,
    Column("station_id", String(48), primary_key=True),
    Column("support", String(16), nullable=False),
    Column("ocpp_version", String(8)),
    Column("firmware_version", String(50)),
    Column("enabled", Boolean()),
    Column("max_list_size", Integer()),
    Column("max_per_message", Integer()),
    Column("last_version", Integer(), nullable=False),
    Column("acknowledged_version", Integer()),
    Column("held", JSON()),  # key → [id_tag, status, expires_at, parent_id_tag, token_type]
    Column("source_revision", BigInteger()),
    Column("clear_cache_pending", Boolean(), nullable=False),
    Column("updated_at", UTCDateTime()),
)

local_list_sends = Table(
    "local_list_sends", metadata,
    Column("command_id", String(36), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("list_version", Integer(), nullable=False),
    Column("update_type", String(16), nullable=False),
    Column("entries", Integer(), nullable=False),
    Column("part", Integer(), nullable=False),
    Column("parts", Integer(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("status", String(50)),
    Column("reason", String(40), nullable=False),
    Index(None, "station_id", "sent_at"),
)
