"""SQL repositories used inside one unit of work (one database transaction)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection as DbConnection

from save_server.domain.model import UNKNOWN_TIME, Charge, Connection, MeterSample, Station
from save_server.domain.ports import ChargeRepository, ProcessedEvents, StationRepository
from save_server.domain.rules import StationStatus
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.mapping import (
    charge_from_row,
    charge_row,
    connector_from_row,
    connector_row,
    insert_for,
    report_from_row,
    sample_from_row,
    station_from_row,
    station_row,
    upsert,
)


class SqlStationRepository(StationRepository):
    def __init__(self, db: DbConnection) -> None:
        self._db = db
        self._loaded: dict[str, tuple[Station, _Snapshot]] = {}

    def get(self, station_id: str) -> Station | None:
        if station_id in self._loaded:
            return self._loaded[station_id][0]
        row = self._db.execute(
            select(tables.stations).where(tables.stations.c.station_id == station_id)
            .with_for_update()).mappings().first()
        if row is None:
            return None
        station = self._load(row)
        self._loaded[station_id] = (station, _Snapshot.of(station))
        return station

    def get_or_create(self, station_id: str, connection_ids: Collection[str] = ()) -> Station:
        found = self.get(station_id)
        if found is None:
            created = self._db.execute(
                insert_for(self._db.dialect, tables.stations)
                .values(station_id=station_id, status=StationStatus.DISCONNECTED.value)
                .on_conflict_do_nothing(index_elements=["station_id"]))
            if created.rowcount == 1:  # ours, locked by the insert, and empty: nothing to read
                found = Station(station_id)
                self._loaded[station_id] = (found, _Snapshot.of(found))
            else:  # created concurrently by another worker
                found = self.get(station_id)
            assert found is not None
        self._include_connections(found, connection_ids)
        return found

    def _include_connections(self, station: Station, connection_ids: Collection[str]) -> None:
        missing = [c for c in connection_ids if c not in station.connections]
        if not missing:
            return
        c = tables.station_connections.c
        rows = self._db.execute(select(tables.station_connections).where(
            c.station_id == station.station_id, c.connection_id.in_(missing))).mappings()
        snapshot = self._loaded[station.station_id][1]
        for row in rows:
            connection = _connection_from_row(row)
            station.connections[connection.connection_id] = connection
            snapshot.connections[connection.connection_id] = _connection_key(connection)

    def _load(self, row: Any) -> Station:
        station = station_from_row(row)
        key = station.station_id
        t = tables
        connections = t.station_connections.c
        current = self._db.execute(  # the connection first heard from last
            select(t.station_connections)
            .where(connections.station_id == key, connections.first_seen_at.is_not(None))
            .order_by(connections.first_seen_at.desc(), connections.connection_id.desc())
            .limit(1)).mappings().first()
        if current is not None:
            station.connections[current["connection_id"]] = _connection_from_row(current)
        station.boots = set(self._db.execute(select(t.station_boots.c.booted_at)
                                             .where(t.station_boots.c.station_id == key))
                            .scalars())
        for r in self._db.execute(select(t.station_readings)
                                  .where(t.station_readings.c.station_id == key)).mappings():
            sample = sample_from_row(r)
            station.readings[(sample.measurand, sample.phase or "")] = sample
        for c in self._db.execute(select(t.connectors)
                                  .where(t.connectors.c.station_id == key)).mappings():
            connector = connector_from_row(c)
            reports = t.connector_status_reports.c
            query = select(t.connector_status_reports).where(
                reports.station_id == key, reports.connector_id == connector.connector_id)
            if connector.history_horizon is not None:
                query = query.where(reports.reported_at >= connector.history_horizon)
            connector.reports = [report_from_row(r) for r in self._db.execute(query).mappings()]
            station.connectors[connector.connector_id] = connector
        return station

    def save_all(self) -> None:
        for station, snapshot in self._loaded.values():
            self._save(station, snapshot)

    def _save(self, station: Station, before: _Snapshot) -> None:
        """Write only what changed since the station was loaded."""
        db, key, t = self._db, station.station_id, tables
        after = _Snapshot.of(station)
        if after.station != before.station:
            db.execute(update(t.stations).where(t.stations.c.station_id == key)
                       .values(after.station))
        for connection in station.connections.values():
            connection_id = connection.connection_id
            if before.connections.get(connection_id) != after.connections[connection_id]:
                _merge_connection(db, key, connection)
        for booted_at in station.new_boots:
            upsert(db, t.station_boots, {"station_id": key, "booted_at": booted_at},
                   ["station_id", "booted_at"])
        for reading_key, sample in station.readings.items():
            if before.readings.get(reading_key) != sample:
                upsert(db, t.station_readings, {
                    "station_id": key, "measurand": sample.measurand.value,
                    "phase": sample.phase or "", "value": sample.value, "unit": sample.unit,
                    "measured_at": sample.at,
                }, ["station_id", "measurand", "phase"])
        for connector in station.connectors.values():
            row = after.connectors[connector.connector_id]
            if before.connectors.get(connector.connector_id) != row:
                upsert(db, t.connectors, row, ["station_id", "connector_id"])
            if connector.new_reports:
                db.execute(t.connector_status_reports.insert(), [{
                    "station_id": key, "connector_id": connector.connector_id,
                    "reported_at": r.at, "status": r.status.value, "raw_status": r.raw_status,
                    "error_code": r.error_code, "info": r.info,
                } for r in connector.new_reports])
                connector.new_reports.clear()
        station.new_boots.clear()
        self._loaded[key] = (station, after)


@dataclass(frozen=True)
class _Snapshot:
    """What a station looked like when loaded (or last saved), to write only changes."""

    station: dict[str, Any]
    connections: dict[str, tuple]
    readings: dict[tuple, MeterSample]
    connectors: dict[int, dict[str, Any]]

    @classmethod
    def of(cls, station: Station) -> _Snapshot:
        return cls(
            station=station_row(station),
            connections={c.connection_id: _connection_key(c)
                         for c in station.connections.values()},
            readings=dict(station.readings),
            connectors={c.connector_id: connector_row(station.station_id, c)
                        for c in station.connectors.values()},
        )


def _connection_from_row(row: Any) -> Connection:
    return Connection(row["connection_id"], row["first_seen_at"], row["last_seen_at"],
                      row["disconnected_at"])


def _merge_connection(db: DbConnection, station_id: str, connection: Connection) -> None:
    """Upsert that never loses what another view of the row knew: earliest first sight and
    disconnect, latest last sight."""
    table = tables.station_connections
    statement = insert_for(db.dialect, table).values(
        station_id=station_id, connection_id=connection.connection_id,
        first_seen_at=connection.first_seen_at, last_seen_at=connection.last_seen_at,
        disconnected_at=connection.disconnected_at)
    new = statement.excluded  # type: ignore[attr-defined]
    least, greatest = ((func.least, func.greatest) if db.dialect.name == "postgresql"
                       else (func.min, func.max))

    def merged(pick: Any, name: str) -> Any:
        old_value, new_value = table.c[name], new[name]
        return pick(func.coalesce(old_value, new_value), func.coalesce(new_value, old_value))

    db.execute(statement.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["station_id", "connection_id"],
        set_={"first_seen_at": merged(least, "first_seen_at"),
              "last_seen_at": merged(greatest, "last_seen_at"),
              "disconnected_at": merged(least, "disconnected_at")}))


def _connection_key(connection: Connection) -> tuple:
    return (connection.first_seen_at, connection.last_seen_at, connection.disconnected_at)


class SqlChargeRepository(ChargeRepository):
    def __init__(self, db: DbConnection) -> None:
        self._db = db
        self._loaded: dict[tuple[str, str], Charge] = {}

    def get_or_create(self, station_id: str, transaction_id: str) -> Charge:
        key = (station_id, transaction_id)
        if key in self._loaded:
            return self._loaded[key]
        c = tables.charges.c
        query = (select(tables.charges).where(and_(c.station_id == station_id,
                                                   c.transaction_id == transaction_id))
                 .with_for_update())
        row = self._db.execute(query).mappings().first()
        if row is None:
            self._db.execute(insert_for(self._db.dialect, tables.charges).values(
                station_id=station_id, transaction_id=transaction_id, stopped=False,
                status="charging", sort_at=UNKNOWN_TIME,
            ).on_conflict_do_nothing(index_elements=["station_id", "transaction_id"]))
            row = self._db.execute(query).mappings().one()
        charge = charge_from_row(row)
        self._loaded[key] = charge
        return charge

    def add_meter_values(self, station_id: str, transaction_id: str,
                         samples: Sequence[MeterSample]) -> None:
        self._db.execute(tables.charge_meter_values.insert(), [{
            "station_id": station_id, "transaction_id": transaction_id,
            "measured_at": s.at, "measurand": s.measurand.value, "phase": s.phase,
            "value": s.value, "unit": s.unit,
        } for s in samples])

    def save_all(self) -> None:
        for charge in self._loaded.values():
            self._db.execute(update(tables.charges).where(tables.charges.c.id == charge.id)
                             .values(charge_row(charge)))


class SqlProcessedEvents(ProcessedEvents):
    def __init__(self, db: DbConnection) -> None:
        self._db = db
        self._pending: list[dict[str, Any]] = []

    def seen(self, event_id: str) -> bool:
        return bool(self.seen_among([event_id]))

    def seen_among(self, event_ids: Sequence[str]) -> set[str]:
        c = tables.processed_events.c
        found = self._db.execute(select(c.event_id).where(c.event_id.in_(list(event_ids))))
        return set(found.scalars()) | {e["event_id"] for e in self._pending
                                       if e["event_id"] in event_ids}

    def add(self, event_id: str, event_type: str) -> None:
        self._pending.append({"event_id": event_id, "event_type": event_type,
                              "processed_at": datetime.now(UTC)})

    def save_all(self) -> None:
        if self._pending:
            self._db.execute(tables.processed_events.insert(), self._pending)
            self._pending = []
