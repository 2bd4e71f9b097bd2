"""Report subscriptions and runs (migration 0002_reports). On the service's shared metadata."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from save_server.infrastructure.db.tables import Id, metadata
from save_server.infrastructure.db.types import UTCDateTime

report_subscriptions = Table(
    "report_subscriptions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("recipients", JSON(), nullable=False),
    Column("schedule", String(120), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("station_ids", JSON(), nullable=False),
    Column("id_tags", JSON(), nullable=False),
    Column("enabled", Boolean(), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("groups", JSON(), nullable=False),  # id tag groups (0014_id_tag_groups_evse_types)
    Column("group_usage", Boolean(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "origin"),
)

# One row per reported window: the unique key is what makes a window's report happen once.
report_runs = Table(
    "report_runs", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscription_id", Id, ForeignKey("report_subscriptions.id", ondelete="CASCADE",
                                             name="fk_report_runs_subscription_id"),
           nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("window_end", UTCDateTime(), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("last_error", Text()),
    Column("claimed_by", String(200)),
    Column("claimed_at", UTCDateTime()),
    Column("sent_at", UTCDateTime()),
    Column("charge_count", Integer()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("subscription_id", "window_start"),
    Index(None, "state", "id"),
    Index(None, "window_start", "id"),
)
