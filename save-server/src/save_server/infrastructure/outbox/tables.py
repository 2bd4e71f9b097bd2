"""The outbox (migration 0006): business events written in their change's transaction."""

from __future__ import annotations

from sqlalchemy import Column, Index, LargeBinary, String, Table

from save_server.infrastructure.db.tables import Id, metadata
from save_server.infrastructure.db.types import UTCDateTime

outbox_events = Table(
    "outbox_events", metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("routing_key", String(120), nullable=False),
    Column("charging_station_id", String(48), nullable=True),
    Column("body", LargeBinary(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("published_at", UTCDateTime(), nullable=True),
    Index(None, "published_at"),
)
