"""Id tags, their groups, unknown tokens, the id tag registry revision (migration 0009)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from save_server.infrastructure.db.tables import Id, metadata
from save_server.infrastructure.db.types import UTCDateTime

id_tag_groups = Table(
    "id_tag_groups", metadata,
    Column("group_id", String(20), primary_key=True),
    Column("label", String(200), nullable=False),
    Column("monthly_budget_kwh", Float(), nullable=True),
)

id_tags = Table(
    "id_tags", metadata,
    Column("token_key", String(36), primary_key=True),  # casefold(id_tag): OCPP's comparison
    Column("id_tag", String(36), nullable=False),  # as registered
    Column("token_type", String(16), nullable=True),
    Column("group_id", String(20), ForeignKey("id_tag_groups.group_id"), nullable=True),
    Column("holder", String(200), nullable=True),
    Column("status", String(8), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("site_ids", JSON(), nullable=True),
    Column("station_ids", JSON(), nullable=True),
    Column("evse_types", JSON(), nullable=True),  # 0014_id_tag_groups_evse_types
    Column("max_concurrent_charges", Integer(), nullable=False),
    Column("monthly_budget_kwh", Float(), nullable=True),
    Column("revision", BigInteger(), nullable=False),
    Column("budget_exhausted", Boolean(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "group_id"),
)

unknown_id_tags = Table(
    "unknown_id_tags", metadata,
    Column("token_key", String(36), primary_key=True),
    Column("station_id", String(48), primary_key=True),
    Column("id_tag", String(36), nullable=False),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("count", BigInteger(), nullable=False),
    Index(None, "last_seen_at"),
)

# One row: the revision of the id tag registry, carried by every `id-tag-registry.*` event.
id_tag_revision = Table(
    "id_tag_revision", metadata,
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("revision", BigInteger(), nullable=False),
)
