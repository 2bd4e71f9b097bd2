"""Stations read and written in bulk: a batch of events touching fifty stations costs a few
statements, not a few per station."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.engine import Connection as DbConnection

from save_server.domain.model import Connection, MeterSample, Station
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.bulk import bulk_insert, fetch_all, insert_rows, update_rows
from save_server.infrastructure.db.documents import station_document
from save_server.infrastructure.db.mapping import (
    connector_from_row,
    connector_row,
    insert_for,
    report_from_row,
    report_row,
    sample_from_row,
    station_from_row,
    station_row,
)
from save_server.infrastructure.db.types import UTCDateTime

REPORT_CONDITIONS_PER_QUERY = 200


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


_LOCK_STATIONS = ("SELECT station_id, revision FROM stations WHERE station_id = ANY(%s)"
                  " ORDER BY station_id FOR UPDATE")


def lock_stations(db: DbConnection, station_ids: Collection[str]) -> list[tuple[str, int]]:
    """(station id, revision) of the existing stations, locked in station id order (the same
    order in every worker). Only the revision: a station cached by this process needs no more."""
    if db.dialect.name == "postgresql":
        return [(row[0], row[1]) for row in fetch_all(db, _LOCK_STATIONS, [list(station_ids)])]
    s = tables.stations.c
    return [(row[0], row[1]) for row in db.execute(
        select(s.station_id, s.revision).where(s.station_id.in_(list(station_ids)))
        .order_by(s.station_id).with_for_update())]


def read_stations(db: DbConnection, station_ids: Collection[str]) -> list[Any]:
    """The full rows of stations this transaction has locked."""
    s = tables.stations.c
    return list(db.execute(select(tables.stations)
                           .where(s.station_id.in_(list(station_ids)))).mappings())


def load_stations(db: DbConnection, rows: list[Any],
                  named: Mapping[str, Collection[str]]) -> dict[str, Station]:
    """Each station with its current connection, the named ones, boots, readings, connectors
    and the status reports its rules need."""
    t = tables
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
    _load_reports(db, stations)
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


def _load_reports(db: DbConnection, stations: Mapping[str, Station]) -> None:
    if db.dialect.name == "postgresql":
        _load_reports_postgresql(db, stations)
        return
    r = tables.connector_status_reports.c
    conditions = []
    for station in stations.values():
        for connector in station.connectors.values():
            condition = and_(r.station_id == station.station_id,
                             r.connector_id == connector.connector_id)
            if connector.history_horizon is not None:
                condition = and_(condition, r.reported_at >= connector.history_horizon)
            conditions.append(condition)
    for start in range(0, len(conditions), REPORT_CONDITIONS_PER_QUERY):
        chunk = conditions[start:start + REPORT_CONDITIONS_PER_QUERY]
        query = select(tables.connector_status_reports).where(or_(*chunk)).order_by(r.id)
        for row in db.execute(query).mappings():
            connector = stations[row["station_id"]].connectors[row["connector_id"]]
            connector.reports.append(report_from_row(row))


_WANTED_REPORTS = text(
    "SELECT * FROM unnest(CAST(:station_ids AS varchar[]), CAST(:connector_ids AS integer[]),"
    " CAST(:horizons AS timestamptz[])) AS wanted(station_id, connector_id, horizon)",
).columns(station_id=String(), connector_id=Integer(), horizon=UTCDateTime()).subquery("wanted")


def _load_reports_postgresql(db: DbConnection, stations: Mapping[str, Station]) -> None:
    """The same window per connector in one statement of constant shape: the connectors as
    three arrays joined to the (station, connector, reported_at) index."""
    wanted = [(station.station_id, connector.connector_id, connector.history_horizon)
              for station in stations.values() for connector in station.connectors.values()]
    if not wanted:
        return
    r, w = tables.connector_status_reports.c, _WANTED_REPORTS.c
    query = (select(tables.connector_status_reports)
             .join(_WANTED_REPORTS, and_(r.station_id == w.station_id,
                                         r.connector_id == w.connector_id,
                                         or_(w.horizon.is_(None), r.reported_at >= w.horizon)))
             .order_by(r.id))
    station_ids, connector_ids, horizons = (list(column) for column in zip(*wanted, strict=True))
    for row in db.execute(query, {"station_ids": station_ids, "connector_ids": connector_ids,
                                  "horizons": horizons}).mappings():
        connector = stations[row["station_id"]].connectors[row["connector_id"]]
        connector.reports.append(report_from_row(row))


def save_stations(db: DbConnection, changed: Iterable[tuple[Station, Snapshot]]
                  ) -> dict[str, Snapshot]:
    """Write what changed since each snapshot, one statement per table; the new snapshots."""
    t = tables
    station_rows: list[dict[str, Any]] = []
    connection_rows: list[dict[str, Any]] = []
    boot_rows: list[dict[str, Any]] = []
    reading_rows: list[dict[str, Any]] = []
    connector_rows: list[dict[str, Any]] = []
    report_rows: list[dict[str, Any]] = []
    snapshots: dict[str, Snapshot] = {}
    station_updates: list[dict[str, Any]] = []
    documents = db.dialect.name == "postgresql"
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
        if documents and (touched or before.document is None):
            document = station_document(station)
        if touched or document != before.document:
            revision = before.revision + 1
            if documents:  # only what changed: the row exists (created before it was loaded)
                columns = {k: v for k, v in after.station.items() if before.station.get(k) != v}
                if document != before.document:
                    columns["document"] = document
                station_updates.append({**columns, "station_id": key, "revision": revision})
            else:
                station_rows.append({**after.station, "revision": revision})
            after = Snapshot(after.station, after.connections, after.readings, after.connectors,
                             document, revision)
        snapshots[key] = after
    if station_rows:  # every column of a locked row: an upsert is one multi-row statement
        _upsert(db, t.stations, station_rows, ["station_id"])
    if station_updates:
        update_rows(db, t.stations, "station_id", station_updates)
    if connection_rows:
        _merge_connections(db, connection_rows)
    if boot_rows:
        _upsert(db, t.station_boots, boot_rows, ["station_id", "booted_at"])
    if reading_rows:
        _upsert(db, t.station_readings, reading_rows, ["station_id", "measurand", "phase"])
    if connector_rows:
        _upsert(db, t.connectors, connector_rows, ["station_id", "connector_id"])
    if report_rows:
        insert_rows(db, t.connector_status_reports, report_rows)
    return snapshots


def _upsert(db: DbConnection, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
    if db.dialect.name == "postgresql":
        columns = list(rows[0])
        updates = [f"{c} = EXCLUDED.{c}" for c in columns if c not in keys]
        bulk_insert(db, table.name, columns, rows, f"ON CONFLICT ({', '.join(keys)}) " + (
            f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"))
        return
    statement = insert_for(db.dialect, table)
    updates = {k: statement.excluded[k] for k in rows[0] if k not in keys}  # type: ignore[attr-defined]
    if updates:
        statement = statement.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=keys, set_=updates)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)  # type: ignore[attr-defined]
    _execute_many(db, statement, table, keys, rows)


def _execute_many(db: DbConnection, statement: Any, table: Any, keys: list[str],
                  rows: list[dict[str, Any]]) -> None:
    """An upsert of many rows as multi-row statements: SQLAlchemy batches an executemany of
    INSERT … ON CONFLICT into VALUES pages only with RETURNING (without it, one statement per
    row). Safe here because a batch never holds one key twice (rows come from dicts)."""
    db.execute(statement.returning(*(table.c[k] for k in keys)), rows).close()


_MERGE_CONNECTIONS = "ON CONFLICT (station_id, connection_id) DO UPDATE SET " + ", ".join(
    f"{column} = {pick}(coalesce(t.{column}, EXCLUDED.{column}), "
    f"coalesce(EXCLUDED.{column}, t.{column}))"
    for column, pick in (("first_seen_at", "least"), ("last_seen_at", "greatest"),
                         ("disconnected_at", "least")))


def _merge_connections(db: DbConnection, rows: list[dict[str, Any]]) -> None:
    """Upsert that never loses what another view of a row knew: earliest first sight and
    disconnect, latest last sight."""
    table = tables.station_connections
    if db.dialect.name == "postgresql":
        bulk_insert(db, table.name, list(rows[0]), rows, _MERGE_CONNECTIONS)
        return
    statement = insert_for(db.dialect, table)
    new = statement.excluded  # type: ignore[attr-defined]
    least, greatest = func.min, func.max  # SQLite's two-argument forms

    def merged(pick: Any, name: str) -> Any:
        old_value, new_value = table.c[name], new[name]
        return pick(func.coalesce(old_value, new_value), func.coalesce(new_value, old_value))

    keys = ["station_id", "connection_id"]
    _execute_many(db, statement.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=keys,
        set_={"first_seen_at": merged(least, "first_seen_at"),
              "last_seen_at": merged(greatest, "last_seen_at"),
              "disconnected_at": merged(least, "disconnected_at")}), table, keys, rows)
