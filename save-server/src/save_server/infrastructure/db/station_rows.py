"""Stations read and written in bulk: a batch of events touching fifty stations costs a few
statements, not a few per station."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, literal, select, union_all
from sqlalchemy.engine import Connection as DbConnection

from save_server.domain.model import Connection, MeterSample, Station
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.documents import station_document
from save_server.infrastructure.db.mapping import (
    connector_from_row,
    connector_row,
    report_row,
    sample_from_row,
    station_from_row,
    station_row,
)
from save_server.infrastructure.db.statements import SqlStatements


@dataclass(frozen=True)
class Snapshot:
    """What a station looked like when loaded (or last saved), to write only changes."""

    station: dict[str, Any]
    connections: dict[str, tuple]
    readings: dict[tuple, MeterSample]
    connectors: dict[int, dict[str, Any]]
    document: str | None = None  # as stored
    revision: int = 0  # as stored

    @classmethod
    def of(cls, station: Station, document: str | None = None, revision: int = 0) -> Snapshot:
        return cls(
            document=document, revision=revision,
            station=station_row(station),
            connections={c.connection_id: connection_key(c)
                         for c in station.connections.values()},
            readings=dict(station.readings),
            connectors={c.connector_id: connector_row(station.station_id, c)
                        for c in station.connectors.values()},
        )


def connection_key(connection: Connection) -> tuple:
    return (connection.first_seen_at, connection.last_seen_at, connection.disconnected_at)


def connection_from_row(row: Any) -> Connection:
    return Connection(row["connection_id"], row["first_seen_at"], row["last_seen_at"],
                      row["disconnected_at"])


def read_stations(db: DbConnection, station_ids: Collection[str]) -> list[Any]:
    """The full rows of stations this transaction has locked."""
    s = tables.stations.c
    return list(db.execute(select(tables.stations)
                           .where(s.station_id.in_(list(station_ids)))).mappings())


def load_stations(sql: SqlStatements, rows: list[Any],
                  named: Mapping[str, Collection[str]]) -> dict[str, Station]:
    """Each station with its current connection, the named ones, boots, readings, connectors
    and the status reports its rules need."""
    t, db = tables, sql.db
    stations = {row["station_id"]: station_from_row(row) for row in rows}
    ids = list(stations)
    if not ids:
        return stations
    for row in _load_connections(db, ids, named):
        stations[row["station_id"]].connections[row["connection_id"]] = connection_from_row(row)
    b = t.station_boots.c
    for station_id, booted_at, connection_id in db.execute(
            select(b.station_id, b.booted_at, b.connection_id).where(b.station_id.in_(ids))):
        stations[station_id].boots[booted_at] = connection_id
    for row in db.execute(select(t.station_readings)
                          .where(t.station_readings.c.station_id.in_(ids))).mappings():
        sample = sample_from_row(row)
        stations[row["station_id"]].readings[(sample.measurand, sample.phase or "")] = sample
    for row in db.execute(select(t.connectors).where(t.connectors.c.station_id.in_(ids))
                          .order_by(t.connectors.c.connector_id)).mappings():
        stations[row["station_id"]].connectors[row["connector_id"]] = connector_from_row(row)
    sql.load_reports(stations)
    return stations


def _load_connections(db: DbConnection, ids: list[str],
                      named: Mapping[str, Collection[str]]) -> list[Any]:
    """Each station's latest connection (one join on the primary key) and the named ones (an
    index range on both key columns, narrowed to the exact pairs here): no OR over the table."""
    t = tables.station_connections
    c = t.c
    latest = (select(c.station_id, func.max(c.first_seen_at).label("first_seen_at"))
              .where(c.station_id.in_(ids), c.first_seen_at.is_not(None))
              .group_by(c.station_id).subquery())
    query = select(t, literal(True).label("latest")).join(latest, and_(
        c.station_id == latest.c.station_id, c.first_seen_at == latest.c.first_seen_at))
    pairs = {(station_id, connection_id) for station_id in ids
             for connection_id in named.get(station_id, ())}
    if pairs:
        query = union_all(query, select(t, literal(False).label("latest")).where(
            c.station_id.in_(sorted({s for s, _ in pairs})),
            c.connection_id.in_(sorted({n for _, n in pairs}))))
    rows = db.execute(query).mappings()
    return [row for row in rows
            if row["latest"] or (row["station_id"], row["connection_id"]) in pairs]


def save_stations(sql: SqlStatements, changed: Iterable[tuple[Station, Snapshot]]
                  ) -> dict[str, Snapshot]:
    """Write what changed since each snapshot, one statement per table; the new snapshots.
    A station whose row or related rows changed gets its document rewritten and its revision
    bumped, in an UPDATE of only the changed columns (its row exists: it was created before
    it was loaded)."""
    t = tables
    connection_rows: list[dict[str, Any]] = []
    boot_rows: list[dict[str, Any]] = []
    reading_rows: list[dict[str, Any]] = []
    connector_rows: list[dict[str, Any]] = []
    report_rows: list[dict[str, Any]] = []
    snapshots: dict[str, Snapshot] = {}
    station_updates: list[dict[str, Any]] = []
    for station, before in changed:
        key = station.station_id
        after = Snapshot.of(station, before.document, before.revision)
        touched = after.station != before.station
        for connection in station.connections.values():
            if before.connections.get(connection.connection_id) != \
                    after.connections[connection.connection_id]:
                touched = True
                connection_rows.append({
                    "station_id": key, "connection_id": connection.connection_id,
                    "first_seen_at": connection.first_seen_at,
                    "last_seen_at": connection.last_seen_at,
                    "disconnected_at": connection.disconnected_at})
        if station.new_boots:
            touched = True
            boot_rows += [{"station_id": key, "booted_at": at, "connection_id": connection_id}
                          for at, connection_id in station.new_boots.items()]
            station.new_boots.clear()
        for reading_key, sample in station.readings.items():
            if before.readings.get(reading_key) != sample:
                touched = True
                reading_rows.append({
                    "station_id": key, "measurand": sample.measurand.value,
                    "phase": sample.phase or "", "value": sample.value, "unit": sample.unit,
                    "measured_at": sample.at})
        for connector in station.connectors.values():
            row = after.connectors[connector.connector_id]
            if before.connectors.get(connector.connector_id) != row:
                touched = True
                connector_rows.append(row)
            if connector.new_reports:
                touched = True
                report_rows += [report_row(key, connector.connector_id, r)
                                for r in connector.new_reports]
                connector.new_reports.clear()
        document = before.document
        if touched or before.document is None:
            document = station_document(station)
        if touched or document != before.document:
            revision = before.revision + 1
            columns = {k: v for k, v in after.station.items() if before.station.get(k) != v}
            if document != before.document:
                columns["document"] = document
            station_updates.append({**columns, "station_id": key, "revision": revision})
            after = Snapshot(after.station, after.connections, after.readings, after.connectors,
                             document, revision)
        snapshots[key] = after
    if station_updates:
        sql.update_rows(t.stations, "station_id", station_updates)
    if connection_rows:
        sql.merge_connections(connection_rows)
    if boot_rows:
        sql.upsert(t.station_boots, boot_rows, ["station_id", "booted_at"])
    if reading_rows:
        sql.upsert(t.station_readings, reading_rows, ["station_id", "measurand", "phase"])
    if connector_rows:
        sql.upsert(t.connectors, connector_rows, ["station_id", "connector_id"])
    if report_rows:
        sql.insert_rows(t.connector_status_reports, report_rows)
    return snapshots
