"""SQL repositories used inside one unit of work (one database transaction)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, tuple_

from save_server.domain.model import UNKNOWN_TIME, Charge, MeterSample, Station
from save_server.domain.ports import ChargeRepository, ProcessedEvents, StationRepository
from save_server.domain.rules import StationStatus
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.mapping import charge_from_row, charge_row
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.db.station_cache import StationCache
from save_server.infrastructure.db.station_rows import (
    Snapshot,
    connection_from_row,
    connection_key,
    load_stations,
    read_stations,
    save_stations,
)


class SqlStationRepository(StationRepository):
    def __init__(self, sql: SqlStatements, cache: StationCache | None = None) -> None:
        self._sql = sql
        self._db = sql.db
        self._cache = cache
        self._loaded: dict[str, tuple[Station, Snapshot]] = {}

    def get(self, station_id: str) -> Station | None:
        if station_id not in self._loaded:
            self._load({station_id: ()})
        found = self._loaded.get(station_id)
        return found[0] if found else None

    def get_or_create(self, station_id: str, connection_ids: Collection[str] = ()) -> Station:
        loaded = self._loaded.get(station_id)
        if loaded is not None and all(c in loaded[0].connections for c in connection_ids):
            return loaded[0]  # every command of a batch asks again for its station
        self.get_or_create_many({station_id: connection_ids})
        return self._loaded[station_id][0]

    def get_or_create_many(self, wanted: Mapping[str, Collection[str]]) -> None:
        """Lock and load (creating the unknown ones) in a few statements for all stations."""
        self._load(wanted)
        for station_id, connection_ids in wanted.items():
            if station_id in self._loaded:
                self._include_connections(self._loaded[station_id][0], connection_ids)
        missing = sorted(set(wanted) - set(self._loaded))
        if not missing:
            return
        created = set(self._db.execute(
            self._sql.insert(tables.stations)
            .values([{"station_id": s, "status": StationStatus.DISCONNECTED.value}
                     for s in missing])
            .on_conflict_do_nothing(index_elements=["station_id"])
            .returning(tables.stations.c.station_id)).scalars())
        for station_id in created:  # ours, locked by the insert, and empty: nothing to read
            station = Station(station_id)
            self._loaded[station_id] = (station, Snapshot.of(station))
        concurrent = {s: wanted[s] for s in missing if s not in created}
        if concurrent:  # created by another worker meanwhile
            self._load(concurrent)

    def _load(self, wanted: Mapping[str, Collection[str]]) -> None:
        ids = [s for s in wanted if s not in self._loaded]
        if not ids:
            return
        uncached = []
        for station_id, revision in self._sql.lock_stations(ids):
            cached = self._cache.take(station_id, revision) if self._cache else None
            if cached is not None:
                self._loaded[station_id] = cached
            else:
                uncached.append(station_id)
        if not uncached:
            return
        rows = read_stations(self._db, uncached)
        stored = {row["station_id"]: (row["document"], row["revision"]) for row in rows}
        for station_id, station in load_stations(self._sql, rows, wanted).items():
            self._loaded[station_id] = (station, Snapshot.of(station, *stored[station_id]))

    def _include_connections(self, station: Station, connection_ids: Collection[str]) -> None:
        missing = [c for c in connection_ids if c not in station.connections]
        if not missing:
            return
        c = tables.station_connections.c
        rows = self._db.execute(select(tables.station_connections).where(
            c.station_id == station.station_id, c.connection_id.in_(missing))).mappings()
        snapshot = self._loaded[station.station_id][1]
        for row in rows:
            connection = connection_from_row(row)
            station.connections[connection.connection_id] = connection
            snapshot.connections[connection.connection_id] = connection_key(connection)

    def save_all(self) -> None:
        """Write only what changed since the stations were loaded."""
        snapshots = save_stations(self._sql, self._loaded.values())
        for station_id, snapshot in snapshots.items():
            self._loaded[station_id] = (self._loaded[station_id][0], snapshot)

    def committed(self) -> None:
        """The transaction committed: the stations as saved are the next batch's to reuse."""
        if self._cache is not None:
            for station, snapshot in self._loaded.values():
                self._cache.put(station, snapshot)
        self._loaded = {}


class SqlChargeRepository(ChargeRepository):
    """Charges locked and read in bulk; meter values buffered; changed charges written in one
    statement at commit."""

    def __init__(self, sql: SqlStatements) -> None:
        self._sql = sql
        self._db = sql.db
        self._loaded: dict[tuple[str, str], tuple[Charge, dict[str, Any]]] = {}
        self._meter_values: list[dict[str, Any]] = []
        self._moved_tags: set[str] = set()

    def get_or_create(self, station_id: str, transaction_id: str) -> Charge:
        key = (station_id, transaction_id)
        if key not in self._loaded:
            self.get_or_create_many([key])
        return self._loaded[key][0]

    def get_or_create_many(self, keys: Collection[tuple[str, str]]) -> None:
        """Existing charges are locked in key order; new ones are created in the order given
        (the order their events came in), so charge ids follow that order, replays too."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._loaded]
        if not wanted or self._lock(wanted) == len(wanted):
            return
        missing = [k for k in wanted if k not in self._loaded]
        # One multi-row statement (RETURNING makes SQLAlchemy batch it), rows in event order.
        self._db.execute(
            self._sql.insert(tables.charges)
            .on_conflict_do_nothing(index_elements=["station_id", "transaction_id"])
            .returning(tables.charges.c.id),
            [{"station_id": station_id, "transaction_id": transaction_id, "stopped": False,
              "status": "charging", "sort_at": UNKNOWN_TIME}
             for station_id, transaction_id in missing]).close()
        self._lock(missing)

    def _lock(self, keys: list[tuple[str, str]]) -> int:
        c = tables.charges.c
        rows = self._db.execute(
            select(tables.charges).where(tuple_(c.station_id, c.transaction_id).in_(keys))
            .order_by(c.station_id, c.transaction_id).with_for_update()).mappings()
        found = 0
        for row in rows:
            charge = charge_from_row(row)
            self._loaded[(charge.station_id, charge.transaction_id)] = (charge,
                                                                       charge_row(charge))
            found += 1
        return found

    def add_meter_values(self, station_id: str, transaction_id: str,
                         samples: Sequence[MeterSample]) -> None:
        self._meter_values += [{
            "station_id": station_id, "transaction_id": transaction_id,
            "measured_at": s.at, "measurand": s.measurand.value, "phase": s.phase,
            "value": s.value, "unit": s.unit,
        } for s in samples]

    def tag_details(self, id_tag: str) -> tuple[str | None, str | None]:
        from save_server.infrastructure.id_tags.tables import id_tags
        row = self._db.execute(select(id_tags.c.holder, id_tags.c.group_id).where(
            id_tags.c.token_key == id_tag.casefold())).first()
        return (row.holder, row.group_id) if row else (None, None)

    def started_or_ended_tags(self) -> set[str]:
        """Keys of the id tags whose charges started or ended in the last `save_all`."""
        return self._moved_tags

    def save_all(self) -> None:
        changed: list[tuple[int | None, dict[str, Any]]] = []
        self._moved_tags = set()
        for key, (charge, before) in self._loaded.items():
            after = charge_row(charge)
            if after != before:
                changed.append((charge.id, after))
                self._loaded[key] = (charge, after)
                if charge.id_tag and any(before[f] != after[f] for f in _TAG_MOVES):
                    self._moved_tags.add(charge.id_tag.casefold())
        if changed:
            self._sql.update_rows(tables.charges, "id",
                                  [{**row, "id": charge_id} for charge_id, row in changed])
        if self._meter_values:
            self._sql.insert_rows(tables.charge_meter_values, self._meter_values)
            self._meter_values = []


# a charge of a tag that started, stopped or changed tag moves the tag's running charges
_TAG_MOVES = ("started_at", "stopped", "id_tag")


class SqlProcessedEvents(ProcessedEvents):
    def __init__(self, sql: SqlStatements) -> None:
        self._sql = sql
        self._pending: list[dict[str, Any]] = []

    def seen(self, event_id: str) -> bool:
        return bool(self.seen_among([event_id]))

    def seen_among(self, event_ids: Sequence[str]) -> set[str]:
        ids = list(event_ids)
        found = self._sql.seen_event_ids(ids)
        wanted = set(ids)
        return found | {e["event_id"] for e in self._pending if e["event_id"] in wanted}

    def add(self, event_id: str, event_type: str) -> None:
        self._pending.append({"event_id": event_id, "event_type": event_type,
                              "processed_at": datetime.now(UTC)})

    def save_all(self) -> None:
        if self._pending:
            self._sql.insert_rows(tables.processed_events, self._pending)
            self._pending = []
