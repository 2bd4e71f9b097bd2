"""SQL read side: stations and charges as the API lists them (keyset pagination, streaming)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, Select, bindparam, select, tuple_, update
from sqlalchemy.engine import Connection as DbConnection

from save_server.domain.model import BootInfo, Charge, Connector, MeterSample, StatusReport
from save_server.domain.ports import ChargeCursor, ChargeFilter, ChargeReader, StationReader
from save_server.domain.rules import ConnectorStatus, StationStatus
from save_server.domain.views import StationView
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.documents import view_document
from save_server.infrastructure.db.mapping import (
    charge_from_row,
    connector_from_row,
    sample_from_row,
)

STREAM_BATCH = 1000
VIEWS_PER_QUERY = 1000
# The station columns a view is made of (named: the migration that stores the first documents
# runs this code on the schema of its own revision).
_VIEW_COLUMNS = [tables.stations.c[name] for name in (
    "station_id", "status", "first_connected_at", "last_connected_at", "last_seen_at",
    "vendor", "model", "serial_number", "firmware_version", "name", "address", "latitude",
    "longitude", "availability_status", "availability_raw_status", "availability_error_code",
    "availability_info", "availability_at")]


class SqlStationReader(StationReader):
    """The documents the writers stored; a station without one (written before documents
    were stored, or seeded straight into the tables) gets it built from its rows."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list_documents(self, status: StationStatus | None = None) -> str:
        s = tables.stations.c
        query = select(s.document).order_by(s.station_id)
        if status is not None:
            query = query.where(s.status == status.value)
        with self._engine.connect() as db:
            try:  # the strings streamed into one: no list or row object per station
                return "[" + ",".join(db.execute(query).scalars()) + "]"
            except TypeError:  # a NULL document (rare): read again with the ids
                rows = db.execute(query.add_columns(s.station_id)).all()
                built = _built_documents(db, [i for document, i in rows if document is None])
                return "[" + ",".join([document or built[i] for document, i in rows]) + "]"

    def document(self, station_id: str) -> str | None:
        s = tables.stations.c
        with self._engine.connect() as db:
            row = db.execute(select(s.document).where(s.station_id == station_id)).first()
            if row is None:
                return None
            return row[0] or _built_documents(db, [station_id])[station_id]

    def get(self, station_id: str) -> StationView | None:
        """The station as its rows give it."""
        with self._engine.connect() as db:
            views = _views(db, [station_id])
        return views[0] if views else None


def store_missing_documents(db: DbConnection) -> None:
    """Store the document of every station that has none."""
    s = tables.stations.c
    missing = list(db.execute(select(s.station_id).where(s.document.is_(None))).scalars())
    documents = _built_documents(db, missing)
    if documents:
        db.execute(update(tables.stations).where(s.station_id == bindparam("_station_id"))
                   .values(document=bindparam("_document")),
                   [{"_station_id": i, "_document": d} for i, d in documents.items()])


def _built_documents(db: DbConnection, station_ids: list[str]) -> dict[str, str]:
    return {view.station_id: view_document(view) for view in _views(db, station_ids)}


def _views(db: DbConnection, station_ids: list[str]) -> list[StationView]:
    views = []
    for start in range(0, len(station_ids), VIEWS_PER_QUERY):
        ids = station_ids[start:start + VIEWS_PER_QUERY]
        t = tables
        rows = list(db.execute(select(*_VIEW_COLUMNS).where(t.stations.c.station_id.in_(ids))
                               .order_by(t.stations.c.station_id)).mappings())
        connectors: dict[str, list[Connector]] = defaultdict(list)
        for c in db.execute(select(t.connectors).where(t.connectors.c.station_id.in_(ids))
                            .order_by(t.connectors.c.connector_id)).mappings():
            connectors[c["station_id"]].append(connector_from_row(c))
        readings: dict[str, list[MeterSample]] = defaultdict(list)
        r = t.station_readings.c
        for row in db.execute(select(t.station_readings).where(r.station_id.in_(ids))
                              .order_by(r.measurand, r.phase)).mappings():
            readings[row["station_id"]].append(sample_from_row(row))
        views += [_view(row, connectors[row["station_id"]], readings[row["station_id"]])
                  for row in rows]
    return views


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
    if charge_filter.group is not None:
        query = query.where(c.id_tag_group == charge_filter.group)
    if after is not None:
        # A row-value comparison lets both PostgreSQL and SQLite seek the (sort_at, id) index
        # straight to the cursor; the equivalent OR form scans from the newest charge.
        query = query.where(c.sort_at <= after.sort_at,
                            tuple_(c.sort_at, c.id) < tuple_(after.sort_at, after.charge_id))
    return query
