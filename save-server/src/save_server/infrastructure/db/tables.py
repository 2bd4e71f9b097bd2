"""SQLAlchemy tables. Schema changes go through Alembic (save_server/migrations)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from save_server.infrastructure.db.types import UTCDateTime

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})

# SQLite autoincrements only INTEGER PRIMARY KEY columns.
Id = BigInteger().with_variant(Integer(), "sqlite")


def revision_table(name: str) -> Table:
    """One row: a revision that grows with every change of what it counts, so a process
    reloads its copy only when it moved and events carry it (newer wins)."""
    return Table(name, metadata,
                 Column("id", Id, primary_key=True, autoincrement=False),
                 Column("revision", BigInteger(), nullable=False))


def status_columns(prefix: str, at: str) -> list[Column]:
    """A status report's columns: `<prefix>status`, `<prefix>raw_status`,
    `<prefix>error_code`, `<prefix>info` and the time it was reported, `at`."""
    return [Column(f"{prefix}status", String(16)), Column(f"{prefix}raw_status", String(32)),
            Column(f"{prefix}error_code", String(50)), Column(f"{prefix}info", Text()),
            Column(at, UTCDateTime())]

stations = Table(
    "stations", metadata,
    Column("station_id", String(48), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("first_connected_at", UTCDateTime()),
    Column("last_connected_at", UTCDateTime()),
    Column("last_seen_at", UTCDateTime()),
    Column("vendor", String(50)),
    Column("model", String(50)),
    Column("serial_number", String(50)),
    Column("firmware_version", String(50)),
    Column("boot_info_at", UTCDateTime()),
    Column("name", String(200)),
    Column("address", Text()),
    Column("latitude", Float()),
    Column("longitude", Float()),
    *status_columns("availability_", "availability_at"),  # the station's own status
    # The station as `GET /charging-stations` lists it, written with every change
    # (PostgreSQL only; NULL: not written yet, the reader builds it from the rows).
    Column("document", Text()),
    # Bumped by every write of the station or of its connections, connectors or readings.
    Column("revision", BigInteger(), nullable=False, server_default="0"),
    Index(None, "status"),
)

station_connections = Table(
    "station_connections", metadata,
    Column("station_id", String(48), primary_key=True),
    Column("connection_id", String(64), primary_key=True),
    Column("first_seen_at", UTCDateTime()),
    Column("last_seen_at", UTCDateTime()),
    Column("disconnected_at", UTCDateTime()),
)

station_boots = Table(
    "station_boots", metadata,
    Column("station_id", String(48), primary_key=True),
    Column("booted_at", UTCDateTime(), primary_key=True),
    Column("connection_id", String(64)),
)

station_readings = Table(
    "station_readings", metadata,
    Column("station_id", String(48), primary_key=True),
    Column("measurand", String(32), primary_key=True),
    Column("phase", String(8), primary_key=True),
    Column("value", Float(), nullable=False),
    Column("unit", String(16)),
    Column("measured_at", UTCDateTime(), nullable=False),
)

connectors = Table(
    "connectors", metadata,
    Column("station_id", String(48), primary_key=True),
    Column("connector_id", Integer(), primary_key=True, autoincrement=False),
    *status_columns("", "status_at"),
    Column("last_used_at", UTCDateTime()),
    Column("last_available_at", UTCDateTime()),
    Column("id_tag", String(64)),
    Column("id_tag_at", UTCDateTime()),
    Column("history_horizon", UTCDateTime()),
    Column("used_before_horizon", UTCDateTime()),
    Column("evse_connectors", Text()),  # JSON: a 2.0.1 EVSE's connectors (mapping.py)
)

connector_status_reports = Table(
    "connector_status_reports", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("station_id", String(48), nullable=False),
    Column("connector_id", Integer(), nullable=False),
    Column("reported_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("raw_status", String(32)),
    Column("error_code", String(50)),
    Column("info", Text()),
    # NULL: a status report (or a fact stored before the column); "charge": a charge's start
    # or end (domain.status.FactSource).
    Column("source", String(8)),
    Column("received_at", UTCDateTime()),
    Column("connection_id", String(64)),
    Column("evse_connector_id", Integer()),
    Index(None, "station_id", "connector_id", "reported_at"),
)

charges = Table(
    "charges", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("station_id", String(48), nullable=False),
    Column("transaction_id", String(64), nullable=False),
    Column("connector_id", Integer()),
    Column("id_tag", String(64)),
    Column("meter_start_wh", Float()),
    Column("meter_stop_wh", Float()),
    Column("started_at", UTCDateTime()),
    Column("ended_at", UTCDateTime()),
    Column("stopped", Boolean(), nullable=False),
    Column("stop_reason", String(32)),
    Column("status", String(16), nullable=False),
    Column("energy_wh", Float()),
    Column("duration_seconds", Float()),
    Column("sort_at", UTCDateTime(), nullable=False),
    # id tags (migration 0009): the start was not Accepted; the tag's holder and group then
    Column("unauthorized", Boolean()),
    Column("id_tag_holder", String(200)),
    Column("id_tag_group", String(20)),
    UniqueConstraint("station_id", "transaction_id"),
    Index(None, "sort_at", "id"),
    Index(None, "station_id", "sort_at", "id"),
    Index(None, "id_tag", "sort_at"),
    Index(None, "id_tag_group", "sort_at"),
    Index(None, "stopped"),  # the running charges (few among many ended ones)
)
# A tag's charges by its key (the id tags' `token_key`, lower(id_tag)): the running ones the
# gateways are told of at every start and stop, a tag's monthly usage (migration 0015).
Index("ix_charges_lower_id_tag_stopped", func.lower(charges.c.id_tag), charges.c.stopped)

charge_meter_values = Table(
    "charge_meter_values", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("station_id", String(48), nullable=False),
    Column("transaction_id", String(64), nullable=False),
    Column("measured_at", UTCDateTime(), nullable=False),
    Column("measurand", String(32), nullable=False),
    Column("phase", String(8)),
    Column("value", Float(), nullable=False),
    Column("unit", String(16)),
    Index(None, "station_id", "transaction_id", "measured_at"),
)

processed_events = Table(
    "processed_events", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("event_type", String(64), nullable=False),
    Column("processed_at", UTCDateTime(), nullable=False),
)
