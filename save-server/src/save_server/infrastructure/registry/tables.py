"""Sites, station registrations, unknown stations, the registry revision (migration 0007)."""

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

from save_server.infrastructure.db.tables import metadata, revision_table
from save_server.infrastructure.db.types import UTCDateTime

sites = Table(
    "sites", metadata,
    Column("site_id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("address", String(500), nullable=True),
    Column("timezone", String(64), nullable=False),
    Column("latitude", Float(), nullable=True),
    Column("longitude", Float(), nullable=True),
)

station_registrations = Table(
    "station_registrations", metadata,
    Column("station_id", String(48), primary_key=True),
    Column("site_id", String(36), ForeignKey("sites.site_id"), nullable=True),
    Column("name", String(200), nullable=True),
    Column("security_profile", Integer(), nullable=False),
    Column("enabled", Boolean(), nullable=False),
    Column("ocpp_version", String(8), nullable=True),
    Column("certificate_organization", String(200), nullable=True),
    Column("passwords", JSON(), nullable=False),
    Column("revision", BigInteger(), nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("evse_types", JSON(), nullable=True),  # EVSE id -> AC/DC (0014_id_tag_groups_evse_types)
)

unknown_stations = Table(
    "unknown_stations", metadata,
    Column("station_id", String(48), primary_key=True),
    Column("first_attempt_at", UTCDateTime(), nullable=False),
    Column("last_attempt_at", UTCDateTime(), nullable=False),
    Column("attempts", BigInteger(), nullable=False),
    Column("remote_address", String(64), nullable=True),
    Column("offered_subprotocols", JSON(), nullable=False),
)

# What stations report about their own security (SecurityEventNotification): the latest ones.
station_security_events = Table(
    "station_security_events", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("type", String(50), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("tech_info", String(255), nullable=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Index(None, "station_id", "occurred_at"),
)

# One row: the registry's revision, carried by every registry event (gateways apply a change
# only when it is newer than what they hold).
registry_revision = revision_table("registry_revision")
