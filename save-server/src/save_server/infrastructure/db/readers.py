"""SQL read side: stations and charges as the API lists them (keyset pagination, streaming)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, Select, select, text, tuple_

from save_server.domain.model import BootInfo, Charge, Connector, MeterSample, StatusReport
from save_server.domain.ports import ChargeCursor, ChargeFilter, ChargeReader, StationReader
from save_server.domain.rules import ConnectorStatus, StationStatus
from save_server.domain.views import StationView
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.mapping import (
    charge_from_row,
    connector_from_row,
    sample_from_row,
)

STREAM_BATCH = 1000
# The station columns the readers map (not the stored JSON document).
_STATION_COLUMNS = [c for c in tables.stations.c if c.name != "document"]


class SqlStationReader(StationReader):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self, status: StationStatus | None = None) -> list[StationView]:
        query = select(*_STATION_COLUMNS).order_by(tables.stations.c.station_id)
        if status is not None:
            query = query.where(tables.stations.c.status == status.value)
        return self._views(query, all_stations=True)

    def get(self, station_id: str) -> StationView | None:
        query = select(*_STATION_COLUMNS).where(tables.stations.c.station_id == station_id)
        views = self._views(query, all_stations=False)
        return views[0] if views else None

    def list_json(self, status: StationStatus | None = None) -> str | None:
        """`list` as the API's JSON document (`schemas.StationOut` items), built by PostgreSQL
        in one statement: no row objects in Python. None on other databases."""
        if self._engine.dialect.name != "postgresql":
            return None
        with self._engine.connect() as db, db.begin():
            # The planner costs the (rarely evaluated) rebuild expression high enough to JIT-
            # compile it: ~60 ms per request for nothing, most of the time ready documents.
            db.exec_driver_sql("SET LOCAL jit = off")
            rows = db.execute(_STATIONS_JSON, {
                "status": status.value if status is not None else None}).scalars()
            return "[" + ",".join(rows) + "]"

    def _views(self, query: Select[Any], all_stations: bool) -> list[StationView]:
        t = tables
        with self._engine.connect() as db:
            rows = list(db.execute(query).mappings())
            if not rows:
                return []
            ids = [r["station_id"] for r in rows]
            connectors_query = select(t.connectors).order_by(t.connectors.c.connector_id)
            readings_query = select(t.station_readings).order_by(t.station_readings.c.measurand,
                                                                 t.station_readings.c.phase)
            if not all_stations:
                connectors_query = connectors_query.where(t.connectors.c.station_id.in_(ids))
                readings_query = readings_query.where(t.station_readings.c.station_id.in_(ids))
            connectors: dict[str, list[Connector]] = defaultdict(list)
            for c in db.execute(connectors_query).mappings():
                connectors[c["station_id"]].append(connector_from_row(c))
            readings: dict[str, list[MeterSample]] = defaultdict(list)
            for r in db.execute(readings_query).mappings():
                readings[r["station_id"]].append(sample_from_row(r))
        return [_view(r, connectors[r["station_id"]], readings[r["station_id"]]) for r in rows]


def _time(column: str) -> str:
    """A timestamptz as JSON text exactly as `fast_json` writes it (UTC, `Z`, microseconds
    only when there are some); SQL NULL when NULL."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (f"CASE WHEN {column} IS NULL THEN NULL ELSE '\"' || "
            f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
            f"CASE WHEN extract(microseconds FROM {column})::bigint % 1000000 = 0 THEN '' "
            f"ELSE to_char({utc}, '.US') END || 'Z\"' END")


def _object(fields: list[tuple[str, str]]) -> str:
    """SQL text building one compact JSON object; each value is given as JSON text (NULL →
    null), keys in the order given."""
    parts = [f"'{'{' if i == 0 else ','}\"{key}\":' || coalesce({value}, 'null')"
             for i, (key, value) in enumerate(fields)]
    return " || ".join(parts) + " || '}'"


def _json(column: str) -> str:
    return f"to_json({column})::text"


_CONNECTOR = _object([
    ("connector_id", _json("c.connector_id")),
    ("status", _json("nullif(c.status, '')")),
    ("raw_status", _json("c.raw_status")),
    ("error_code", _json("c.error_code")),
    ("info", _json("c.info")),
    ("status_at", _time("c.status_at")),
    # Connector.id_tag: cleared once the connector was available after the assignment.
    ("id_tag", _json("CASE WHEN c.id_tag_at IS NULL OR c.last_available_at > c.id_tag_at "
                     "THEN NULL ELSE c.id_tag END")),
    ("last_used_at", _time("c.last_used_at")),
])
_READING = _object([
    ("measurand", _json("r.measurand")),
    ("value", _json("r.value")),
    ("unit", _json("r.unit")),
    ("phase", _json("nullif(r.phase, '')")),
    ("measured_at", _time("r.measured_at")),
])
_CONNECTORS = (f"SELECT string_agg({_CONNECTOR}, ',' ORDER BY c.connector_id) "
               "FROM connectors c WHERE c.station_id = s.station_id")
_READINGS = (f"SELECT string_agg({_READING}, ',' ORDER BY r.measurand, r.phase) "
             "FROM station_readings r WHERE r.station_id = s.station_id")
_AVAILABILITY = _object([
    ("status", _json("s.availability_status")),
    ("raw_status", _json("s.availability_raw_status")),
    ("error_code", _json("s.availability_error_code")),
    ("info", _json("s.availability_info")),
    ("at", _time("s.availability_at")),
])
_STATION = _object([
    ("id", _json("s.station_id")),
    ("status", _json("s.status")),
    ("first_connected_at", _time("s.first_connected_at")),
    ("last_connected_at", _time("s.last_connected_at")),
    ("last_seen_at", _time("s.last_seen_at")),
    ("vendor", _json("s.vendor")),
    ("model", _json("s.model")),
    ("serial_number", _json("s.serial_number")),
    ("firmware_version", _json("s.firmware_version")),
    ("name", _json("s.name")),
    ("address", _json("s.address")),
    ("latitude", _json("s.latitude")),
    ("longitude", _json("s.longitude")),
    ("availability", f"CASE WHEN s.availability_status IS NULL THEN NULL "
                     f"ELSE {_AVAILABILITY} END"),
    ("readings", f"'[' || coalesce(({_READINGS}), '') || ']'"),
    ("connectors", f"'[' || coalesce(({_CONNECTORS}), '') || ']'"),
])
# The stored document, or — for a station not written since the column came (migration 0004)
# or seeded straight into the tables — the same document built from the rows. COALESCE
# evaluates the second, correlated, part only for those. Joined in Python: the same document as
# `[station_json(v) for v in list()]`, byte for byte except that floats are PostgreSQL's
# shortest form (`230`, `1e+06`) in the rebuilt ones.
BUILT_DOCUMENT = _STATION
STATION_DOCUMENT = f"coalesce(s.document, {BUILT_DOCUMENT})"
_STATIONS_JSON = text(f"""
SELECT {STATION_DOCUMENT}
FROM stations s
WHERE CAST(:status AS varchar) IS NULL OR s.status = :status
ORDER BY s.station_id
""")


def _view(row: Any, connectors: list[Connector], readings: list[MeterSample]) -> StationView:
    availability = None
    if row["availability_status"] is not None:
        availability = StatusReport(row["availability_at"],
                                    ConnectorStatus(row["availability_status"]),
                                    row["availability_raw_status"],
                                    row["availability_error_code"], row["availability_info"])
    return StationView(
        station_id=row["station_id"], status=StationStatus(row["status"]),
        first_connected_at=row["first_connected_at"],
        last_connected_at=row["last_connected_at"], last_seen_at=row["last_seen_at"],
        boot_info=BootInfo(row["vendor"], row["model"], row["serial_number"],
                           row["firmware_version"]),
        name=row["name"], address=row["address"], latitude=row["latitude"],
        longitude=row["longitude"], availability=availability,
        connectors=connectors, readings=readings,
    )


class SqlChargeReader(ChargeReader):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def page(self, charge_filter: ChargeFilter, after: ChargeCursor | None,
             limit: int) -> list[Charge]:
        query = _filtered(charge_filter, after).limit(limit)
        with self._engine.connect() as db:
            return [charge_from_row(r) for r in db.execute(query).mappings()]

    def stream(self, charge_filter: ChargeFilter) -> Iterator[Charge]:
        """Batches of keyset pages: constant memory, no long-lived cursor or transaction."""
        after: ChargeCursor | None = None
        while True:
            batch = self.page(charge_filter, after, STREAM_BATCH)
            yield from batch
            if len(batch) < STREAM_BATCH:
                return
            last = batch[-1]
            assert last.id is not None
            after = ChargeCursor(last.sort_at, last.id)

    def get(self, charge_id: int) -> Charge | None:
        with self._engine.connect() as db:
            row = db.execute(select(tables.charges).where(tables.charges.c.id == charge_id)
                             ).mappings().first()
        return charge_from_row(row) if row else None

    def meter_values(self, station_id: str, transaction_id: str) -> list[MeterSample]:
        c = tables.charge_meter_values.c
        query = (select(tables.charge_meter_values)
                 .where(c.station_id == station_id, c.transaction_id == transaction_id)
                 .order_by(c.measured_at, c.id))
        with self._engine.connect() as db:
            return [sample_from_row(r) for r in db.execute(query).mappings()]


def _filtered(charge_filter: ChargeFilter, after: ChargeCursor | None) -> Select[Any]:
    c = tables.charges.c
    query = select(tables.charges).order_by(c.sort_at.desc(), c.id.desc())
    if charge_filter.charging_station_id is not None:
        query = query.where(c.station_id == charge_filter.charging_station_id)
    if charge_filter.station_scope is not None:
        query = query.where(c.station_id.in_(sorted(charge_filter.station_scope)))
    if charge_filter.start_date is not None:
        # The listed time is the start (or the end while the start is unknown): indexed.
        query = query.where(c.sort_at >= charge_filter.start_date)
    if charge_filter.end_date is not None:
        query = query.where(c.ended_at <= charge_filter.end_date)
    if charge_filter.status is not None:
        query = query.where(c.status == charge_filter.status.value)
    if charge_filter.id_tag is not None:
        query = query.where(c.id_tag == charge_filter.id_tag)
    if after is not None:
        # A row-value comparison lets both PostgreSQL and SQLite seek the (sort_at, id) index
        # straight to the cursor; the equivalent OR form scans from the newest charge.
        query = query.where(c.sort_at <= after.sort_at,
                            tuple_(c.sort_at, c.id) < tuple_(after.sort_at, after.charge_id))
    return query
