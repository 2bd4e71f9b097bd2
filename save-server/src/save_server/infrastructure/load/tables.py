"""Load management (migration 0010): the sites' electrical models and building loads.
No foreign key to `sites`: a replay may bring a model before its site is rebuilt."""

from __future__ import annotations

from sqlalchemy import JSON, Column, String, Table

from save_server.infrastructure.db.tables import metadata
from save_server.infrastructure.db.types import UTCDateTime

site_electrical_models = Table(
    "site_electrical_models", metadata,
    Column("site_id", String(36), primary_key=True),
    Column("model", JSON(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# The load manager's latest view of each site (GET /sites/{id}/power on every API replica).
site_power = Table(
    "site_power", metadata,
    Column("site_id", String(36), primary_key=True),
    Column("document", JSON(), nullable=False),
    Column("computed_at", UTCDateTime(), nullable=False),
)

# The latest measurement of each site's own load (the history is in the event store).
site_building_loads = Table(
    "site_building_loads", metadata,
    Column("site_id", String(36), primary_key=True),
    Column("per_phase_a", JSON(), nullable=False),
    Column("measured_at", UTCDateTime(), nullable=False),
)

# Each site's rotation turns (migration 0013), as its latest allocation event carries them.
site_rotation_turns = Table(
    "site_rotation_turns", metadata,
    Column("site_id", String(36), primary_key=True),
    Column("turns", JSON(), nullable=False),
    Column("computed_at", UTCDateTime(), nullable=False),
)
